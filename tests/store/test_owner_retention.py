"""The store applies each owner's own retention in SQL (SPEC §11): a read of an owner past its
cutoff is neither fetched nor counted as anything but `retention`, for every search type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from proxy.model import Area, SearchQuery
from proxy.store.base import Scope, Withheld
from proxy.store.postgres import PostgresStore
from tests.pg import Databases, fresh_store

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
OAK, UNION, BRK = "CA0010900", "CA0011000", "CA0010800"
HERE = (37.81, -122.26)
COLUMNS = ["id", "plate", "plate_state", "observed_at", "lat", "lon", "camera_id", "agency_ori"]
# id, owner, age in days. UNION keeps 21 days of its own; the global retention is 365.
ROWS = [
    (1, UNION, 1),
    (2, UNION, 10),
    (3, UNION, 20),
    (4, UNION, 22),
    (5, UNION, 30),
    (6, UNION, 400),
    (7, OAK, 1),
    (8, OAK, 22),
    (9, OAK, 400),
    (10, BRK, 5),  # BRK does not share with this search
    (11, BRK, 22),
]


@pytest.fixture(scope="module")
async def store(dbs: Databases) -> str:
    admin, read_only = await fresh_store(dbs)
    conn = await asyncpg.connect(admin)
    try:
        await conn.copy_records_to_table(
            "reads",
            schema_name="alpr",
            records=[
                (i, "RET1", "CA", NOW - timedelta(days=age), *HERE, "CAM", owner)
                for i, owner, age in ROWS
            ],
            columns=COLUMNS,
        )
    finally:
        await conn.close()
    return read_only


def _query(**match: object) -> SearchQuery:
    start = NOW - timedelta(days=500)
    return SearchQuery(type="plate", from_=start, to=NOW, purpose="HOMICIDE", **match)  # type: ignore[arg-type]


QUERIES = {
    "exact": _query(plate="RET1"),
    "exact_state": _query(plate="RET1", plate_state="CA"),
    "pattern": _query(pattern="RET1*"),
    "area": _query(area=Area(*HERE, 100.0)),
}


async def _search(dsn: str, query: SearchQuery, scope: Scope, limit: int = 100):
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        return await PostgresStore(pool).search(query, scope, limit)
    finally:
        await pool.close()


@pytest.mark.parametrize("kind", sorted(QUERIES))
async def test_each_owners_cutoff_applies_in_the_fetch_and_the_count(store: str, kind: str):
    scope = Scope((OAK, UNION), NOW - timedelta(days=365), {UNION: NOW - timedelta(days=21)})
    fetched = await _search(store, QUERIES[kind], scope)
    assert sorted(r.id for r in fetched.reads) == [1, 2, 3, 7, 8]
    # Past retention: UNION's 22, 30 and 400 days old, OAK's 400; BRK's two do not share.
    assert fetched.withheld == Withheld(retention=4, sharing=2, limit_reached=False)


async def test_without_owner_cutoffs_only_the_global_one_applies(store: str):
    scope = Scope((OAK, UNION), NOW - timedelta(days=365))
    fetched = await _search(store, QUERIES["exact"], scope)
    assert sorted(r.id for r in fetched.reads) == [1, 2, 3, 4, 5, 7, 8]
    assert fetched.withheld == Withheld(retention=2, sharing=2, limit_reached=False)


async def test_a_non_sharing_owners_reads_past_its_own_retention_count_as_retention(store: str):
    """Retention is decided first, as in the filter: BRK's 22-day-old read, past a 21-day
    retention of its own, is `retention`, not `sharing`."""
    scope = Scope((OAK,), NOW - timedelta(days=365), {BRK: NOW - timedelta(days=21)})
    fetched = await _search(store, QUERIES["exact"], scope)
    assert sorted(r.id for r in fetched.reads) == [7, 8]
    # retention: UNION 400, OAK 400, BRK 22; sharing: UNION 1..30 (5), BRK 5.
    assert fetched.withheld == Withheld(retention=3, sharing=6, limit_reached=False)
