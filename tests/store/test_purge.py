"""The purge deletes only from the table `alpr-proxy migrate` made, as a role allowed to, and
exactly the reads past each owner's cutoff, in batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from proxy.migrate import migrate
from proxy.policy import parse_policy
from proxy.store.purge import (
    Cutoffs,
    PurgeRefused,
    check_store,
    count_due,
    delete_due,
    exclusive,
)
from tests.pg import PURGE_ROLE, Databases, as_role, fresh_store, with_db
from tests.policy.test_retention import TEXT

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
OAK, UNION, BRK, UNKNOWN = "CA0010900", "CA0011000", "CA0010800", "ZZ9999999"
POLICY = parse_policy(TEXT.encode())  # UNION keeps 21 days of its own; the global one is 365
COLUMNS = ["id", "plate", "plate_state", "observed_at", "lat", "lon", "camera_id", "agency_ori"]
# id -> (owner, age in days)
ROWS = {
    1: (UNION, 1),
    2: (UNION, 21),  # exactly at its cutoff: kept
    3: (UNION, 22),
    4: (UNION, 300),
    5: (OAK, 22),
    6: (OAK, 365),
    7: (OAK, 366),
    8: (BRK, 366),  # 400 days of its own cannot lengthen 365
    9: (UNKNOWN, 364),  # not in the policy: the global retention
    10: (UNKNOWN, 500),
}
DUE = {3, 4, 7, 8, 10}


async def seed(admin: str, rows: dict[int, tuple[str, int]]) -> None:
    conn = await asyncpg.connect(admin)
    try:
        records = [
            (i, "PURGE1", "CA", NOW - timedelta(days=age), 37.8, -122.2, "CAM", owner)
            for i, (owner, age) in rows.items()
        ]
        await conn.copy_records_to_table(
            "reads", schema_name="alpr", records=records, columns=COLUMNS
        )
    finally:
        await conn.close()


async def ids(admin: str) -> set[int]:
    conn = await asyncpg.connect(admin)
    try:
        return {r[0] for r in await conn.fetch("SELECT id FROM alpr.reads")}
    finally:
        await conn.close()


async def test_batches_delete_exactly_the_reads_past_each_owners_cutoff(dbs: Databases):
    admin, _ = await fresh_store(dbs)
    await seed(admin, ROWS)
    conn = await asyncpg.connect(as_role(admin, PURGE_ROLE))
    try:
        await check_store(conn)
        cutoffs = Cutoffs.of(POLICY, NOW)
        assert await count_due(conn, cutoffs) == {UNION: 2, OAK: 1, BRK: 1, UNKNOWN: 1}
        batches = [b async for b in delete_due(conn, cutoffs, batch=2)]
        again = [b async for b in delete_due(conn, cutoffs, batch=2)]
    finally:
        await conn.close()
    assert [sum(b.values()) for b in batches] == [2, 2, 1]  # bounded: never more than 2
    total: dict[str, int] = {}
    for b in batches:
        for owner, n in b.items():
            total[owner] = total.get(owner, 0) + n
    assert total == {UNION: 2, OAK: 1, BRK: 1, UNKNOWN: 1}
    assert await ids(admin) == set(ROWS) - DUE
    assert again == [{}]  # idempotent


async def test_the_read_only_store_role_is_refused(dbs: Databases):
    _, read_only = await fresh_store(dbs)
    conn = await asyncpg.connect(read_only)
    try:
        with pytest.raises(PurgeRefused, match="may not DELETE"):
            await check_store(conn)
    finally:
        await conn.close()


async def _database(dbs: Databases, name: str) -> str:
    conn = await asyncpg.connect(dbs.admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{dbs.prefix}_{name}"')
    finally:
        await conn.close()
    return with_db(dbs.admin_dsn, f"{dbs.prefix}_{name}")


async def test_a_store_migrate_did_not_create_is_refused_even_to_a_superuser(dbs: Databases):
    # An operator's own table, never migrated: no bookkeeping.
    own = await _database(dbs, "own_table")
    conn = await asyncpg.connect(own)
    try:
        await conn.execute("CREATE SCHEMA alpr; CREATE TABLE alpr.reads (id bigint)")
        with pytest.raises(PurgeRefused, match="no record of `alpr-proxy migrate`"):
            await check_store(conn)
    finally:
        await conn.close()
    # A view over reads kept elsewhere, then migrated: migrate left the view be.
    view = await _database(dbs, "view_store")
    conn = await asyncpg.connect(view)
    try:
        await conn.execute(
            "CREATE SCHEMA elsewhere; CREATE TABLE elsewhere.r (id bigint, plate text,"
            " plate_state text, observed_at timestamptz, lat float8, lon float8,"
            " camera_id text, agency_ori text);"
            " CREATE SCHEMA alpr; CREATE VIEW alpr.reads AS SELECT * FROM elsewhere.r"
        )
        await migrate(view, "store")
        with pytest.raises(PurgeRefused, match="not the table"):
            await check_store(conn)
    finally:
        await conn.close()
    purge = await asyncpg.connect(as_role(view, PURGE_ROLE))
    try:  # and the purge role was granted nothing on it
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await purge.execute("DELETE FROM alpr.reads")
    finally:
        await purge.close()


async def test_the_purge_role_can_touch_nothing_but_the_reads(dbs: Databases):
    admin, _ = await fresh_store(dbs)
    conn = await asyncpg.connect(as_role(admin, PURGE_ROLE))
    try:
        for sql in (
            "INSERT INTO alpr.reads VALUES (1, 'A1', NULL, now(), 0, 0, 'c', 'CA0010900')",
            "UPDATE alpr.reads SET plate = 'X'",
            "DELETE FROM public.alpr_proxy_migrations",
            "CREATE TABLE alpr.mine (id int)",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
    finally:
        await conn.close()


async def test_two_purges_do_not_run_at_once(dbs: Databases):
    admin, _ = await fresh_store(dbs)
    first = await asyncpg.connect(as_role(admin, PURGE_ROLE))
    second = await asyncpg.connect(as_role(admin, PURGE_ROLE))
    try:
        await exclusive(first)
        with pytest.raises(PurgeRefused, match="another purge"):
            await exclusive(second)
    finally:
        await first.close()
        await second.close()


async def test_reads_at_one_instant_split_across_batches_all_go(dbs: Databases):
    """A batch resumes at the newest time the previous one deleted, not after it: reads that
    share that instant and did not fit in the batch are deleted by the next."""
    admin, _ = await fresh_store(dbs)
    await seed(admin, {i: (OAK, 400) for i in range(1, 6)} | {9: (OAK, 1)})
    conn = await asyncpg.connect(as_role(admin, PURGE_ROLE))
    try:
        batches = [b async for b in delete_due(conn, Cutoffs.of(POLICY, NOW), batch=2)]
    finally:
        await conn.close()
    assert batches == [{OAK: 2}, {OAK: 2}, {OAK: 1}]
    assert await ids(admin) == {9}
