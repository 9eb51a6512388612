"""Privilege attacks: every one fails closed, and the ones that name an entry are audited.

Already covered elsewhere, not repeated here:
- investigators and tokenless callers on GET /v1/audit/* and /v1/log/entries (403 / 401):
  tests/http/test_audit_api.py::test_investigators_and_strangers_are_refused;
- auditors scoped to entries concerning their agency, also with a filter naming another:
  test_audit_api.py::test_auditors_see_only_entries_concerning_their_agency and
  tests/http/test_log_api.py::test_entries_are_scoped_to_the_agencies_they_name;
- an investigator reloading the policy: tests/http/test_reload.py::test_reload_needs_admin;
- on_behalf_of lower case, trailing space, equal to the requester, and an auditor searching:
  tests/http/test_search.py REFUSALS;
- token forgery of every kind: tests/auth/test_tokens.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from proxy.http.state import POLICY
from tests.http.conftest import NOW
from tests.http.search_helpers import bearer, body, entry, log_size
from tests.http.test_reload import NARROW, WIDE, policy_path
from tests.pg import Databases

OAKLAND, ALAMEDA, BERKELEY, CHP = "CA0010900", "CA0010000", "CA0010800", "CA0349400"
PERIOD = urlencode(
    {"from": NOW.replace(hour=0).isoformat(), "to": NOW.replace(hour=23).isoformat()}
)


@pytest.fixture
async def fresh(make_client, dbs: Databases) -> tuple[Any, str]:
    admin, dsn = await dbs.fresh_audit()
    return await make_client(audit_dsn=dsn), admin


async def _index(resp: Any) -> int:
    result = await resp.json()
    value = result.get("audit_index", result.get("error", {}).get("audit_index"))
    assert isinstance(value, int), result
    return value


async def test_investigator_cannot_append_reviews(fresh, make_token):
    client, admin = fresh
    target = await _index(
        await client.post("/v1/search", json=body(), headers=bearer(make_token()))
    )
    before = await log_size(admin)
    for roles in (("investigator",), ("admin",), ("investigator", "admin")):
        resp = await client.post(
            "/v1/audit/reviews",
            json={"index": target, "disposition": "no_issue", "note": "self-clearance"},
            headers=bearer(make_token(roles=roles)),
        )
        assert resp.status == 403, roles
        assert (await resp.json())["error"]["code"] == "forbidden_role"
    assert await log_size(admin) == before  # no review was appended


async def test_auditor_cannot_review_or_read_another_agencys_entry(fresh, make_token):
    """Berkeley's auditor and an entry naming only Oakland and Alameda: the review and the
    read are refused, each refusal is itself an audit_access entry, no review exists."""
    client, admin = fresh
    target = await _index(
        await client.post("/v1/search", json=body(), headers=bearer(make_token()))
    )
    berkeley = bearer(make_token(sub="aud.brk", ori=BERKELEY, roles=("auditor",)))
    resp = await client.post(
        "/v1/audit/reviews",
        json={"index": target, "disposition": "violation", "note": "framing Oakland"},
        headers=berkeley,
    )
    assert resp.status == 403
    refusal = await _index(resp)
    e = await entry(admin, refusal)
    assert (e["event"], e["decision"]) == ("audit_access", "refused")
    assert e["reason"] == "forbidden_role"
    assert e["subject"] == "aud.brk" and e["filters"] == {"index": target}
    resp = await client.get(f"/v1/log/entries/{target}", headers=berkeley)
    text = await resp.text()
    assert resp.status == 403 and OAKLAND not in text and "homicide" not in text
    # The same review by Oakland's auditor is allowed: the refusal above was about scope.
    oakland = bearer(make_token(sub="aud.oak", ori=OAKLAND, roles=("auditor",)))
    resp = await client.post(
        "/v1/audit/reviews",
        json={"index": target, "disposition": "no_issue"},
        headers=oakland,
    )
    assert resp.status == 200
    reviews = [
        await entry(admin, i) for i in range(await log_size(admin))
    ]  # the one review in the log is Oakland's
    assert [r["subject"] for r in reviews if r["event"] == "review"] == ["aud.oak"]


@pytest.mark.parametrize("report", ["usage", "disclosures", "flags"])
async def test_auditor_reports_are_limited_to_their_agency(fresh, make_token, report: str):
    client, _ = fresh
    for payload in (body(), body(purpose="CIVIL_IMMIGRATION")):  # one allowed, one refused
        await client.post("/v1/search", json=payload, headers=bearer(make_token()))
    path = f"/v1/audit/reports/{report}?{PERIOD}"
    everyone = await (
        await client.get(path, headers=bearer(make_token(sub="ig", roles=("oversight",))))
    ).json()
    berkeley = await (
        await client.get(
            path, headers=bearer(make_token(sub="aud.brk", ori=BERKELEY, roles=("auditor",)))
        )
    ).json()
    assert everyone["scope"] == "all" and berkeley["scope"] == BERKELEY
    text = str(berkeley)
    assert OAKLAND not in text and ALAMEDA not in text, berkeley
    assert OAKLAND in str(everyone)  # the data is there; the auditor just may not see it


@pytest.mark.parametrize(
    "roles",
    [("investigator",), ("auditor",), ("oversight",), ("investigator", "auditor", "oversight")],
)
async def test_only_admin_reloads_the_policy(make_client, make_token, dbs: Databases, roles):
    """A widened policy file on disk is not loaded by anyone but an admin."""
    admin_dsn, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn)
    before = client.server.app[POLICY].current.version
    path = policy_path(client)
    path.write_text(path.read_text().replace(NARROW, WIDE))
    size = await log_size(admin_dsn)
    resp = await client.post(
        "/v1/admin/policy/reload", headers=bearer(make_token(sub="x", roles=roles))
    )
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "forbidden_role"
    assert client.server.app[POLICY].current.version == before
    assert await log_size(admin_dsn) == size  # no policy_loaded entry
    resp = await client.post(
        "/v1/admin/policy/reload", headers=bearer(make_token(sub="root", roles=("admin",)))
    )
    assert resp.status == 200  # the file was loadable: the refusal was about the role
    assert client.server.app[POLICY].current.version != before


async def test_admin_alone_can_neither_search_nor_read_the_log(fresh, make_token):
    client, admin = fresh
    token = bearer(make_token(sub="root", roles=("admin",)))
    before = await log_size(admin)
    resp = await client.post("/v1/search", json=body(), headers=token)
    assert resp.status == 403
    e = await entry(admin, await _index(resp))  # a search refusal is audited
    assert e["reason"] == "forbidden_role" and e["outcome"] is None
    for path in ("/v1/audit/entries", f"/v1/audit/reports/usage?{PERIOD}", "/v1/log/entries/0"):
        resp = await client.get(path, headers=token)
        assert resp.status == 403, path
    assert await log_size(admin) == before + 1


FULLWIDTH_ALAMEDA = "".join(chr(ord(c) + 0xFEE0) for c in ALAMEDA)
ON_BEHALF_OF: list[tuple[Any, str, int]] = [
    # (on_behalf_of, code, status): never corrected, never silently accepted; not 9 ASCII
    # letters and digits is malformed (400), a well-formed ORI not in the policy unknown (403)
    ({"ori": "ca0010900"}, "unknown_agency", 403),  # the requester, in other case
    ({"ori": "CA0010900 "}, "invalid_request", 400),  # the requester, with a space
    ({"ori": "Ca0010000"}, "unknown_agency", 403),  # another agency, mixed case
    ({"ori": " CA0010000"}, "invalid_request", 400),  # leading space
    ({"ori": "CA 0010000"}, "invalid_request", 400),  # inner space
    ({"ori": "CA0010000\t"}, "invalid_request", 400),  # tab
    ({"ori": "CA0010000\u200b"}, "invalid_request", 400),  # zero-width space
    ({"ori": FULLWIDTH_ALAMEDA}, "invalid_request", 400),  # NFKC would make it CA0010000
    ({"ori": "CA9999999"}, "unknown_agency", 403),  # unknown
    ({"ori": "CA0010000", "person": "Det. X"}, "", 200),  # the control: exact is accepted
    ({"ori": ""}, "invalid_request", 400),
    ({"ori": None}, "invalid_request", 400),
    ({"person": "Det. X"}, "invalid_request", 400),
    ({"ori": ["CA0010000"]}, "invalid_request", 400),
    ("CA0010000", "invalid_request", 400),
]


@pytest.mark.parametrize(("obo", "code", "status"), ON_BEHALF_OF)
async def test_on_behalf_of_spellings(fresh, make_token, obo: Any, code: str, status: int):
    client, admin = fresh
    sent = body(on_behalf_of=obo)
    resp = await client.post("/v1/search", json=sent, headers=bearer(make_token()))
    result = await resp.json()
    assert resp.status == status, result
    e = await entry(admin, await _index(resp))
    assert e["query"] == sent
    if status == 200:
        assert e["on_behalf_of"] == obo and e["decision"] == "allowed"
        return
    assert result["error"]["code"] == code and "reads" not in result
    assert (e["decision"], e["reason"]) == ("refused", code)
