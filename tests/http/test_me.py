"""GET /v1/me (SPEC §13), for each role: identity, the agency's name, and only the purposes the
user may search under; any valid token, never a search entry, rate-limited per user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from proxy.http.me import MeOut
from tests.http.audit_helpers import size
from tests.http.conftest import policy_text
from tests.http.search_helpers import bearer

OAKLAND = "CA0010900"
# The test policy's purposes, plus one needing approval and one exigent (SPEC §12).
EXTRA_PURPOSES = """
[[purposes]]
code = "STALKING"
description = "Stalking investigation"
max_lookback_days = 60
case_number = "optional"
query_types = ["plate", "area"]
area_max_radius_m = 250
area_max_window_hours = 3
approval_required = ["federal_recipient", "area"]

[[purposes]]
code = "RESCUE"
description = "Imminent danger to life"
max_lookback_days = 2
query_types = ["plate"]
exigent = true
"""
USABLE = ["HOMICIDE", "ROBBERY", "AMBER_ALERT", "CANVASS", "KIDNAPPING", "STALKING", "RESCUE"]


@pytest.fixture
async def me_client(make_client, dbs, tmp_path: Path) -> tuple[Any, str]:  # type: ignore[no-untyped-def]
    admin, dsn = await dbs.fresh_audit()
    policy = tmp_path / "me-policy.toml"
    policy.write_text(policy_text(rate=3) + EXTRA_PURPOSES)
    return await make_client(audit_dsn=dsn, policy={"file": str(policy)}), admin


async def me(client: Any, token: str) -> tuple[int, Any]:
    resp = await client.get("/v1/me", headers=bearer(token))
    return resp.status, await resp.read()


async def test_an_investigator_sees_every_purpose_they_may_use(me_client, make_token):
    client, _ = me_client
    status, raw = await me(client, make_token(roles=("investigator",)))
    assert status == 200
    out = msgspec.json.decode(raw, type=MeOut)  # strict: exactly the documented fields
    assert (out.sub, out.ori, out.agency) == ("det.alvarez", OAKLAND, "Oakland Police Department")
    assert out.roles == ["investigator"]
    # Policy order; CIVIL_IMMIGRATION is prohibited and never listed.
    assert [p.code for p in out.purposes] == USABLE
    by_code = {p.code: p for p in out.purposes}
    stalking = by_code["STALKING"]
    assert stalking.description == "Stalking investigation"
    assert stalking.query_types == ["area", "plate"]
    assert (stalking.max_lookback_days, stalking.case_number) == (60, "optional")
    assert (stalking.area_max_radius_m, stalking.area_max_window_hours) == (250, 3)
    assert (stalking.approval_required, stalking.exigent) == (["area", "federal_recipient"], False)
    rescue = by_code["RESCUE"]
    assert (rescue.approval_required, rescue.exigent, rescue.case_number) == ([], True, "required")
    assert (rescue.area_max_radius_m, rescue.area_max_window_hours) == (None, None)


@pytest.mark.parametrize(
    "roles", [("supervisor",), ("auditor",), ("admin",), ("auditor", "supervisor")]
)
async def test_non_investigators_see_who_they_are_and_no_purposes(me_client, make_token, roles):
    client, _ = me_client
    status, raw = await me(client, make_token(sub="sgt.kim", roles=roles))
    assert status == 200
    out = msgspec.json.decode(raw, type=MeOut)
    assert (out.sub, out.ori, out.agency) == ("sgt.kim", OAKLAND, "Oakland Police Department")
    assert out.roles == sorted(roles)
    assert out.purposes == []


async def test_oversight_outside_the_policy_has_no_agency(me_client, make_token):
    client, _ = me_client
    status, raw = await me(client, make_token(sub="ig", ori="CA9999999", roles=("oversight",)))
    out = msgspec.json.decode(raw, type=MeOut)
    assert status == 200
    assert (out.ori, out.agency, out.roles, out.purposes) == ("CA9999999", None, ["oversight"], [])


async def test_an_investigator_of_an_unknown_agency_may_use_nothing(me_client, make_token):
    client, _ = me_client
    token = make_token(ori="TX0000000", roles=("investigator", "supervisor"))
    status, raw = await me(client, token)
    out = msgspec.json.decode(raw, type=MeOut)
    assert status == 200
    assert (out.agency, out.purposes) == (None, [])
    assert out.roles == ["investigator", "supervisor"]


async def test_not_audited_as_a_search_and_rate_limited_per_user(me_client, make_token):
    client, admin = me_client
    before = await size(admin)
    token = make_token()
    for _ in range(3):  # the policy allows 3 a minute
        assert (await me(client, token))[0] == 200
    status, raw = await me(client, token)
    assert status == 429
    assert msgspec.json.decode(raw)["error"]["code"] == "rate_limited"
    assert (await me(client, make_token(sub="det.other")))[0] == 200  # per user
    # The budget is /v1/me's own: the user's searches are not spent by it.
    search = await client.post("/v1/search", json={}, headers=bearer(token))
    assert (await search.json())["error"]["code"] == "invalid_request"
    assert await size(admin) == before + 1  # that search's entry, nothing for /v1/me


async def test_a_token_is_required(me_client):
    client, _ = me_client
    resp = await client.get("/v1/me")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthenticated"
