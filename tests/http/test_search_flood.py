"""What one client can make the permanent log hold: a token's flood is bounded by its budget and
a small entry per refusal; unidentified requests by caps per address and in total; a client
that goes away, or sends headers aiohttp cannot parse, still leaves its entry."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import asyncpg
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.http import badrequest
from proxy.search.flow import BODY_PREFIX_BYTES
from tests.http.search_helpers import bearer, body, entry, log_size
from tests.pg import Databases

BIG = 60_000  # under the default max_body_bytes (64 KiB)


async def entry_bytes(admin: str, start: int) -> list[int]:
    conn = await asyncpg.connect(admin)
    try:
        rows = await conn.fetch(
            "SELECT octet_length(body) FROM audit.entries WHERE idx >= $1 ORDER BY idx", start
        )
    finally:
        await conn.close()
    return [r[0] for r in rows]


async def wait_for_size(admin: str, size: int) -> None:
    """The log reaches `size` entries (an entry committed without a waiting request)."""
    async with asyncio.timeout(10):
        # The server commits it in a task of its own: the log is what can be observed.
        while await log_size(admin) < size:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_a_flood_from_one_token_is_bounded_by_its_budget(make_client, make_token, dbs):
    admin, dsn = await dbs.fresh_audit()
    client = await make_client(rate=3, audit_dsn=dsn)
    token = make_token(sub="det.flood")
    before = await log_size(admin)
    not_json = b"x" * BIG
    not_a_search = orjson.dumps(body(justification="y" * BIG))  # JSON, refused by parsing
    statuses = []
    for i in range(20):
        raw = not_json if i % 2 else not_a_search
        resp = await client.post("/v1/search", data=raw, headers=bearer(token))
        statuses.append(resp.status)
    # Refusals spend the budget too: the 4th request on is rate limited, parseable or not,
    # and so is a valid search afterwards.
    assert statuses == [400, 400, 400] + [429] * 17
    resp = await client.post("/v1/search", json=body(), headers=bearer(token))
    assert resp.status == 429

    sizes = await entry_bytes(admin, before)
    assert len(sizes) == 21  # still one entry per request (SPEC §6)
    assert max(sizes) < 1024  # a hash and a prefix of each body, whatever its size
    limited = await entry(admin, before + 3)
    assert limited["reason"] == "rate_limited"
    assert limited["query"] == {
        "rate_limited_body": {
            "bytes": len(not_json),
            "sha256": hashlib.sha256(not_json).hexdigest(),
            "prefix": "x" * BODY_PREFIX_BYTES,
        }
    }
    for index, raw in ((before, not_a_search), (before + 1, not_json)):
        unparseable = await entry(admin, index)
        assert unparseable["reason"] == "invalid_request"
        assert unparseable["query"]["invalid_body"]["sha256"] == hashlib.sha256(raw).hexdigest()
        assert unparseable["justification"] is None


async def test_auth_failure_entries_are_capped_in_total(make_client, dbs: Databases):
    """Behind a TLS terminator every client has one address: a total cap as well."""
    client = await make_client(
        auth={"auth_failure_entries_per_minute": 100, "auth_failure_entries_per_minute_total": 3}
    )
    logged = []
    for _ in range(5):
        resp = await client.post("/v1/search", json=body(), headers={"Authorization": "Bearer x"})
        assert resp.status == 401
        logged.append("audit_index" in (await resp.json())["error"])
    assert logged == [True, True, True, False, False]


async def test_a_client_that_aborts_mid_body_leaves_an_entry(make_client, make_token, dbs):
    admin, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn)
    before = await log_size(admin)
    payload = orjson.dumps(body())
    head = (
        "POST /v1/search HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {make_token(sub='det.gone')}\r\n"
        f"Content-Length: {len(payload)}\r\nExpect: 100-continue\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head.encode())
    await writer.drain()
    # 100 Continue: the request was routed and its handler is waiting for the body.
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100")
    writer.write(payload[: len(payload) // 2])
    await writer.drain()
    writer.close()
    await writer.wait_closed()

    await wait_for_size(admin, before + 1)
    e = await entry(admin, before)
    assert e["event"] == "search" and e["subject"] == "det.gone"
    assert e["decision"] == "refused" and e["reason"] == "invalid_request"
    assert e["query"] == {"invalid_body": "connection closed before the body was complete"}


class EnvelopeTestServer(TestServer):
    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        return badrequest.AppRunner(self.app, **kwargs)


async def test_oversized_headers_get_the_envelope_and_an_entry(make_client, dbs: Databases):
    admin, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn, server_class=EnvelopeTestServer)
    before = await log_size(admin)
    resp = await client.get("/healthz", headers={"X-Filler": "a" * 9000})
    assert resp.status == 400
    assert resp.headers["Content-Type"].startswith("application/json")
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_request" and error["audit_index"] == before
    e = await entry(admin, before)
    assert e["event"] == "auth_failure" and e["reason"] == "invalid_request"
    assert e["method"] is None and e["path"] is None and e["detail"]
    assert "a" * 50 not in e["detail"]  # the header's content is not copied into the log
    # The connection is not reused; the next request on a new one is served as usual.
    assert (await client.get("/healthz")).status == 200


async def test_unparseable_requests_share_the_auth_failure_cap(make_client, dbs: Databases):
    _, dsn = await dbs.fresh_audit()
    client = await make_client(
        audit_dsn=dsn,
        server_class=EnvelopeTestServer,
        auth={"auth_failure_entries_per_minute": 2},
    )
    indexes = []
    for _ in range(4):
        resp = await client.get("/healthz", headers={"X-Filler": "a" * 9000})
        assert resp.status == 400
        indexes.append((await resp.json())["error"].get("audit_index"))
    assert [i is not None for i in indexes] == [True, True, False, False]
