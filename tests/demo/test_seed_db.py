"""seed_reads against a real store: COPY, counts, idempotent re-runs."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from proxy.demo.policy import DEMO_PLATE
from proxy.demo.seed import DEMO_PLATE_READS, seed_reads
from tests.pg import Databases, fresh_store

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)


async def test_seed_fills_store_once(dbs: Databases):
    admin, _ = await fresh_store(dbs)
    conn = await asyncpg.connect(admin)
    try:
        summary = await seed_reads(conn, count=5000, now=NOW)
        assert not summary.already_seeded
        assert await conn.fetchval("SELECT count(*) FROM alpr.reads") == summary.total_reads
        assert summary.total_reads >= 5000
        assert (
            await conn.fetchval("SELECT count(*) FROM alpr.reads WHERE plate = $1", DEMO_PLATE)
            == DEMO_PLATE_READS
        )
        owners = await conn.fetchval("SELECT count(DISTINCT agency_ori) FROM alpr.reads")
        assert owners >= 4
        assert await conn.fetchval("SELECT max(observed_at) FROM alpr.reads") <= NOW
        again = await seed_reads(conn, count=5000, now=NOW)
        assert again.already_seeded and again.total_reads == summary.total_reads
    finally:
        await conn.close()
