"""Group commit against a real audit database: gapless indexes, one tree, append-only tables."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg
import orjson
import pytest

from proxy.audit import postgres, tree
from proxy.audit.canonical import Record
from proxy.audit.writer import AuditWriter
from proxy.errors import ProxyError
from proxy.oversight import facts
from tests.audit.memtree import InMemoryTree
from tests.pg import Databases

ROOT = Path(__file__).resolve().parents[2]


def record(i: int) -> Record:
    return Record(orjson.dumps({"event": "test", "i": i}))


async def stored_root_matches_entries(admin_dsn: str) -> int:
    """Recompute the tree from entry bytes and compare with the stored hashes; return size."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        bodies = [
            bytes(r["body"])
            for r in await conn.fetch("SELECT body FROM audit.entries ORDER BY idx")
        ]
        size = await postgres.size(conn)
        stored = await postgres.read_hashes(conn, tree.tree_hash_needed(size))
    finally:
        await conn.close()
    assert size == len(bodies)
    assert tree.tree_hash(size, stored) == InMemoryTree(bodies).root()
    return size


async def test_concurrent_appends_share_batches_and_resolve_in_order(dbs: Databases):
    admin, dsn = await dbs.fresh_audit()
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        writer = AuditWriter(pool, max_batch=64)
        await writer.start()
        indexes = await asyncio.gather(*(writer.append(record(i)) for i in range(500)))
        await writer.close()
    assert sorted(indexes) == list(range(500))
    assert writer.stats.batches < 500  # entries really were grouped
    assert writer.stats.entries == 500
    assert await stored_root_matches_entries(admin) == 500


async def test_batch_is_one_statement_while_the_edge_is_current(dbs: Databases):
    admin, dsn = await dbs.fresh_audit()
    conn = await asyncpg.connect(dsn)
    try:
        edge = await postgres.Batch([record(i) for i in range(3)]).try_append(
            conn, postgres.RightEdge(0, ())
        )
        assert isinstance(edge, postgres.RightEdge) and edge.size == 3
        # Only the right edge is kept, and it is exactly what the stored tree holds.
        stored = await postgres.read_hashes(conn, tree.tree_hash_needed(3))
        assert edge.edge == tuple(stored[i] for i in tree.tree_hash_needed(3))
        edge = await postgres.Batch([record(i) for i in range(3, 8)]).try_append(conn, edge)
        assert isinstance(edge, postgres.RightEdge) and edge.size == 8
    finally:
        await conn.close()
    assert await stored_root_matches_entries(admin) == 8


async def test_stale_edge_writes_nothing_and_locked_append_recovers(dbs: Databases):
    admin, dsn = await dbs.fresh_audit()
    conn = await asyncpg.connect(dsn)
    try:
        stale = await postgres.Batch([record(0), record(1)]).try_append(
            conn, postgres.RightEdge(0, ())
        )
        assert isinstance(stale, postgres.RightEdge)
        await postgres.Batch([record(2)]).try_append(conn, stale)  # "another writer" moves the log
        assert await postgres.Batch([record(3)]).try_append(conn, stale) == 3  # nothing written
        assert await postgres.size(conn) == 3  # the stale batch wrote neither entries nor hashes
        stored = await conn.fetchval("SELECT sum(length(hashes)) / 32 FROM audit.entries")
        assert stored == tree.stored_hash_count(3)
        async with conn.transaction():
            edge = await postgres.Batch([record(3)]).append_locked(conn)
        assert edge.size == 4
        # Or follow the other writer without the lock: the edge at the size it reported.
        await postgres.Batch([record(4), record(5)]).try_append(conn, edge)
        found = await postgres.Batch([record(6)]).try_append(conn, edge)
        assert found == 6
        followed = await postgres.Batch([record(6)]).try_append(
            conn, await postgres.edge_at(conn, found)
        )
        assert isinstance(followed, postgres.RightEdge) and followed.size == 7
        assert followed == await postgres.edge_at(conn, 7)
    finally:
        await conn.close()
    assert await stored_root_matches_entries(admin) == 7


async def test_writers_sharing_one_log_follow_each_other(dbs: Databases):
    admin, dsn = await dbs.fresh_audit()
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        writers = [AuditWriter(pool, max_batch=8) for _ in range(2)]
        for w in writers:
            await w.start()
        indexes = []
        for round_ in range(20):  # alternate, so each writer's remembered edge goes stale
            for n, w in enumerate(writers):
                batch = [record(1000 * n + 10 * round_ + i) for i in range(3)]
                indexes += await asyncio.gather(*(w.append(r) for r in batch))
        for w in writers:
            await w.close()
    assert sorted(indexes) == list(range(120))
    assert await stored_root_matches_entries(admin) == 120


async def test_two_processes_write_one_gapless_log(dbs: Databases):
    admin, dsn = await dbs.fresh_audit()
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.audit.append_worker",
            dsn,
            name,
            "300",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    outputs = [await p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), [err.decode()[-2000:] for _, err in outputs]
    got = [orjson.loads(out) for out, _ in outputs]
    assert len(set(got[0]) & set(got[1])) == 0
    assert sorted(got[0] + got[1]) == list(range(600))
    assert await stored_root_matches_entries(admin) == 600


async def test_writer_fails_closed_when_queue_is_full(dbs: Databases):
    _, dsn = await dbs.fresh_audit()
    async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
        writer = AuditWriter(pool, max_batch=1, max_queue=2)
        await writer.start()
        results = await asyncio.gather(
            *(writer.append(record(i)) for i in range(50)), return_exceptions=True
        )
        await writer.close()
    failures = [r for r in results if isinstance(r, Exception)]
    assert failures, "a bounded queue must refuse, not grow"
    assert all(getattr(f, "code", None) == "audit_unavailable" for f in failures)
    assert sorted(r for r in results if isinstance(r, int)) == list(
        range(len(results) - len(failures))
    )


@pytest.mark.parametrize("table", ["entries", "entry_facts", "checkpoints"])
async def test_proxy_role_may_only_insert_and_select(dbs: Databases, table: str):
    _, dsn = await dbs.fresh_audit()
    async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
        writer = AuditWriter(pool)
        await writer.start()
        await writer.append(record(0))
        await writer.close()
    conn = await asyncpg.connect(dsn)
    try:
        for sql in (
            f"UPDATE audit.{table} SET created_at = created_at"
            if table == "checkpoints"
            else f"UPDATE audit.{table} SET idx = idx",
            f"DELETE FROM audit.{table}",
            f"TRUNCATE audit.{table}",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit.entries SET body = 'x'::bytea",
        "DELETE FROM audit.entries",
        "TRUNCATE audit.entries CASCADE",
        "UPDATE audit.entries SET hashes = hashes",
        "UPDATE audit.entry_facts SET event = event",
        "DELETE FROM audit.entry_facts",
        "TRUNCATE audit.entry_facts",
    ],
)
async def test_triggers_reject_changes_even_for_superuser_and_replica_role(
    dbs: Databases, sql: str
):
    admin, dsn = await dbs.fresh_audit()
    async with asyncpg.create_pool(dsn, min_size=1, max_size=1) as pool:
        writer = AuditWriter(pool)
        await writer.start()
        await writer.append(record(0))
        await writer.close()
    conn = await asyncpg.connect(admin)
    try:
        assert await facts.catch_up(conn) == 1  # a fact, so that row triggers have a row
        # session_replication_role = replica skips ordinary triggers; ENABLE ALWAYS ones still fire.
        await conn.execute("SET session_replication_role = replica")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute(sql)
        assert await conn.fetchval("SELECT count(*) FROM audit.entries") == 1
    finally:
        await conn.close()


async def test_store_role_is_read_only(dbs: Databases):
    conn = await asyncpg.connect(dbs.store)
    try:
        assert await conn.fetchval("SELECT count(*) >= 0 FROM alpr.reads")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM alpr.reads")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO alpr.reads VALUES (999999, 'X', NULL, now(), 0, 0, 'c', 'o')"
            )
    finally:
        await conn.close()


async def test_waiter_gives_up_after_wait_timeout_but_its_entry_still_commits(dbs: Databases):
    admin, dsn = await dbs.fresh_audit()
    blocker = await asyncpg.connect(admin)
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        writer = AuditWriter(pool, wait_timeout_s=0.3)
        await writer.start()
        async with blocker.transaction():
            await blocker.execute("SELECT pg_advisory_xact_lock($1)", postgres.APPEND_LOCK)
            with pytest.raises(ProxyError) as failed:
                await writer.append(record(0))  # the batch waits for the lock
            assert failed.value.code == "audit_unavailable"
        # Lock released: the batch commits; the next waiter is answered normally.
        assert await writer.append(record(1)) == 1
        await writer.close()
    await blocker.close()
    assert await stored_root_matches_entries(admin) == 2
