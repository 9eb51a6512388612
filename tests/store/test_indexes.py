"""Every store query can be served by an index: none needs a scan of the whole table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest

from proxy.store import postgres as reads
from tests.pg import Databases, fresh_store

NOW = datetime(2026, 6, 15, tzinfo=UTC)


def scans(plan: object) -> set[str]:
    """Node types of every plan node, with the relation for scans."""
    found: set[str] = set()

    def walk(node: dict[str, object]) -> None:
        found.add(f"{node['Node Type']}:{node.get('Index Name', node.get('Relation Name', ''))}")
        for child in node.get("Plans", []):  # type: ignore[attr-defined]
            walk(child)

    walk(plan[0]["Plan"])  # type: ignore[index]
    return found


@pytest.fixture(scope="module")
async def store(dbs: Databases) -> str:
    admin, _ = await fresh_store(dbs)
    conn = await asyncpg.connect(admin)
    try:
        await conn.copy_records_to_table(
            "reads",
            schema_name="alpr",
            records=[
                (
                    i,
                    f"{i % 997:03d}ABC{i % 7}",
                    "CA",
                    NOW - timedelta(minutes=i),
                    37.8 + (i % 100) / 1000,
                    -122.27 + (i % 50) / 1000,
                    "CAM",
                    "CA0010900",
                )
                for i in range(5000)
            ],
        )
        await conn.execute("ANALYZE alpr.reads")
    finally:
        await conn.close()
    return admin


PLATE_INDEXES = ("reads_plate_observed_idx", "reads_plate_trgm_idx", "reads_observed_idx")
OWNERS = ["CA0010900", "CA0010000"]  # the owners a search may receive (Scope.owners)
CUTOFF = NOW - timedelta(days=365)  # the retention cutoff
BOX = asyncpg.types.Box((-122.25, 37.82), (-122.27, 37.80))

# (statement, its arguments after $1..$3) for the fetch and the withheld count of each type.
STATEMENTS = {
    "exact": (reads.fetch_sql(reads.EXACT, state=False), (OWNERS, 100)),
    "exact_state": (reads.fetch_sql(reads.EXACT, state=True), (OWNERS, 100, "CA")),
    "exact_count": (reads.count_sql(reads.EXACT), (OWNERS, 100, CUTOFF)),
    "exact_state_count": (reads.count_sql(reads.EXACT, state=True), (OWNERS, 100, "CA", CUTOFF)),
    "pattern": (reads.fetch_sql(reads.PATTERN, state=False), (OWNERS, 100)),
    "pattern_count": (reads.count_sql(reads.PATTERN), (OWNERS, 100, CUTOFF)),
    # Owners with a retention of their own: two arrays more, the same index paths.
    "exact_own": (
        reads.fetch_sql(reads.EXACT, state=False, owner_cutoffs=True),
        (OWNERS, 100, OWNERS[:1], [NOW - timedelta(days=21)]),
    ),
    "exact_own_count": (
        reads.count_sql(reads.EXACT, owner_cutoffs=True),
        (OWNERS, 100, CUTOFF, OWNERS[:1], [NOW - timedelta(days=21)]),
    ),
    "pattern_own": (
        reads.fetch_sql(reads.PATTERN, state=False, owner_cutoffs=True),
        (OWNERS, 100, OWNERS[:1], [NOW - timedelta(days=21)]),
    ),
}


async def explain(store: str, sql: str, *args: object) -> set[str]:
    conn = await asyncpg.connect(store)
    try:
        await conn.execute("SET enable_seqscan = off")  # would the planner have an index path?
        plan = orjson.loads(await conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args))
    finally:
        await conn.close()
    return scans(plan)


PLATE_CASES = [
    (name, key)
    for name in sorted(STATEMENTS)
    for key in (("%23AB%", "1_3A%") if name.startswith("pattern") else ("123ABC4",))
]


@pytest.mark.parametrize(("name", "key"), PLATE_CASES)
async def test_plate_queries_use_an_index(store: str, name: str, key: str):
    """The owner and retention conditions keep an index path: every plate statement, fetch
    and count, with and without a state, is served by a plate index, never a table scan."""
    sql, rest = STATEMENTS[name]
    nodes = await explain(store, sql, key, NOW - timedelta(days=30), NOW, *rest)
    assert not any(n.startswith("Seq Scan") for n in nodes), nodes
    assert any(i in n for n in nodes for i in PLATE_INDEXES), nodes


async def test_trigram_index_serves_infix_patterns(store: str):
    """Without the btree paths, an infix pattern still has an index path: trigrams."""
    conn = await asyncpg.connect(store)
    try:
        tr = conn.transaction()
        await tr.start()
        await conn.execute("SET LOCAL enable_seqscan = off")
        # DDL is transactional: the indexes come back at ROLLBACK.
        await conn.execute(
            "DROP INDEX alpr.reads_observed_idx, alpr.reads_plate_observed_idx,"
            " alpr.reads_location_time_idx"
        )
        sql, rest = STATEMENTS["pattern"]
        plan = orjson.loads(
            await conn.fetchval(
                "EXPLAIN (FORMAT JSON) " + sql, "%23AB%", NOW - timedelta(days=30), NOW, *rest
            )
        )
        await tr.rollback()
    finally:
        await conn.close()
    assert any("reads_plate_trgm_idx" in n for n in scans(plan)), scans(plan)


@pytest.mark.parametrize(
    ("sql", "rest"),
    [
        (reads.fetch_sql(reads.AREA, state=False), (OWNERS, 100)),
        (reads.count_sql(reads.AREA, circle=True), (OWNERS, 100, 37.81, -122.26, 200.0, CUTOFF)),
    ],
)
async def test_area_queries_use_the_location_time_index(store: str, sql: str, rest: tuple):
    nodes = await explain(store, sql, BOX, NOW - timedelta(hours=6), NOW, *rest)
    assert not any(n.startswith("Seq Scan") for n in nodes), nodes
    assert any("reads_location_time_idx" in n for n in nodes), nodes


def test_bounding_box_contains_the_circle():
    from proxy.policy.geo import haversine_m

    lat, lon, r = 37.8, -122.27, 500.0
    box = reads.area_box(lat, lon, r)
    (max_lon, max_lat), (min_lon, min_lat) = box.high, box.low
    # Points exactly r away due north, south, east and west lie inside the box.
    assert haversine_m(lat, lon, max_lat, lon) > r and haversine_m(lat, lon, min_lat, lon) > r
    assert haversine_m(lat, lon, lat, max_lon) > r and haversine_m(lat, lon, lat, min_lon) > r


async def test_a_purge_batch_is_an_index_range_scan_in_time_order(store: str):
    """`retention purge` walks reads_observed_idx oldest first and resumes where the last batch
    ended: no scan of the whole table, no sort of the range."""
    from proxy.policy import parse_policy
    from proxy.store.purge import DELETE_SQL, Cutoffs
    from tests.policy.test_retention import TEXT

    args = (*Cutoffs.of(parse_policy(TEXT.encode()), NOW).args(), 10_000, NOW - timedelta(days=2))
    nodes = await explain(store, DELETE_SQL, *args)
    assert "Index Scan:reads_observed_idx" in nodes, nodes
    assert not any(n.startswith(("Seq Scan", "Sort")) for n in nodes), nodes
