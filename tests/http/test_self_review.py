"""POST /v1/audit/reviews refuses a review of one's own entry (SPEC §12: `self_review`): the red
team searched with an `investigator,auditor` token and marked its own entry `no_issue`. The
refusal is on the record; a colleague's review goes through."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http.approval_helpers import AMBER, BERKELEY, OAKLAND, POLICY, fresh
from tests.http.audit_helpers import log
from tests.http.search_helpers import bearer, body


@pytest.fixture
async def app_log(make_client, dbs) -> tuple[Any, str]:  # type: ignore[no-untyped-def]
    admin, dsn = await dbs.fresh_audit()
    return await make_client(audit_dsn=dsn), admin


async def review(client: Any, token: str, index: int) -> tuple[int, dict[str, Any]]:
    payload = {"index": index, "disposition": "no_issue", "note": "looks fine"}
    resp = await client.post("/v1/audit/reviews", json=payload, headers=bearer(token))
    return resp.status, await resp.json()


async def test_nobody_reviews_their_own_search(app_log, make_token):
    client, admin = app_log
    both = make_token(sub="det.lee", roles=("investigator", "auditor"))
    searched = await (await client.post("/v1/search", json=body(), headers=bearer(both))).json()
    index = searched["audit_index"]

    status, answer = await review(client, both, index)
    assert status == 403
    assert answer["error"]["code"] == "self_review"
    refused_at = answer["error"]["audit_index"]
    entries = {i: e for i, e, _ in await log(admin)}
    assert entries[refused_at]["event"] == "audit_access"
    assert (entries[refused_at]["reason"], entries[refused_at]["filters"]) == (
        "self_review",
        {"index": index},
    )
    assert not [e for e in entries.values() if e["event"] == "review"]

    # Another auditor of the agency may; and nobody reviews their own review either.
    status, answer = await review(client, make_token(sub="aud.kim", roles=("auditor",)), index)
    assert status == 200 and answer["reviewed_index"] == index
    own = answer["audit_index"]
    status, answer = await review(client, make_token(sub="aud.kim", roles=("auditor",)), own)
    assert (status, answer["error"]["code"]) == (403, "self_review")


async def test_a_supervisor_reviews_no_ordinary_search(app_log, make_token):
    client, _ = app_log
    searched = await (
        await client.post("/v1/search", json=body(), headers=bearer(make_token()))
    ).json()
    status, answer = await review(
        client, make_token(sub="sgt.kim", roles=("supervisor",)), searched["audit_index"]
    )
    assert (status, answer["error"]["code"]) == (403, "forbidden_role")
    assert isinstance(answer["error"]["audit_index"], int)


async def test_exigent_searches_are_reviewed_by_their_agencys_supervisor_or_oversight(
    make_client, make_token
):
    client = await make_client(policy_toml=POLICY)
    both = make_token(sub=fresh("sgt"), ori=OAKLAND, roles=("investigator", "supervisor"))
    mine = await (await client.post("/v1/search", json=body(**AMBER), headers=bearer(both))).json()
    own = mine["audit_index"]
    det = make_token(sub=fresh("det"), ori=OAKLAND)
    searched = await (
        await client.post("/v1/search", json=body(**AMBER), headers=bearer(det))
    ).json()
    exigent = searched["audit_index"]

    refusals = {
        "an auditor of the agency": make_token(sub=fresh("aud"), ori=OAKLAND, roles=("auditor",)),
        "another agency's supervisor": make_token(
            sub=fresh("sgt"), ori=BERKELEY, roles=("supervisor",)
        ),
    }
    for who, token in refusals.items():
        status, answer = await review(client, token, exigent)
        assert (status, answer["error"]["code"]) == (403, "forbidden_role"), who
    status, answer = await review(client, both, own)  # a supervisor, but their own search
    assert (status, answer["error"]["code"]) == (403, "self_review")
    status, answer = await review(client, both, exigent)
    assert status == 200 and answer["reviewed_index"] == exigent
    overseer = make_token(sub=fresh("ig"), ori="CA9999999", roles=("oversight",))
    assert (await review(client, overseer, exigent))[0] == 200
