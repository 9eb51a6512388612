"""load/audit_bench.py on a small log: the fill is a valid log for the real verifier, and the
proof timer verifies every proof it times (no timing claims)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from load import audit_bench
from proxy.audit import tree, verify
from proxy.audit.checkpoint import load_signer
from proxy.audit.log_errors import LeafMismatchError
from proxy.audit.offline import verify_log
from proxy.http import log_api
from proxy.http.middlewares import request_context
from proxy.http.state import AUDIT_POOL
from tests.audit.memtree import InMemoryTree
from tests.conftest import LOG_ORIGIN
from tests.pg import Databases, with_db

ENTRIES = 5000


Filled = tuple[str, str, dict[str, Any]]  # admin dsn, proxy-role dsn, the fill's result


@pytest.fixture(scope="module")
async def filled(dbs: Databases, log_keys: tuple[Path, str]) -> Filled:
    """A 5,000-entry log, made once; the test that tampers works on a copy."""
    admin, dsn = await dbs.fresh_audit()
    signer = load_signer(log_keys[0])
    meta = await audit_bench.fill(
        admin, ENTRIES, signer, origin=LOG_ORIGIN, chunk=1500, checkpoint_every=2000, samples=40
    )
    return admin, dsn, meta


async def copy_of(dbs: Databases, admin: str) -> tuple[str, str]:
    name = f"{dbs.prefix}_audit_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dbs.admin_dsn)
    try:
        template = urlsplit(admin).path.lstrip("/")
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return with_db(dbs.admin_dsn, name), with_db(dbs.admin_dsn, name, "alpr_proxy_audit")


async def verify_as_proxy_role(dsn: str, vkey: str) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await verify_log(conn, vkey, origin=LOG_ORIGIN, chunk=700)
    finally:
        await conn.close()


async def test_filled_log_verifies(
    dbs: Databases, filled: Filled, log_keys: tuple[Path, str]
) -> None:
    admin, dsn, meta = filled
    report = await verify_as_proxy_role(dsn, log_keys[1])
    assert (
        (report.entries, report.checkpoints)
        == (ENTRIES, 3)
        == (meta["entries"], meta["checkpoints"])
    )
    assert base64.b64encode(report.root).decode() == meta["root"]
    conn = await asyncpg.connect(admin)
    try:
        # Real search entries with their facts and rollups, and every index the migrations made.
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM audit.entry_facts WHERE event = 'search' AND at IS NOT NULL"
            )
            == ENTRIES
        )
        rolled = "SELECT next_idx FROM audit.rollup_progress"
        assert await conn.fetchval(rolled) == ENTRIES
        indexes = (
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'audit'"
            " ORDER BY tablename, indexname"
        )
        fresh, _ = await dbs.fresh_audit()
        other = await asyncpg.connect(fresh)
        try:
            assert await conn.fetch(indexes) == await other.fetch(indexes)
        finally:
            await other.close()
        bodies = [
            r["body"] for r in await conn.fetch("SELECT body FROM audit.entries ORDER BY idx")
        ]
    finally:
        await conn.close()
    # The roots the fill recorded are the entries' roots at those sizes.
    mem = InMemoryTree(bodies)
    assert len(meta["roots"]) >= 40
    for size, root in meta["roots"].items():
        assert mem.root(int(size)) == base64.b64decode(root)


async def test_a_corrupted_entry_fails_verification(
    dbs: Databases, filled: Filled, log_keys: tuple[Path, str]
) -> None:
    admin, dsn = await copy_of(dbs, filled[0])
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute("ALTER TABLE audit.entries DISABLE TRIGGER ALL")
        await conn.execute("UPDATE audit.entries SET body = body || ' '::bytea WHERE idx = 3210")
    finally:
        await conn.close()
    with pytest.raises(LeafMismatchError) as e:
        await verify_as_proxy_role(dsn, log_keys[1])
    assert e.value.index == 3210


@pytest.fixture
async def proofs(filled: Filled) -> AsyncIterator[tuple[Any, ...]]:
    _, dsn, meta = filled
    roots = audit_bench.merkle_roots(meta)
    todo = audit_bench.cases(roots, 30)
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        async with pool.acquire() as conn:
            leaves = await audit_bench.leaf_hashes(
                conn, [a for k, a, _ in todo if k == "inclusion"]
            )
        yield pool, todo, roots, leaves


async def test_server_proofs_are_timed_and_verified(proofs: tuple[Any, ...]) -> None:
    pool, todo, roots, leaves = proofs
    assert {k for k, _, _ in todo} == {"inclusion", "consistency"}
    stats = await audit_bench.time_proofs(audit_bench.server_proofs(pool), todo, roots, leaves)
    for kind in ("inclusion", "consistency"):
        s = stats[kind]
        assert s["n"] == 30 and 0 < s["p50_ms"] <= s["p99_ms"] <= s["max_ms"]


@pytest.mark.parametrize("kind", ["inclusion_proof", "consistency_proof"])
async def test_a_wrong_proof_fails_the_timer(
    proofs: tuple[Any, ...], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    pool, todo, roots, leaves = proofs
    real = getattr(tree, kind)

    def corrupted(*args: Any) -> list[bytes]:
        proof: list[bytes] = real(*args)
        return [bytes(32), *proof[1:]] if proof else proof

    monkeypatch.setattr(tree, kind, corrupted)
    with pytest.raises(verify.VerificationError):
        await audit_bench.time_proofs(audit_bench.server_proofs(pool), todo, roots, leaves)


async def test_http_proofs_use_the_real_handlers(proofs: tuple[Any, ...]) -> None:
    pool, todo, roots, leaves = proofs
    app = web.Application(middlewares=[request_context])
    app[AUDIT_POOL] = pool
    app.router.add_get("/v1/log/proof/inclusion", log_api.inclusion_proof)
    app.router.add_get("/v1/log/proof/consistency", log_api.consistency_proof)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        get = audit_bench.http_proofs(session, str(server.make_url("")).rstrip("/"))
        stats = await audit_bench.time_proofs(get, todo, roots, leaves)
        assert stats["inclusion"]["n"] == stats["consistency"]["n"] == 30
        with pytest.raises(RuntimeError, match="HTTP 400"):
            await get("inclusion", ENTRIES, ENTRIES)
