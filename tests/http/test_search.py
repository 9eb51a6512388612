"""POST /v1/search end to end: real PostgreSQL, real tokens, the test policy in conftest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from proxy.metrics import exposition as metrics_exposition
from tests.http.conftest import NOW
from tests.http.search_helpers import bearer, body, entry, log_size
from tests.pg import Databases

OAKLAND = "CA0010900"


async def post(client: Any, token: str | None, payload: Any, **kw: Any) -> tuple[int, Any]:
    headers = bearer(token) if token else {}
    if isinstance(payload, (bytes, str)):
        resp = await client.post("/v1/search", data=payload, headers=headers, **kw)
    else:
        resp = await client.post("/v1/search", json=payload, headers=headers, **kw)
    return resp.status, await resp.json()


def ids(result: dict[str, Any]) -> list[int]:
    return [r["id"] for r in result["reads"]]


async def test_allowed_search_filters_read_by_read_and_audits(client, make_token, dbs: Databases):
    status, result = await post(client, make_token(), body())
    assert status == 200, result
    # Newest first; Berkeley (no rules), SFPD (rule expired yesterday), the clinic read, and the
    # read older than retention are withheld.
    assert ids(result) == [1, 5, 7]
    assert result["truncated"] is False
    assert result["policy_version"].startswith("sha256:")
    first = result["reads"][0]
    assert first == {
        "id": 1,
        "plate": "7ABC123",
        "plate_state": "CA",
        "observed_at": (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lat": 37.81,
        "lon": -122.26,
        "camera_id": "OAK-1",
        "agency": OAKLAND,
    }
    e = await entry(dbs.audit_admin, result["audit_index"])
    assert e["event"] == "search" and e["decision"] == "allowed" and e["reason"] is None
    assert e["request_id"] == result["request_id"]
    assert e["subject"] == "det.alvarez" and e["agency"] == OAKLAND
    assert e["roles"] == ["investigator"]
    assert e["purpose"] == "HOMICIDE" and e["case_number"] == "26-004211"
    assert e["query"] == body()
    assert e["policy_version"] == result["policy_version"]
    assert e["outcome"] == {
        "matched": 7,
        "returned": 3,
        "truncated": False,
        "row_limit_reached": False,
        "withheld": {"sharing": 2, "sensitive_location": 1, "retention": 1},
        "disclosed_by_owner": {OAKLAND: 2, "CA0010000": 1},
    }
    assert "7ABC123" not in str(e["outcome"])  # reads themselves are never stored


async def test_plate_is_normalised_and_state_filters(client, make_token):
    status, result = await post(client, make_token(), body(plate=" 7abc-12.3 ", plate_state="ca"))
    assert status == 200
    assert ids(result) == [1, 5]


async def test_include_purpose_discloses_sensitive_location_reads(client, make_token):
    b = body(
        purpose="AMBER_ALERT", case_number=None, **{"from": (NOW - timedelta(days=30)).isoformat()}
    )
    status, result = await post(client, make_token(), b)
    assert status == 200, result
    assert ids(result) == [1, 3, 7]  # read 3 stood at the clinic; Alameda shares HOMICIDE only


async def test_purpose_limited_rule(client, make_token):
    b = body(purpose="ROBBERY", **{"from": (NOW - timedelta(days=90)).isoformat()})
    status, result = await post(client, make_token(), b)
    assert status == 200
    assert 5 not in ids(result)  # Alameda shares for HOMICIDE only
    assert ids(result) == [1, 7]


@pytest.mark.parametrize(
    ("on_behalf_of", "expected"),
    [
        ("CA0389999", []),  # immigration enforcement: excluded even where named in to_agencies
        ("CA0349400", [1, 7]),  # CHP (state): Oakland admits state; Alameda only local
        ("NV0160200", []),  # out of state: nobody admits Reno
        ("CA0010000", [1, 5, 7]),  # Alameda: Oakland admits it, and it owns read 5
    ],
)
async def test_on_behalf_of_every_recipient_must_be_admitted(
    client, make_token, dbs: Databases, on_behalf_of: str, expected: list[int]
):
    b = body(on_behalf_of={"ori": on_behalf_of, "person": "Det. R. Alvarez"})
    status, result = await post(client, make_token(), b)
    assert status == 200, result
    assert ids(result) == expected
    e = await entry(dbs.audit_admin, result["audit_index"])
    assert e["on_behalf_of"] == {"ori": on_behalf_of, "person": "Det. R. Alvarez"}
    assert e["outcome"]["returned"] == len(expected)


async def test_max_results_truncates_newest_first(client, make_token, dbs: Databases):
    status, result = await post(client, make_token(), body(plate="MANY1"))
    assert status == 200
    assert ids(result) == [100, 101, 102, 103, 104]
    assert result["truncated"] is True
    e = await entry(dbs.audit_admin, result["audit_index"])
    assert e["outcome"]["matched"] == 8 and e["outcome"]["returned"] == 5
    assert e["outcome"]["truncated"] is True


REFUSALS = [
    # (token kwargs, body changes, code, status)
    ({"roles": ("auditor",)}, {}, "forbidden_role", 403),
    ({"ori": "CA9999999"}, {}, "unknown_agency", 403),
    ({}, {"on_behalf_of": {"ori": "ca0010000"}}, "unknown_agency", 403),
    ({}, {"on_behalf_of": {"ori": "CA0010000 "}}, "invalid_request", 400),
    ({}, {"on_behalf_of": {"ori": OAKLAND}}, "invalid_request", 400),
    ({}, {"plate": "7ABC12345678"}, "invalid_request", 400),
    ({}, {"plate": "7ÅBC123"}, "invalid_request", 400),
    ({}, {"plate": 7123}, "invalid_request", 400),
    ({}, {"from": "2026-01-01T00:00:00"}, "invalid_request", 400),
    (
        {},
        {"from": NOW.isoformat(), "to": (NOW - timedelta(days=1)).isoformat()},
        "invalid_request",
        400,
    ),
    ({}, {"extra": 1}, "invalid_request", 400),
    ({}, {"type": "plate", "plate": None}, "invalid_request", 400),
    ({}, {"purpose": "PARKING"}, "unknown_purpose", 400),
    ({}, {"purpose": "CIVIL_IMMIGRATION", "case_number": None}, "purpose_prohibited", 403),
    ({}, {"purpose": "CANVASS"}, "query_type_not_permitted", 403),
    (
        {},
        {"type": "partial_plate", "pattern": "7AB*12", "plate": None},
        "query_type_not_permitted",
        403,
    ),
    (
        {},
        {"type": "area", "area": {"lat": 37.8, "lon": -122.27, "radius_m": 50}, "plate": None},
        "query_type_not_permitted",
        403,
    ),
    ({}, {"case_number": None}, "case_number_required", 400),
    ({}, {"case_number": "   "}, "case_number_required", 400),
    ({}, {"justification": None}, "justification_required", 400),
    ({}, {"justification": "too short"}, "justification_required", 400),
    (
        {},
        {"justification": "Locate vehicle for ICE detainer on subject"},
        "justification_flagged",
        403,
    ),
    (
        {},
        {"justification": "Subject flagged for Deportation, locate vehicle"},
        "justification_flagged",
        403,
    ),
    ({}, {"from": (NOW - timedelta(days=731)).isoformat()}, "lookback_exceeded", 403),
]


@pytest.mark.parametrize(("token_kw", "changes", "code", "status"), REFUSALS)
async def test_every_refusal_is_audited(
    client,
    make_token,
    dbs: Databases,
    token_kw: dict[str, Any],
    changes: dict[str, Any],
    code: str,
    status: int,
):
    before = await log_size(dbs.audit_admin)
    got_status, result = await post(client, make_token(**token_kw), body(**changes))
    assert got_status == status, result
    assert result["error"]["code"] == code
    index = result["error"]["audit_index"]
    assert await log_size(dbs.audit_admin) == before + 1  # exactly one entry
    e = await entry(dbs.audit_admin, index)
    assert e["decision"] == "refused" and e["reason"] == code
    assert e["outcome"] is None
    assert "reads" not in result


async def test_lookback_boundary_is_inclusive(client, make_token):
    status, _ = await post(
        client, make_token(), body(**{"from": (NOW - timedelta(days=730)).isoformat()})
    )
    assert status == 200


@pytest.mark.parametrize("payload", [b"{not json", b"[]", b'"x"', b"{" * 10000 + b"}" * 10000])
async def test_malformed_bodies_are_invalid_request_not_500(client, make_token, payload: bytes):
    status, result = await post(client, make_token(), payload)
    assert status == 400
    assert result["error"]["code"] == "invalid_request"
    assert "audit_index" in result["error"]


async def test_oversized_body_is_refused_and_audited(make_client, make_token):
    client = await make_client(server={"max_body_bytes": 2048})
    status, result = await post(client, make_token(), body(justification="x" * 1900 + " y" * 200))
    assert status == 413
    assert result["error"]["code"] == "invalid_request"
    assert "audit_index" in result["error"]


async def test_rate_limit_per_user(make_client, make_token):
    client = await make_client(rate=3)
    token = make_token(sub="det.busy")
    statuses = [(await post(client, token, body()))[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    status, result = await post(client, token, body())
    assert status == 429
    assert result["error"]["code"] == "rate_limited" and "audit_index" in result["error"]
    # Another user of the same agency has a budget of their own.
    assert (await post(client, make_token(sub="det.other"), body()))[0] == 200


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz"])
async def test_unauthenticated_is_401_and_audited(client, dbs: Databases, header: str | None):
    headers = {"Authorization": header} if header else {}
    resp = await client.post("/v1/search", json=body(), headers=headers)
    assert resp.status == 401
    result = await resp.json()
    assert result["error"]["code"] == "unauthenticated"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    e = await entry(dbs.audit_admin, result["error"]["audit_index"])
    assert e["event"] == "auth_failure" and e["path"] == "/v1/search"


async def test_auth_failure_entries_are_capped_per_client(make_client, dbs: Databases):
    client = await make_client(auth={"auth_failure_entries_per_minute": 2})
    indexes = []
    for _ in range(5):
        resp = await client.post("/v1/search", json=body(), headers={"Authorization": "Bearer x"})
        assert resp.status == 401
        indexes.append((await resp.json())["error"].get("audit_index"))
    assert [i is not None for i in indexes] == [True, True, False, False, False]
    metrics = metrics_exposition().decode()  # what the metrics listener serves
    assert "alpr_proxy_auth_failures_unlogged_total" in metrics
