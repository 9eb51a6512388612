"""No read leaves without a durable audit entry: the audit database goes away mid-run, clients
get 503 audit_unavailable and nothing else, and service resumes without a restart."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.faults import TcpForwarder
from tests.http.search_helpers import bearer, body, entry, log_size
from tests.pg import Databases, with_db


@pytest.fixture
async def audit_via_forwarder(dbs: Databases):  # type: ignore[no-untyped-def]
    admin, _ = await dbs.fresh_audit()
    parts = urlsplit(admin)
    fwd = TcpForwarder(parts.hostname or "127.0.0.1", parts.port or 5432)
    await fwd.start()
    dsn = with_db(f"postgresql://alpr_proxy_audit@127.0.0.1:{fwd.port}/x", parts.path[1:])
    yield fwd, dsn, admin
    await fwd.close()


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
async def test_audit_outage_fails_closed_and_recovers(
    make_client, make_token, audit_via_forwarder, mode: str
):
    fwd, dsn, admin = audit_via_forwarder
    client = await make_client(
        audit_dsn=dsn,
        server={"audit_wait_timeout_s": 1.5},
        database={"connect_timeout_s": 1, "statement_timeout_s": 1},
    )
    token = make_token()
    ok = await client.post("/v1/search", json=body(), headers=bearer(token))
    assert ok.status == 200
    first = (await ok.json())["audit_index"]

    fwd.set_mode(mode)  # type: ignore[arg-type]
    for _ in range(3):
        resp = await client.post("/v1/search", json=body(), headers=bearer(token))
        assert resp.status == 503
        result = await resp.json()
        assert result == {
            "error": {"code": "audit_unavailable", "message": result["error"]["message"]}
        }
        assert "reads" not in result
    ready = await client.get("/readyz")
    assert ready.status == 503
    assert (await ready.json())["checks"]["audit"] is False

    fwd.set_mode("up")
    resp = await client.post("/v1/search", json=body(), headers=bearer(token))
    assert resp.status == 200, await resp.text()
    after = (await resp.json())["audit_index"]
    assert (await client.get("/readyz")).status == 200
    # Every 200 has its entry; the log stayed gapless through the outage.
    e = await entry(admin, after)
    assert e["decision"] == "allowed"
    assert await log_size(admin) == after + 1
    assert after > first


async def test_store_outage_is_audited_and_503(make_client, make_token, dbs: Databases):
    parts = urlsplit(dbs.store)
    fwd = TcpForwarder(parts.hostname or "127.0.0.1", parts.port or 5432)
    await fwd.start()
    try:
        dsn = f"postgresql://alpr_proxy_store@127.0.0.1:{fwd.port}{parts.path}"
        client = await make_client(
            store_dsn=dsn, database={"connect_timeout_s": 1, "statement_timeout_s": 1}
        )
        fwd.set_mode("refuse")
        resp = await client.post("/v1/search", json=body(), headers=bearer(make_token()))
        assert resp.status == 503
        result = await resp.json()
        assert result["error"]["code"] == "store_unavailable"
        e = await entry(dbs.audit_admin, result["error"]["audit_index"])
        assert e["decision"] == "error" and e["reason"] == "store_unavailable"
    finally:
        await fwd.close()
