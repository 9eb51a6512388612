"""SPEC §12 over HTTP: approval_required, the pending list, decisions and their checks, the
approved re-submission and everything that makes an approval invalid."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import ISSUER
from tests.http.approval_helpers import (
    BERKELEY,
    FBI,
    OAKLAND,
    PARTIAL,
    POLICY,
    RENO,
    Clock,
    code,
    decide,
    fresh,
    index_of,
    search,
)
from tests.http.conftest import NOW, MakeClient
from tests.http.search_helpers import bearer, entry
from tests.pg import Databases

Tokens = Callable[..., str]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(make_client: MakeClient, clock: Clock) -> Any:
    return await make_client(policy_toml=POLICY, clock=clock)


def people(make_token: Tokens, ori: str = OAKLAND) -> tuple[str, str]:
    """A fresh investigator and a fresh supervisor of ``ori``."""
    return make_token(sub=fresh("det"), ori=ori), make_token(
        sub=fresh("sup"), ori=ori, roles=("supervisor",)
    )


async def requested(client: Any, det: str, **changes: Any) -> int:
    status, answer = await search(client, det, **{**PARTIAL, **changes})
    assert (status, code(answer)) == (403, "approval_required"), answer
    return index_of(answer)


async def test_approve_then_the_same_search_runs_once(
    client: Any, make_token: Tokens, dbs: Databases
) -> None:
    det, sup = people(make_token)
    n = await requested(client, det)
    request = await entry(dbs.audit_admin, n)
    assert (request["reason"], request["issuer"]) == ("approval_required", ISSUER)

    resp = await client.get("/v1/approvals?status=pending", headers=bearer(sup))
    assert resp.status == 200, await resp.text()
    listed = {a["index"]: a for a in (await resp.json())["approvals"]}
    assert listed[n]["query"]["pattern"] == "7AB*23"
    assert listed[n]["purpose"] == "KIDNAPPING" and listed[n]["case_number"] == "26-004211"
    assert listed[n]["justification"].startswith("Vehicle seen")
    assert listed[n]["requester"]["agency"] == OAKLAND
    access = await entry(dbs.audit_admin, int(resp.headers["X-Audit-Index"]))
    assert (access["event"], access["endpoint"]) == ("audit_access", "GET /v1/approvals")

    status, answer = await decide(client, sup, n, note="Canvass justified")
    assert status == 200, answer
    approval = await entry(dbs.audit_admin, answer["audit_index"])
    assert approval["event"] == "approval" and approval["decision"] == "allowed"
    assert (approval["request_index"], approval["verdict"]) == (n, "approve")
    assert approval["requester"]["subject"] == request["subject"]

    status, answer = await search(client, det, **PARTIAL, approval=n)
    assert status == 200, answer
    used = await entry(dbs.audit_admin, answer["audit_index"])
    assert (used["decision"], used["approval"]) == ("allowed", n)

    resp = await client.get("/v1/approvals?status=pending", headers=bearer(sup))
    assert n not in {a["index"] for a in (await resp.json())["approvals"]}

    status, answer = await search(client, det, **PARTIAL, approval=n)
    assert (status, code(answer)) == (403, "approval_invalid")
    assert "already been used" in answer["error"]["message"]
    again = await entry(dbs.audit_admin, index_of(answer))
    assert (again["reason"], again["approval"]) == ("approval_invalid", n)


async def test_a_denied_request_does_not_run(client: Any, make_token: Tokens) -> None:
    det, sup = people(make_token)
    n = await requested(client, det)
    assert (await decide(client, sup, n, "deny"))[0] == 200
    status, answer = await search(client, det, **PARTIAL, approval=n)
    assert (status, code(answer)) == (403, "approval_invalid")
    assert "denied" in answer["error"]["message"]


async def test_undecided_request_does_not_run(client: Any, make_token: Tokens) -> None:
    det, _ = people(make_token)
    n = await requested(client, det)
    status, answer = await search(client, det, **PARTIAL, approval=n)
    assert (status, code(answer)) == (403, "approval_invalid")


async def test_only_the_requester_may_use_it(client: Any, make_token: Tokens) -> None:
    det, sup = people(make_token)
    colleague = make_token(sub=fresh("det"), ori=OAKLAND)
    n = await requested(client, det)
    assert (await decide(client, sup, n))[0] == 200
    status, answer = await search(client, colleague, **PARTIAL, approval=n)
    assert (status, code(answer)) == (403, "approval_invalid")
    # ... and it is still unused: the requester can run it.
    assert (await search(client, det, **PARTIAL, approval=n))[0] == 200


@pytest.mark.parametrize(
    "change",
    [
        {"pattern": "7AB*24"},
        {"justification": "Vehicle seen leaving scene of 1/14 homicide, two witnesses"},
        {"case_number": "26-004212"},
        {"to": (NOW - timedelta(hours=1)).isoformat()},
        {"on_behalf_of": {"ori": "CA0010000", "person": "Det. R"}},
    ],
)
async def test_a_changed_query_is_not_the_approved_one(
    client: Any, make_token: Tokens, change: dict[str, Any]
) -> None:
    det, sup = people(make_token)
    n = await requested(client, det)
    assert (await decide(client, sup, n))[0] == 200
    status, answer = await search(client, det, **{**PARTIAL, **change}, approval=n)
    assert (status, code(answer)) == (403, "approval_invalid")
    assert "different search" in answer["error"]["message"]


async def test_the_comparison_is_on_the_normalised_query(client: Any, make_token: Tokens) -> None:
    """The same instant written with another offset, the pattern in lower case: same search."""
    det, sup = people(make_token)
    n = await requested(client, det)
    assert (await decide(client, sup, n))[0] == 200
    same = {"pattern": "7ab*23", "to": NOW.isoformat().replace("+00:00", "Z")}
    status, answer = await search(client, det, **{**PARTIAL, **same}, approval=n)
    assert status == 200, answer


async def test_an_approval_expires(client: Any, make_token: Tokens, clock: Clock) -> None:
    det, sup = people(make_token)
    n = await requested(client, det)
    assert (await decide(client, sup, n))[0] == 200
    clock.now = NOW + timedelta(hours=24)  # approval_valid_hours defaults to 24
    status, answer = await search(client, det, **PARTIAL, approval=n)
    assert (status, code(answer)) == (403, "approval_invalid")
    assert "expired" in answer["error"]["message"]


async def test_decision_checks_in_the_spec_order(
    client: Any, make_token: Tokens, dbs: Databases
) -> None:
    det, sup = people(make_token)
    n = await requested(client, det)
    other_agency = make_token(sub=fresh("sup"), ori=BERKELEY, roles=("supervisor",))
    overseer = make_token(sub=fresh("ig"), ori="CA0349400", roles=("oversight",))
    for token in (det, other_agency, overseer):
        status, answer = await decide(client, token, n)
        assert (status, code(answer)) == (403, "forbidden_role"), answer
    refused = await entry(dbs.audit_admin, index_of(answer))
    assert (refused["event"], refused["decision"]) == ("approval", "refused")
    assert refused["requester"] is None  # nothing about another agency's request

    both = make_token(sub=fresh("det"), ori=OAKLAND, roles=("investigator", "supervisor"))
    own = await requested(client, both)
    status, answer = await decide(client, both, own)
    assert (status, code(answer)) == (403, "self_approval")

    status, plain = await search(client, det)  # an allowed HOMICIDE search: not a request
    assert status == 200
    status, answer = await decide(client, sup, plain["audit_index"])
    assert (status, code(answer)) == (400, "invalid_request")
    assert (await decide(client, sup, 10**12))[0] == 400

    assert (await decide(client, sup, n, "deny"))[0] == 200
    status, answer = await decide(client, sup, n, "approve")
    assert (status, code(answer)) == (400, "invalid_request")
    assert "already been decided" in answer["error"]["message"]


async def test_pending_list_scope(client: Any, make_token: Tokens) -> None:
    det, _ = people(make_token)
    n = await requested(client, det)
    berkeley = make_token(sub=fresh("sup"), ori=BERKELEY, roles=("supervisor",))
    overseer = make_token(sub=fresh("ig"), ori="CA0349400", roles=("oversight",))

    async def listed(token: str) -> set[int]:
        resp = await client.get("/v1/approvals?status=pending", headers=bearer(token))
        assert resp.status == 200
        return {a["index"] for a in (await resp.json())["approvals"]}

    assert n not in await listed(berkeley)
    assert n in await listed(overseer)
    resp = await client.get("/v1/approvals?status=pending", headers=bearer(det))
    assert resp.status == 403
    resp = await client.get("/v1/approvals?status=all", headers=bearer(overseer))
    assert resp.status == 400


@pytest.mark.parametrize(
    ("changes", "needs"),
    [
        ({"purpose": "KIDNAPPING"}, False),  # plate is not listed
        ({"purpose": "HOMICIDE"}, False),  # no approval_required at all
        ({"purpose": "KIDNAPPING", "on_behalf_of": {"ori": FBI, "person": "SA X"}}, True),
        ({"purpose": "KIDNAPPING", "on_behalf_of": {"ori": RENO, "person": "Det. Y"}}, True),
        ({"purpose": "KIDNAPPING", "on_behalf_of": {"ori": "CA0349400", "person": "Z"}}, False),
    ],
)
async def test_recipients_and_types(
    client: Any, make_token: Tokens, changes: dict[str, Any], needs: bool
) -> None:
    det, _ = people(make_token)
    status, answer = await search(client, det, **changes)
    if needs:
        assert (status, code(answer)) == (403, "approval_required")
    else:
        assert status == 200, answer
        assert "approval" not in answer


async def test_approval_must_be_a_positive_integer(client: Any, make_token: Tokens) -> None:
    det, _ = people(make_token)
    for bad in (0, -1, "5", True, 1.5):
        status, answer = await search(client, det, **PARTIAL, approval=bad)
        assert (status, code(answer)) == (400, "invalid_request"), bad
