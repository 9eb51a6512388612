"""GET /v1/log/entries?start=S&end=E (SPEC §10): exact bytes, scope, limits, and one
audit_access entry per request, committed before the body, on the real app and PostgreSQL."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.http.audit_helpers import ALAMEDA, OAKLAND, Seeded, log, seed, size, tokens
from tests.http.search_helpers import bearer


@pytest.fixture
async def seeded(make_client, dbs, make_token) -> Seeded:  # type: ignore[no-untyped-def]
    admin, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn)
    return await seed(client, admin, make_token)


async def bodies(admin: str, start: int, end: int) -> list[bytes]:
    conn = await asyncpg.connect(admin)
    try:
        rows = await conn.fetch(
            "SELECT body FROM audit.entries WHERE idx >= $1 AND idx < $2 ORDER BY idx", start, end
        )
    finally:
        await conn.close()
    return [bytes(r["body"]) for r in rows]


async def get(client: Any, query: str, token: str) -> tuple[int, Any, bytes]:
    resp = await client.get(f"/v1/log/entries?{query}", headers=bearer(token))
    return resp.status, resp, await resp.read()


async def test_oversight_gets_exact_bytes_and_one_audit_entry(seeded: Seeded, make_token):
    oversight = tokens(make_token)["oversight"]
    n = await size(seeded.admin)
    expected = await bodies(seeded.admin, 0, n)
    status, resp, data = await get(seeded.client, f"start=0&end={n}", oversight)
    assert status == 200 and resp.content_type == "application/jsonl"
    assert data == b"".join(b + b"\n" for b in expected)
    entries = await log(seeded.admin)
    assert len(entries) == n + 1  # one entry for the request, not one per entry returned
    index, e, _ = entries[-1]
    assert resp.headers["X-Audit-Index"] == str(index) == str(n)
    assert (e["event"], e["endpoint"], e["decision"]) == (
        "audit_access",
        "GET /v1/log/entries",
        "allowed",
    )
    assert (e["filters"], e["returned"]) == ({"start": 0, "end": n}, n)


async def test_a_range_is_clamped_to_the_log_and_may_be_empty(seeded: Seeded, make_token):
    oversight = tokens(make_token)["oversight"]
    n = await size(seeded.admin)
    status, _, data = await get(seeded.client, f"start={n - 2}&end={n + 10_000 - 2}", oversight)
    assert status == 200
    assert data == b"".join(b + b"\n" for b in await bodies(seeded.admin, n - 2, n))
    beyond = n + 50
    status, resp, data = await get(seeded.client, f"start={beyond}&end={beyond + 5}", oversight)
    assert (status, data) == (200, b"")
    assert int(resp.headers["X-Audit-Index"]) == n + 1


async def test_auditors_get_only_ranges_within_their_scope(seeded: Seeded, make_token):
    toks = tokens(make_token)
    plain = seeded.index["plain"]  # an Oakland search disclosing Alameda's reads
    status, _, data = await get(seeded.client, f"start={plain}&end={plain + 1}", toks[ALAMEDA])
    assert (status, data) == (200, (await bodies(seeded.admin, plain, plain + 1))[0] + b"\n")
    flagged = seeded.index["flagged"]  # Berkeley's, concerns neither Oakland nor Alameda
    for token in (toks[ALAMEDA], toks[OAKLAND]):
        before = await size(seeded.admin)
        status, _, _ = await get(seeded.client, f"start={plain}&end={flagged + 1}", token)
        assert status == 403
        entries = await log(seeded.admin)
        assert len(entries) == before + 1
        index, e, _ = entries[-1]
        assert (e["endpoint"], e["decision"], e["reason"], e["returned"]) == (
            "GET /v1/log/entries",
            "refused",
            "forbidden_role",
            0,
        )
        assert e["filters"] == {"start": plain, "end": flagged + 1} and index == before


async def test_a_refusal_is_the_spec_envelope_with_its_audit_index(seeded: Seeded, make_token):
    resp = await seeded.client.get(
        "/v1/log/entries?start=0&end=3", headers=bearer(tokens(make_token)[OAKLAND])
    )
    assert resp.status == 403
    error = (await resp.json())["error"]
    assert error["code"] == "forbidden_role"
    assert error["audit_index"] == (await size(seeded.admin)) - 1


@pytest.mark.parametrize(
    "query",
    [
        "start=0&end=10001",
        "start=5&end=4",
        "start=0",
        "end=3",
        "start=0&start=1&end=3",
        "start=-1&end=3",
        "start=a&end=3",
        "start=0&end=3&limit=2",
        "start=%EF%BC%91&end=3",
    ],
)
async def test_bad_ranges_are_invalid_request(seeded: Seeded, make_token, query: str):
    before = await size(seeded.admin)
    status, resp, _ = await get(seeded.client, query, tokens(make_token)["oversight"])
    assert status == 400
    assert resp.content_type == "application/json"
    assert await size(seeded.admin) == before  # nothing was read, as for the single entry


async def test_ten_thousand_is_allowed(seeded: Seeded, make_token):
    status, _, data = await get(seeded.client, "start=0&end=10000", tokens(make_token)["oversight"])
    assert status == 200 and data.count(b"\n") == len(await bodies(seeded.admin, 0, 10_000)) - 1


async def test_investigators_and_strangers_are_refused(seeded: Seeded, make_token):
    resp = await seeded.client.get("/v1/log/entries?start=0&end=2")
    assert resp.status == 401
    status, resp, _ = await get(seeded.client, "start=0&end=2", tokens(make_token)["investigator"])
    assert status == 403


async def test_the_single_entry_route_still_answers(seeded: Seeded, make_token):
    plain = seeded.index["plain"]
    resp = await seeded.client.get(
        f"/v1/log/entries/{plain}", headers=bearer(tokens(make_token)["oversight"])
    )
    assert resp.status == 200
    assert await resp.read() == (await bodies(seeded.admin, plain, plain + 1))[0]
