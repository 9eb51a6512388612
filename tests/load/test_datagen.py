"""load.datagen against a real, migrated store: what it writes, and the indexes it leaves."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from load import datagen
from proxy.demo.city import CAMERA_PREFIX, UTC_PACIFIC_OFFSET, build_cameras
from tests.pg import Databases, fresh_store

END = datetime(2026, 3, 1, tzinfo=UTC)
READS = 20_000

_INDEXES = (
    "SELECT indexname, indexdef FROM pg_indexes"
    " WHERE schemaname = 'alpr' AND tablename = 'reads' ORDER BY indexname"
)
_DIGEST = (
    "SELECT md5(string_agg(concat_ws('|', id, plate, plate_state, observed_at, lat, lon,"
    " camera_id, agency_ori), ',' ORDER BY id)) FROM alpr.reads"
)


async def _fetch(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _generated(dbs: Databases, **kw: object) -> str:
    dsn, _ = await fresh_store(dbs)
    options: dict[str, object] = {"seed": 3, "end": END, "report": lambda _: None} | kw
    await datagen.generate(dsn, READS, **options)  # type: ignore[arg-type]
    return dsn


@pytest.fixture(scope="module")
async def store(dbs: Databases) -> str:
    return await _generated(dbs)


@pytest.fixture(scope="module")
async def migrated_indexes(dbs: Databases) -> list[tuple[str, str]]:
    dsn, _ = await fresh_store(dbs)
    return [(r["indexname"], r["indexdef"]) for r in await _fetch(dsn, _INDEXES)]


async def test_rows_satisfy_the_store_contract(store: str) -> None:
    [row] = await _fetch(
        store,
        "SELECT count(*) AS n, count(DISTINCT id) AS ids, min(id) AS lo, max(id) AS hi,"
        " count(*) FILTER (WHERE plate !~ '^[A-Z0-9]{1,10}$') AS bad_plates,"
        " count(*) FILTER (WHERE plate LIKE '%Q%') AS q_plates,"
        " count(*) FILTER (WHERE plate_state IS NOT NULL AND plate_state !~ '^[A-Z]{2}$')"
        "  AS bad_states,"
        " count(*) FILTER (WHERE plate_state IS NULL) AS no_state,"
        " count(DISTINCT plate_state) AS states"
        " FROM alpr.reads",
    )
    assert (row["n"], row["ids"], row["lo"], row["hi"]) == (READS, READS, 1, READS)
    assert row["bad_plates"] == row["q_plates"] == row["bad_states"] == 0
    assert 0 < row["no_state"] < READS * 0.05  # the reader now and then cannot tell
    assert row["states"] == 4
    # ids follow time: a store that appends reads as they come
    [back] = await _fetch(
        store,
        "SELECT count(*) AS n FROM (SELECT observed_at < lag(observed_at) OVER (ORDER BY id)"
        " AS earlier FROM alpr.reads) AS s WHERE earlier",
    )
    assert back["n"] == 0


async def test_two_years_with_a_daily_shape(store: str) -> None:
    [span] = await _fetch(
        store, "SELECT min(observed_at) AS lo, max(observed_at) AS hi FROM alpr.reads"
    )
    assert span["hi"] <= END
    assert timedelta(days=725) < span["hi"] - span["lo"] <= timedelta(days=730)
    hours = {
        int(r["h"]): int(r["n"])
        for r in await _fetch(
            store,
            "SELECT extract(hour FROM observed_at AT TIME ZONE 'UTC' - $1::interval) AS h,"
            " count(*) AS n FROM alpr.reads GROUP BY 1",
            UTC_PACIFIC_OFFSET,
        )
    }
    assert hours[8] + hours[17] > 5 * (hours[2] + hours[3])  # commutes, quiet nights


async def test_plates_are_skewed(store: str) -> None:
    counts = [
        int(r["n"])
        for r in await _fetch(
            store, "SELECT count(*) AS n FROM alpr.reads GROUP BY plate ORDER BY n DESC"
        )
    ]
    top = counts[: max(1, len(counts) // 100)]
    assert sum(top) > 0.15 * READS  # the top 1% of plates: commuters
    assert sorted(counts)[len(counts) // 2] <= 3  # the median car: read a few times
    assert len(counts) > READS // 20


async def test_reads_are_at_the_demo_city_cameras(store: str) -> None:
    cameras = {c.camera_id: c for c in build_cameras(datagen.CAMERA_SEED)}
    rows = await _fetch(store, "SELECT lat, lon, camera_id, agency_ori FROM alpr.reads")
    owners = set()
    for r in rows:
        cam = cameras[r["camera_id"]]
        assert r["agency_ori"] == cam.agency_ori
        north = (r["lat"] - cam.lat) * 111_320
        east = (r["lon"] - cam.lon) * 111_320 * math.cos(math.radians(cam.lat))
        assert abs(north) <= 10 and abs(east) <= 10  # metres: GPS jitter around the camera
        owners.add(r["agency_ori"])
    assert owners == set(CAMERA_PREFIX)  # all six owning agencies
    assert len({r["camera_id"] for r in rows}) > 0.9 * len(cameras)


async def test_all_indexes_are_the_migrations(
    store: str, migrated_indexes: list[tuple[str, str]]
) -> None:
    after = [(r["indexname"], r["indexdef"]) for r in await _fetch(store, _INDEXES)]
    assert after == migrated_indexes
    assert len(after) == 5
    [pk] = await _fetch(
        store,
        "SELECT conname FROM pg_constraint WHERE conrelid = 'alpr.reads'::regclass"
        " AND contype = 'p'",
    )
    assert pk["conname"] == "reads_pkey"


async def test_exact_keeps_the_primary_key_and_plate_index_only(
    dbs: Databases, migrated_indexes: list[tuple[str, str]]
) -> None:
    dsn = await _generated(dbs, indexes="exact", seed=4)
    after = [(r["indexname"], r["indexdef"]) for r in await _fetch(dsn, _INDEXES)]
    assert after == [i for i in migrated_indexes if i[0] in ("reads_pkey", datagen.EXACT_INDEX)]
    # The dropped definitions were remembered: a later full run restores the migration's set.
    await datagen.generate(dsn, 5000, seed=4, end=END, report=lambda _: None)
    assert [(r["indexname"], r["indexdef"]) for r in await _fetch(dsn, _INDEXES)] == (
        migrated_indexes
    )
    [n] = await _fetch(dsn, "SELECT count(*) AS n FROM alpr.reads")
    assert n["n"] == 5000  # replaced, not appended


async def test_deterministic_for_a_seed_whatever_the_jobs(
    dbs: Databases, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    again = await _generated(dbs, jobs=1)
    assert (await _fetch(again, _DIGEST)) == (await _fetch(store, _DIGEST))
    other = await _generated(dbs, seed=5)
    assert (await _fetch(other, _DIGEST)) != (await _fetch(store, _DIGEST))
    monkeypatch.setattr(datagen, "CHUNK", 3000)  # several chunks, spread over the jobs
    one, three = await _generated(dbs, jobs=1), await _generated(dbs, jobs=3)
    assert (await _fetch(one, _DIGEST)) == (await _fetch(three, _DIGEST))


async def test_sampled_hits_come_from_the_window_in_proportion_to_reads(store: str) -> None:
    since = END - timedelta(days=30)
    conn = await asyncpg.connect(store)
    try:
        hits = await datagen.sample_hit_plates(conn, since, 2000)
        in_window = {
            str(r["plate"]): int(r["n"])
            for r in await conn.fetch(
                "SELECT plate, count(*) AS n FROM alpr.reads WHERE observed_at >= $1"
                " GROUP BY plate",
                since,
            )
        }
    finally:
        await conn.close()
    assert len(hits) == 2000
    assert set(hits) <= set(in_window)
    # Drawn by read, not by plate: a sampled hit has more reads than the average plate.
    mean_per_plate = sum(in_window.values()) / len(in_window)
    assert sum(in_window[p] for p in hits) / len(hits) > 1.5 * mean_per_plate
