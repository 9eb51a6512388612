"""Hostile input never causes a 500, never reaches the database as SQL, and is either refused
or recorded verbatim in the audit entry; oversized, deeply nested, mistyped, trickled and
flooding requests fail closed without taking the service down.

Token attacks (alg none, HMAC confusion, key-carrying headers, oversized tokens, ...) are in
tests/auth/test_tokens.py; malformed JSON, the body limit with Content-Length and naive
timestamps in tests/http/test_search.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import asyncpg
import orjson
import pytest

from proxy.oversight import facts
from tests.faults.harness import Keys, ProxyProcess, write_config
from tests.http.search_helpers import bearer, body, entry, log_size
from tests.pg import Databases

CHP = "CA0349400"
# SQL metacharacters, comment and quote tricks, LIKE wildcards, NUL, non-ASCII, JSON breakers.
PAYLOADS = [
    "'; DROP TABLE alpr.reads; --",
    "' OR '1'='1",
    "\\'; SELECT pg_sleep(5); --",
    "%' OR plate LIKE '%",
    "$1 $$; DELETE FROM audit.entries; $$",
    "a\u0000b'--",
    "\u0000",
    "😀 \"}]}{ ' \\",
    "*?%_\\",
    "' UNION SELECT body FROM audit.entries --",
]

# field -> (body changes for the payload, statuses the request may get)
FIELDS: dict[str, Any] = {
    "plate": (lambda p: {"plate": p}, {400}),
    "pattern": (
        lambda p: {"type": "partial_plate", "plate": None, "pattern": p, "purpose": "KIDNAPPING"},
        {400},
    ),
    "plate_state": (lambda p: {"plate_state": p}, {400}),
    "purpose": (lambda p: {"purpose": p}, {400}),
    # A case number or person without a letter or digit ("*?%_\\", NUL) is invalid_request.
    "case_number": (lambda p: {"case_number": p}, {200, 400}),
    "justification": (
        lambda p: {"justification": "Vehicle seen leaving scene of 1/14 homicide " + p},
        {200},
    ),
    # unknown_agency, or invalid_request when longer than an ORI may be
    "on_behalf_of.ori": (lambda p: {"on_behalf_of": {"ori": p, "person": "Sgt. P"}}, {400, 403}),
    "on_behalf_of.person": (lambda p: {"on_behalf_of": {"ori": CHP, "person": p}}, {200, 400}),
}


async def _store_rows(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM alpr.reads"))
    finally:
        await conn.close()


@pytest.mark.parametrize("field", sorted(FIELDS))
async def test_sql_metacharacters_in_every_string_field(
    make_client, make_token, dbs: Databases, field: str
):
    admin, audit = await dbs.fresh_audit()
    client = await make_client(audit_dsn=audit)
    rows = await _store_rows(dbs.store_admin)
    changes, statuses = FIELDS[field]
    token = make_token()
    for payload in PAYLOADS:
        sent = body(**changes(payload))
        resp = await client.post("/v1/search", json=sent, headers=bearer(token))
        result = await resp.json()
        assert resp.status in statuses, (payload, result)
        index = result["audit_index"] if resp.status == 200 else result["error"]["audit_index"]
        e = await entry(admin, index)
        assert e["query"] == sent, payload  # the query exactly as asked
        assert e["request_id"] == resp.headers["X-Request-Id"]
        if resp.status == 200:
            assert e["decision"] == "allowed"
            lifted = {"case_number": e["case_number"], "justification": e["justification"]}
            for key in ("case_number", "justification"):
                assert lifted[key] == sent.get(key)
            if field == "on_behalf_of.person":
                assert e["on_behalf_of"] == {"ori": CHP, "person": payload}
        else:
            assert e["decision"] == "refused" and "reads" not in result
    assert await _store_rows(dbs.store_admin) == rows  # nothing was dropped or deleted
    size = await log_size(admin)
    assert size == len(PAYLOADS) + 1  # one entry each, plus the policy_loaded at start


async def test_nul_in_one_request_does_not_fail_the_batch_it_shares(
    make_client, make_token, dbs: Databases
):
    """PostgreSQL text cannot hold NUL. A NUL in a purpose, an on_behalf_of ORI or a token's
    `sub` once made the whole group commit fail: everyone in that batch got 503 and the
    attempt itself was never audited. Now it is refused or allowed like any other value and
    recorded exactly."""
    admin, audit = await dbs.fresh_audit()
    client = await make_client(audit_dsn=audit)
    poisoned = [
        (make_token(), body(purpose="HOMICIDE\u0000"), 400),
        (make_token(), body(on_behalf_of={"ori": "CA0010000\u0000"}), 400),  # not an ORI
        (make_token(sub="det.\u0000nul"), body(), 200),
    ]
    innocent = [(make_token(sub=f"det.{i}"), body(), 200) for i in range(12)]
    requests = innocent[:6] + poisoned + innocent[6:]  # in one burst: they share batches
    answers = await asyncio.gather(
        *(client.post("/v1/search", json=b, headers=bearer(t)) for t, b, _ in requests)
    )
    statuses = [r.status for r in answers]
    assert statuses == [want for _, _, want in requests]
    for (_, sent, _), resp in zip(requests, answers, strict=True):
        result = await resp.json()
        index = result.get("audit_index", result.get("error", {}).get("audit_index"))
        assert (await entry(admin, index))["query"] == sent
    e = await entry(admin, (await answers[8].json())["audit_index"])
    assert e["subject"] == "det.\u0000nul"


QUERY_PARAMS = [
    "agency",
    "subject",
    "purpose",
    "reason",
    "plate",
    "on_behalf_of",
    "owner",
    "event",
    "decision",
    "cursor",
    "limit",
    "from",
    "to",
]


async def test_sql_metacharacters_in_log_and_audit_query_parameters(
    make_client, make_token, dbs: Databases
):
    admin, audit = await dbs.fresh_audit()
    client = await make_client(audit_dsn=audit)
    oversight = bearer(make_token(sub="ig", ori=CHP, roles=("oversight",)))
    await client.post("/v1/search", json=body(), headers=bearer(make_token()))
    checked = 0
    for payload in PAYLOADS:
        for name in QUERY_PARAMS:
            resp = await client.get(
                "/v1/audit/entries?" + urlencode({name: payload}), headers=oversight
            )
            assert resp.status in (200, 400), (name, payload, resp.status)
            result = await resp.json()
            if resp.status == 200:
                e = await entry(admin, int(resp.headers["X-Audit-Index"]))
                assert e["event"] == "audit_access"
                assert e["filters"] == {name: payload}  # recorded verbatim
                assert result["entries"] == []  # matched as a value, never as SQL
            else:
                assert result["error"]["code"] == "invalid_request"
            checked += 1
        for report in ("usage", "disclosures", "flags"):
            for key in ("from", "to"):
                params = {"from": "2026-01-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
                params[key] = payload
                resp = await client.get(
                    f"/v1/audit/reports/{report}?" + urlencode(params), headers=oversight
                )
                assert resp.status == 400, (report, key, payload)
                checked += 1
        for path in (
            f"/v1/log/entries/{quote(payload, safe='')}",
            "/v1/log/proof/inclusion?" + urlencode({"index": payload, "size": "1"}),
            "/v1/log/proof/consistency?" + urlencode({"old": "1", "size": payload}),
            f"/transparency/{quote(payload, safe='')}",
        ):
            resp = await client.get(path, headers=oversight)
            assert resp.status in (400, 404), (path, resp.status)
            checked += 1
    assert checked == len(PAYLOADS) * (len(QUERY_PARAMS) + 6 + 4)
    # The log still verifies its own shape: one entry per allowed read of it, no gaps.
    conn = await asyncpg.connect(admin)
    try:
        n, top = await conn.fetchrow("SELECT count(*), max(idx) FROM audit.entries")
    finally:
        await conn.close()
    assert n == top + 1


async def test_chunked_body_over_the_limit_is_refused_and_audited(make_client, make_token, dbs):
    admin, audit = await dbs.fresh_audit()
    client = await make_client(audit_dsn=audit, server={"max_body_bytes": 4096})

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"type": "plate", "justification": "'
        for _ in range(64):
            yield b"x" * 1024
        yield b'"}'

    # An async generator is sent chunked: no Content-Length to refuse it by.
    resp = await client.post("/v1/search", data=chunks(), headers=bearer(make_token()))
    assert resp.status == 413
    result = await resp.json()
    assert result["error"]["code"] == "invalid_request"
    e = await entry(admin, result["error"]["audit_index"])
    assert e["query"] == {"invalid_body": "too large"} and e["decision"] == "refused"

    oversight = bearer(make_token(sub="ig", ori=CHP, roles=("oversight",)))
    resp = await client.post("/v1/audit/reviews", data=chunks(), headers=oversight)
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "invalid_request"


async def test_oversized_headers_and_url_are_refused_not_500(client, make_token):
    resp = await client.get("/healthz", headers={"X-Junk": "x" * 20000})
    assert resp.status in (400, 431)
    resp = await client.get("/v1/log/entries/" + "9" * 20000, headers=bearer(make_token()))
    assert resp.status in (400, 414)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "plate", "plate": ' + b"[" * 30000 + b"]" * 30000 + b"}",
        b'{"type": "plate", "on_behalf_of": ' + b'{"a":' * 6000 + b"1" + b"}" * 6001,
        b"[" * 32000 + b"]" * 32000,
        # Decodable, but deeper than canonical JSON (orjson) can encode: was a 500.
        b'{"type": "plate", "plate": ' + b"[" * 300 + b"]" * 300 + b"}",
        b'{"n": 269413259662715551744}',  # an integer beyond 64 bits: was a 500
    ],
    ids=["deep-array", "deep-object", "top-level", "deeper-than-254", "big-integer"],
)
async def test_deeply_nested_json_is_invalid_request(make_client, make_token, dbs, raw: bytes):
    _, audit = await dbs.fresh_audit()
    client = await make_client(audit_dsn=audit)
    resp = await client.post("/v1/search", data=raw, headers=bearer(make_token()))
    assert resp.status == 400
    result = await resp.json()
    assert result["error"]["code"] == "invalid_request" and "audit_index" in result["error"]
    oversight = bearer(make_token(sub="ig", ori=CHP, roles=("oversight",)))
    resp = await client.post("/v1/audit/reviews", data=raw, headers=oversight)
    assert resp.status == 400


async def test_invalid_utf8_is_invalid_request_not_500(make_client, make_token, dbs):
    """msgspec raises UnicodeDecodeError (not DecodeError) for invalid UTF-8: it was a 500."""
    admin, audit = await dbs.fresh_audit()
    client = await make_client(audit_dsn=audit)
    raw = orjson.dumps(body(justification="PLACEHOLDER justification text here"))
    raw = raw.replace(b"PLACEHOLDER", b"\xff\xfe\xed\xa0\x80")
    resp = await client.post("/v1/search", data=raw, headers=bearer(make_token()))
    assert resp.status == 400
    result = await resp.json()
    assert result["error"]["code"] == "invalid_request"
    e = await entry(admin, result["error"]["audit_index"])
    # An unparseable body is recorded as its size, SHA-256 and a short prefix (issue 13 item 5).
    recorded = e["query"]["invalid_body"]
    assert recorded["bytes"] == len(raw)
    assert recorded["sha256"] == hashlib.sha256(raw).hexdigest()
    oversight = bearer(make_token(sub="ig", ori=CHP, roles=("oversight",)))
    raw = b'{"index": 0, "disposition": "no_issue", "note": "\xff"}'
    resp = await client.post("/v1/audit/reviews", data=raw, headers=oversight)
    assert resp.status == 400


WRONG_TYPES: list[tuple[str, Any]] = [
    *[(f, v) for f in ("type", "plate", "purpose", "case_number", "justification")
      for v in (1, 1.5, True, [], {}, ["7ABC123"])],
    *[(f, v) for f in ("from", "to") for v in (1, True, "yesterday", "2026-01-01", [], {})],
    ("plate_state", 6), ("plate_state", ["CA"]),
    ("on_behalf_of", "CA0010000"), ("on_behalf_of", ["CA0010000"]), ("on_behalf_of", 1),
    ("on_behalf_of", {"ori": 1}), ("on_behalf_of", {"ori": None}), ("on_behalf_of", {}),
    ("on_behalf_of", {"ori": CHP, "person": 1}), ("on_behalf_of", {"ori": CHP, "x": 1}),
    ("area", "here"), ("area", [37.8, -122.2, 100]),
    ("area", {"lat": "37.8", "lon": -122.2, "radius_m": 100}),
    ("area", {"lat": 91, "lon": -122.2, "radius_m": 100}),
    ("area", {"lat": 37.8, "lon": -122.2, "radius_m": -1}),
    ("area", {"lat": 37.8, "lon": -122.2, "radius_m": True}),
    ("type", "PLATE"), ("type", "area; DROP"),
]  # fmt: skip


async def test_wrong_types_are_invalid_request_and_audited(make_client, make_token, dbs):
    admin, audit = await dbs.fresh_audit()
    client = await make_client(audit_dsn=audit)
    token = make_token()
    for name, value in WRONG_TYPES:
        sent = body(**{name: value})
        if name == "area":
            sent.update(type="area", purpose="KIDNAPPING")
            sent.pop("plate")
        resp = await client.post("/v1/search", json=sent, headers=bearer(token))
        result = await resp.json()
        assert resp.status == 400, (name, value, result)
        assert result["error"]["code"] == "invalid_request", (name, value)
        assert (await entry(admin, result["error"]["audit_index"]))["query"] == sent


@pytest.mark.parametrize(
    "tail",
    [
        b', "purpose": "CIVIL_IMMIGRATION"}',
        b', "on_behalf_of": {"ori": "CA0010000", "person": "Sgt. P"}}',
    ],
)
async def test_duplicate_keys_are_refused_and_audited(make_client, make_token, dbs, tail):
    """The last duplicate used to win and the audit entry silently lost the first value: now
    the body is refused, naming the key, and the refusal is audited with the raw body."""
    admin, audit = await dbs.fresh_audit()
    client = await make_client(audit_dsn=audit)
    first = {"on_behalf_of": {"ori": CHP, "person": "Sgt. Q"}} if b"behalf" in tail else {}
    raw = orjson.dumps(body(**first))[:-1] + tail
    resp = await client.post("/v1/search", data=raw, headers=bearer(make_token()))
    result = await resp.json()
    assert resp.status == 400 and result["error"]["code"] == "invalid_request"
    assert "repeats the key" in result["error"]["message"]
    e = await entry(admin, result["error"]["audit_index"])
    assert e["decision"] == "refused" and e["reason"] == "invalid_request"


@pytest.mark.parametrize(
    "changes", [{"to": "9999-12-31T23:59:59-14:00"}, {"from": "0001-01-01T00:00:00+14:00"}]
)
async def test_timestamps_outside_utc_are_400_not_503(make_client, make_token, dbs, changes):
    admin, audit = await dbs.fresh_audit()
    client = await make_client(audit_dsn=audit)
    sent = body(**changes)
    resp = await client.post("/v1/search", json=sent, headers=bearer(make_token()))
    result = await resp.json()
    assert resp.status == 400, result
    assert result["error"]["code"] == "invalid_request"
    assert (await entry(admin, result["error"]["audit_index"]))["query"] == sent


# ---------------------------------------------------------------------------------------------
# Slow clients and many connections: against the real server process (run_app's settings).

READ_TIMEOUT_S = 1.5
KEEPALIVE_S = 2.0


@pytest.fixture(scope="module")
async def live(
    tmp_path_factory: pytest.TempPathFactory,
    dbs: Databases,
    seeded_store: str,
    dev_keys: tuple[Path, Path],
    log_keys: tuple[Path, str],
) -> AsyncIterator[tuple[ProxyProcess, Keys, str]]:
    admin, audit = await dbs.fresh_audit()
    keys = Keys(dev_keys[0], dev_keys[1], log_keys[0], log_keys[1])
    tmp = tmp_path_factory.mktemp("live")
    config, port = write_config(
        tmp,
        keys,
        store_dsn=seeded_store,
        audit_dsn=audit,
        sections={"server": {"read_timeout_s": READ_TIMEOUT_S, "keepalive_timeout_s": KEEPALIVE_S}},
    )
    server = ProxyProcess(config, port, tmp / "serve.log")
    await server.start()
    try:
        yield server, keys, admin
    finally:
        await server.close()


async def _timed_search(url: str, token: str) -> tuple[int, float]:
    started = time.monotonic()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.post(url + "/v1/search", json=body(), headers=bearer(token)) as r,
    ):
        await r.read()
        return r.status, time.monotonic() - started


async def _read_until_closed(reader: asyncio.StreamReader, limit: float) -> bytes:
    out = b""
    with contextlib.suppress(TimeoutError, ConnectionError):
        async with asyncio.timeout(limit):
            while chunk := await reader.read(65536):
                out += chunk
    return out


async def test_trickled_body_times_out_with_408_and_is_audited(live):
    server, keys, admin = live
    token = keys.token("det.slow", "CA0010900")
    raw = orjson.dumps(body())
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        head = (
            f"POST /v1/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n"
        )
        writer.write(head.encode() + raw[:10])
        started = time.monotonic()
        answer = b""

        async def trickle() -> None:
            for byte in raw[10:-1]:  # never the last byte
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)

        sender = asyncio.create_task(trickle())
        # Meanwhile other clients are served at once.
        other = [await _timed_search(server.url, keys.token("det.other", "CA0010900"))]
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S + 5)
        waited = time.monotonic() - started
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert READ_TIMEOUT_S - 0.1 <= waited < READ_TIMEOUT_S + 3, waited
    assert other[0][0] == 200 and other[0][1] < READ_TIMEOUT_S
    conn = await asyncpg.connect(admin)
    try:
        await facts.catch_up_facts(conn)
        raw_entry = await conn.fetchval(
            "SELECT e.body FROM audit.entry_facts f JOIN audit.entries e ON e.idx = f.idx"
            " WHERE f.subject = 'det.slow' ORDER BY f.idx DESC LIMIT 1"
        )
    finally:
        await conn.close()
    e = orjson.loads(raw_entry)
    assert e["query"] == {"invalid_body": "not received in time"} and e["decision"] == "refused"


async def test_trickled_headers_are_cut_off(live):
    """A slowloris client (headers a line at a time, never finished) is disconnected after
    server.keepalive_timeout_s, however steadily it keeps sending."""
    server, keys, _ = live
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()
    closed_after = None
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        while closed_after is None and time.monotonic() - started < KEEPALIVE_S + 5:
            try:
                writer.write(b"X-Slow: a\r\n")
                await writer.drain()
                async with asyncio.timeout(0.25):
                    if await reader.read(1) == b"":
                        closed_after = time.monotonic() - started
            except TimeoutError:
                continue
            except ConnectionError:
                closed_after = time.monotonic() - started
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert closed_after is not None, "still connected"
    assert closed_after < KEEPALIVE_S + 2, closed_after
    status, _ = await _timed_search(server.url, keys.token("det.other", "CA0010900"))
    assert status == 200


async def _connect(port: int, request: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    return reader, writer


async def test_five_hundred_connections_do_not_take_the_service_down(live):
    """One client opens 500 connections: half send a whole request, half stop mid-headers
    and hold on. Another client is served meanwhile, every whole request is answered, and the
    held connections are closed by the server."""
    server, keys, _ = live
    whole = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    partial = b"POST /v1/search HTTP/1.1\r\nHost: x\r\n"
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    token = keys.token("det.other", "CA0010900")
    try:
        for _ in range(10):  # in steps, so the listen backlog is not what is being tested
            conns += await asyncio.gather(
                *(_connect(server.port, partial if i % 2 else whole) for i in range(50))
            )
        answers = [await _timed_search(server.url, token) for _ in range(10)]
        assert [s for s, _ in answers] == [200] * 10
        assert max(t for _, t in answers) < 5.0
        heads = await asyncio.gather(
            *(asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 20) for r, _ in conns[::2])
        )
        assert all(h.startswith(b"HTTP/1.1 200") for h in heads)
        # The half-open ones are cut off (no answer, end of stream).
        rests = await asyncio.gather(
            *(asyncio.wait_for(r.read(), KEEPALIVE_S + 10) for r, _ in conns[1::2])
        )
        assert rests == [b""] * 250
    finally:
        for _, w in conns:
            w.close()
    status, _ = await _timed_search(server.url, token)
    assert status == 200 and server.running
