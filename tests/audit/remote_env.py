"""Shared pieces of the `audit verify --url` tests: a real proxy on a real audit database, the
superuser who tampers with it, and witnesses that cosign its checkpoint.

Until the proxy itself collects cosignatures (issue 15, in progress), a test obtains them by
submitting the proxy's own signed checkpoint to the package's real witness servers
(tests.audit.witnessing_env) and builds the cosigned note with proxy.audit.witnessing's
served_note; a small front server on a real socket serves that note as /v1/log/checkpoint and
passes every other request to the proxy unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from proxy.audit import postgres
from proxy.audit.checkpoint import load_signer, make_checkpoint
from proxy.audit.entry import audit_access_entry
from proxy.audit.verify import Verifier, parse_checkpoint
from proxy.audit.witnessing import served_note
from proxy.model import Principal
from proxy.witness.client import Cosigned, SignedCheckpoint, submit_checkpoint
from proxy.witness.signer import WitnessSigner
from tests.audit.witnessing_env import NAMES, LiveWitness
from tests.witness.conftest import write_config

OVERSIGHT = {"sub": "ig", "ori": "CA0349400", "roles": ("oversight",)}
_TABLES = ("entries", "entry_facts", "checkpoints")


@dataclass(frozen=True)
class Proxy:
    client: Any  # aiohttp TestClient of the real app
    admin: str  # superuser DSN of its audit database
    url: str

    async def note(self) -> bytes:
        resp = await self.client.get("/v1/log/checkpoint")
        assert resp.status == 200, await resp.text()
        return bytes(await resp.read())


def url_of(client: Any) -> str:
    return str(client.make_url("")).rstrip("/")


async def checkpoint_at_least(proxy: Proxy, size: int) -> bytes:
    """The served note once the checkpointer (every 0.2 s) has covered ``size`` entries."""
    for _ in range(400):
        resp = await proxy.client.get("/v1/log/checkpoint")
        if resp.status == 200:
            note = bytes(await resp.read())
            if parse_checkpoint(note[: note.index(b"\n\n") + 1]).size >= size:
                return note
        await asyncio.sleep(0.05)  # a poll interval; the deadline (20 s) decides
    raise AssertionError(f"no checkpoint of size >= {size} appeared")


async def log_size(admin: str) -> int:
    conn = await asyncpg.connect(admin)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM audit.entries"))
    finally:
        await conn.close()


async def fill(dsn: str, key_file: Any, n: int, pad: int = 0, batch: int = 2000) -> None:
    """Append ``n`` audit_access entries (each ~``pad`` bytes larger) and sign a checkpoint."""
    who = Principal("filler", "CA0349400", frozenset({"oversight"}), 0.0)
    at = datetime(2026, 6, 15, 11, 0, tzinfo=UTC)
    conn = await asyncpg.connect(dsn)
    try:
        for start in range(0, n, batch):
            records = [
                audit_access_entry(
                    at=at,
                    request_id=f"r{i}",
                    principal=who,
                    client=None,
                    endpoint="GET /v1/audit/entries",
                    filters={"pad": "x" * pad, "i": i},
                    returned=0,
                )
                for i in range(start, min(n, start + batch))
            ]
            async with conn.transaction():
                await postgres.append(conn, records)
        await make_checkpoint(conn, load_signer(key_file), load_signer(key_file).name)
    finally:
        await conn.close()


async def as_superuser(admin: str, *sql: str | tuple[Any, ...]) -> None:
    """The operator as attacker: run ``sql`` in one transaction with the append-only triggers
    (and foreign keys) of the log's tables disabled, and enabled again before it commits."""
    conn = await asyncpg.connect(admin)
    try:
        async with conn.transaction():
            always = await conn.fetch(
                "SELECT tgrelid::regclass::text AS tbl, tgname FROM pg_trigger"
                " WHERE tgrelid = ANY($1::regclass[]) AND NOT tgisinternal AND tgenabled = 'A'",
                [f"audit.{t}" for t in _TABLES],
            )
            for t in _TABLES:
                await conn.execute(f"ALTER TABLE audit.{t} DISABLE TRIGGER ALL")
            for stmt in sql:
                args = stmt if isinstance(stmt, tuple) else (stmt,)
                await conn.execute(*args)
            for t in _TABLES:
                await conn.execute(f"ALTER TABLE audit.{t} ENABLE TRIGGER ALL")
            for row in always:
                await conn.execute(
                    f'ALTER TABLE {row["tbl"]} ENABLE ALWAYS TRIGGER "{row["tgname"]}"'
                )
    finally:
        await conn.close()


async def cosign(note: bytes, log_vkey: str, ws: Sequence[LiveWitness]) -> tuple[bytes, int]:
    """The note cosigned by each witness in ``ws`` (from size 0: they are fresh), and the
    newest cosignature timestamp."""
    cp = SignedCheckpoint.open(note, Verifier.from_key(log_vkey))

    async def no_proof(old: int, new: int) -> Sequence[bytes]:
        raise AssertionError("fresh witnesses need no proof")

    lines = []
    async with aiohttp.ClientSession() as session:
        for w in ws:
            outcome = await submit_checkpoint(session, w.endpoint(), cp, 0, no_proof)
            assert isinstance(outcome, Cosigned), outcome
            lines.append((w.endpoint(), outcome.cosignature))
    return served_note(cp, lines), max(sig.timestamp for _, sig in lines)


@asynccontextmanager
async def log_witnesses(tmp: Path, log_vkey: str, count: int) -> AsyncIterator[list[LiveWitness]]:
    """``count`` running witnesses of the package trusting ``log_vkey`` for its origin."""
    out = []
    for i in range(count):
        signer = WitnessSigner.generate(NAMES[i])
        (tmp / f"w{i}").mkdir()
        config = write_config(tmp / f"w{i}", signer, [log_vkey], origin=log_vkey.split("+")[0])
        out.append(LiveWitness(signer, config))
    try:
        for w in out:
            await w.start()
        yield out
    finally:
        for w in out:
            await w.stop()


@asynccontextmanager
async def front(proxy: Proxy, note: bytes) -> AsyncIterator[str]:
    """A server on a real socket: ``note`` at /v1/log/checkpoint, the proxy behind the rest."""

    async def checkpoint(request: web.Request) -> web.Response:
        return web.Response(body=note, content_type="text/plain", charset="utf-8")

    async def passthrough(request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k == "Authorization"}
        upstream = await proxy.client.get(request.path_qs, headers=headers)
        body = await upstream.read()
        return web.Response(body=body, status=upstream.status, content_type=upstream.content_type)

    app = web.Application()
    app.router.add_get("/v1/log/checkpoint", checkpoint)
    app.router.add_get("/{tail:.*}", passthrough)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
