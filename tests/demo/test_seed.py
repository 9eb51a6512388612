"""The synthetic reads and the demo city, without a database."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import shapely

from proxy.demo.city import SITES, Site, build_cameras, distance_m
from proxy.demo.policy import DEMO_PLATE
from proxy.demo.seed import COLUMNS, DEMO_PLATE_READS, ReadRow, generate_reads

NOW = datetime(2026, 3, 15, 19, 30, 12, tzinfo=UTC)
COUNT = 20_000
PLATE = re.compile(r"^[A-Z0-9]{1,10}$")
ALWAYS_SENSITIVE = [s for s in SITES if s.event is None]


@pytest.fixture(scope="module")
def reads() -> list[ReadRow]:
    return list(generate_reads(count=COUNT, seed=7, now=NOW))


def inside(site: Site, lat: float, lon: float) -> bool:
    if site.polygon is not None:
        return bool(shapely.Polygon(site.polygon).contains(shapely.Point(lon, lat)))
    assert site.radius_m is not None
    return distance_m(site.lat, site.lon, lat, lon) <= site.radius_m


def test_deterministic_for_a_seed(reads: list[ReadRow]) -> None:
    assert list(generate_reads(count=COUNT, seed=7, now=NOW)) == reads
    other = list(generate_reads(count=COUNT, seed=8, now=NOW))
    assert other != reads
    assert build_cameras(3) == build_cameras(3) != build_cameras(4)


def test_rows_fit_the_store_contract(reads: list[ReadRow]) -> None:
    assert len(COLUMNS) == len(reads[0]) == 8
    assert len(reads) == COUNT
    assert sorted(r[0] for r in reads) == list(range(1, COUNT + 1))
    for rid, plate, state, at, lat, lon, camera, ori in reads:
        assert isinstance(rid, int)
        assert PLATE.match(plate), plate
        assert state is None or re.fullmatch(r"[A-Z]{2}", state)
        assert at.tzinfo is not None and at.utcoffset() == timedelta(0)
        assert NOW - timedelta(days=730) <= at <= NOW
        assert 37.6 < lat < 38.0 and -122.4 < lon < -122.0
        assert camera and re.fullmatch(r"CA\d{7}", ori)


def test_time_ordered_and_spread_over_two_years(reads: list[ReadRow]) -> None:
    times = [r[3] for r in reads]
    assert times == sorted(times)
    assert times[0] < NOW - timedelta(days=700)
    assert times[-1] > NOW - timedelta(days=1)


def test_plates_realistic_and_skewed(reads: list[ReadRow]) -> None:
    per_plate = Counter(r[1] for r in reads)
    counts = sorted(per_plate.values(), reverse=True)
    assert counts[0] > 100  # daily commuters
    assert counts[len(counts) // 2] <= 2  # most cars pass rarely
    states = Counter(r[2] for r in reads)
    assert states["CA"] > 0.8 * COUNT
    assert {"NV", "OR", "AZ", None} <= set(states)
    ca_standard = sum(bool(re.fullmatch(r"\d[A-Z]{3}\d{3}", r[1])) for r in reads)
    assert ca_standard > 0.7 * COUNT


def test_reads_jittered_a_few_metres_around_their_camera(reads: list[ReadRow]) -> None:
    cameras = {c.camera_id: c for c in build_cameras(7)}
    for _, _, _, _, lat, lon, camera_id, ori in reads[:2000]:
        cam = cameras[camera_id]
        assert cam.agency_ori == ori
        assert distance_m(cam.lat, cam.lon, lat, lon) < 15


def test_cameras() -> None:
    cameras = build_cameras()
    assert len(cameras) == 300
    assert len({c.camera_id for c in cameras}) == 300
    owners = Counter(c.agency_ori for c in cameras)
    assert len(owners) >= 5
    assert owners.most_common(1)[0][0] == "CA0010900"  # Oakland PD runs most
    sites = {s.name: s for s in SITES}
    at_sites = [c for c in cameras if c.site is not None]
    assert {c.site for c in at_sites} == set(sites)
    for cam in at_sites:
        assert cam.site is not None
        assert inside(sites[cam.site], cam.lat, cam.lon), cam


def test_demo_plate(reads: list[ReadRow]) -> None:
    demo = [r for r in reads if r[1] == DEMO_PLATE]
    assert len(demo) == DEMO_PLATE_READS
    assert len({r[7] for r in demo}) >= 3
    assert any(any(inside(s, r[4], r[5]) for s in ALWAYS_SENSITIVE) for r in demo)
    assert sum(r[3] < NOW - timedelta(days=365) for r in demo) >= 2
    assert any(r[3] > NOW - timedelta(days=90) for r in demo)


def test_demo_plate_read_during_the_protest(reads: list[ReadRow]) -> None:
    (protest,) = [s for s in SITES if s.category == "protest"]
    assert protest.event is not None
    start, end = protest.event.window(NOW)
    demo = [r for r in reads if r[1] == DEMO_PLATE and inside(protest, r[4], r[5])]
    assert any(start <= r[3] < end for r in demo)


def test_some_other_plates_seen_at_sensitive_sites(reads: list[ReadRow]) -> None:
    seen = {
        r[1]
        for r in reads
        if r[1] != DEMO_PLATE and any(inside(s, r[4], r[5]) for s in ALWAYS_SENSITIVE)
    }
    assert len(seen) > 10


def test_now_must_be_aware_and_count_large_enough() -> None:
    with pytest.raises(ValueError, match="aware"):
        generate_reads(count=COUNT, now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="at least"):
        generate_reads(count=DEMO_PLATE_READS - 1, now=NOW)


def test_small_count_is_exact() -> None:
    rows = list(generate_reads(count=DEMO_PLATE_READS + 5, seed=1, now=NOW))
    assert len(rows) == DEMO_PLATE_READS + 5
