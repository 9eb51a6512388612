"""Deferred rollups (sql/audit/005_deferred_rollups.sql, 006_lean_log.sql): audit.roll_up()
folds each entry's facts into the report rollups exactly once, whoever calls it and however
often; facts.catch_up derives the facts first."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from load.report_bench import synthetic_records
from proxy.audit import postgres
from proxy.oversight import facts
from tests.pg import Databases

RECORDS = list(synthetic_records(120, days=3, seed=11))


async def _totals(conn: asyncpg.Connection) -> tuple[int, int, int]:
    """(rolled-up searches, rolled-up reads, rolled-up user-days) for every agency (scope '')."""
    usage = await conn.fetchrow(
        "SELECT coalesce(sum(searches), 0) AS s, coalesce(sum(reads), 0) AS r"
        " FROM audit.daily_usage WHERE scope = ''"
    )
    users = await conn.fetchval(
        "SELECT coalesce(sum(searches), 0) FROM audit.daily_users WHERE scope = ''"
    )
    return int(usage["s"]), int(usage["r"]), int(users)


async def _expected(conn: asyncpg.Connection, below: int) -> tuple[int, int, int]:
    row = await conn.fetchrow(
        "SELECT count(*) AS s, coalesce(sum(reads_returned), 0) AS r FROM audit.entry_facts"
        " WHERE event = 'search' AND idx < $1",
        below,
    )
    return int(row["s"]), int(row["r"]), int(row["s"])


async def test_appends_leave_rollups_alone_until_roll_up(dbs: Databases):
    _, dsn = await dbs.fresh_audit()
    conn = await asyncpg.connect(dsn)  # the proxy's role
    try:
        async with conn.transaction():
            await postgres.append(conn, RECORDS[:50])
        assert await _totals(conn) == (0, 0, 0)  # nothing on the append path
        assert await conn.fetchval("SELECT next_idx FROM audit.rollup_progress") == 0
        assert await conn.fetchval("SELECT audit.roll_up()") == 0  # it folds in facts only
        assert await facts.catch_up(conn) == 50
        assert await _totals(conn) == await _expected(conn, 50)
        assert await conn.fetchval("SELECT next_idx FROM audit.rollup_progress") == 50

        async with conn.transaction():
            await postgres.append(conn, RECORDS[50:80])
        assert await facts.catch_up_facts(conn) == 80
        assert await conn.fetchval("SELECT audit.roll_up()") == 80
        assert await conn.fetchval("SELECT audit.roll_up()") == 80  # nothing twice
        assert await facts.catch_up(conn) == 80
        assert await _totals(conn) == await _expected(conn, 80)
        searches, _, _ = await _totals(conn)
        assert searches == 80
    finally:
        await conn.close()


async def test_concurrent_roll_ups_during_appends_count_each_entry_once(dbs: Databases):
    _, dsn = await dbs.fresh_audit()
    async with asyncpg.create_pool(dsn, min_size=4, max_size=4) as pool:

        async def appender() -> None:
            for i in range(0, len(RECORDS), 8):
                async with pool.acquire() as conn, conn.transaction():
                    await postgres.append(conn, RECORDS[i : i + 8])

        async def roller() -> None:
            for _ in range(15):
                async with pool.acquire() as conn:
                    await facts.catch_up(conn, chunk=7)
                await asyncio.sleep(0)

        await asyncio.gather(appender(), roller(), roller())
        async with pool.acquire() as conn:
            assert await facts.catch_up(conn) == len(RECORDS)
        async with pool.acquire() as conn:
            assert await _totals(conn) == await _expected(conn, len(RECORDS))


async def _rollup_rows(conn: asyncpg.Connection) -> dict[str, list[tuple[object, ...]]]:
    tables = ("daily_usage", "daily_disclosures", "daily_users", "monthly_users",
              "justification_totals", "hour_index_range")  # fmt: skip
    return {
        t: sorted((tuple(r) for r in await conn.fetch(f"SELECT * FROM audit.{t}")), key=repr)
        for t in tables
    }


async def test_rolling_up_in_steps_gives_the_rollups_of_one_roll_up(
    dbs: Databases, monkeypatch: pytest.MonkeyPatch
):
    _, stepped_dsn = await dbs.fresh_audit()
    _, whole_dsn = await dbs.fresh_audit()
    stepped, whole = await asyncpg.connect(stepped_dsn), await asyncpg.connect(whole_dsn)
    try:
        for conn in (stepped, whole):
            async with conn.transaction():
                await postgres.append(conn, RECORDS)
            assert await facts.catch_up_facts(conn) == len(RECORDS)
        # audit.roll_up(n) folds in at most n more entries and says how far it got.
        assert await stepped.fetchval("SELECT audit.roll_up(25)") == 25
        assert await stepped.fetchval("SELECT audit.roll_up(25)") == 50
        assert await _totals(stepped) == await _expected(stepped, 50)
        # The background catch-up goes on in paced steps to the end.
        monkeypatch.setattr(facts, "ROLLUP_STEP", 17)
        assert await facts.catch_up(stepped, paced=True) == len(RECORDS)
        assert await stepped.fetchval("SELECT next_idx FROM audit.rollup_progress") == 120
        assert await whole.fetchval("SELECT audit.roll_up()") == len(RECORDS)
        assert await _rollup_rows(stepped) == await _rollup_rows(whole)
    finally:
        await stepped.close()
        await whole.close()


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO audit.daily_usage VALUES (current_date, '*', 'A', 'P', 'allowed', '', 1, 1)",
        "UPDATE audit.rollup_progress SET next_idx = 0",
    ],
)
async def test_proxy_role_cannot_write_rollups_directly(dbs: Databases, statement: str):
    _, dsn = await dbs.fresh_audit()
    conn = await asyncpg.connect(dsn)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()
