"""Area searches: overlap with sensitive locations in metres, the STRtree, event windows."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from proxy.policy.geo import EARTH_RADIUS_M, Circle, SensitiveLocation, haversine_m
from proxy.policy.geofence import GeofenceIndex
from tests.policy.brute import location_meets_circle

NOW = datetime(2026, 5, 1, 23, 0, tzinfo=UTC)
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def destination(lat: float, lon: float, bearing_deg: float, dist_m: float) -> tuple[float, float]:
    """Spherical direct problem: the point ``dist_m`` from (lat, lon) along ``bearing_deg``."""
    d = dist_m / EARTH_RADIUS_M
    b = math.radians(bearing_deg)
    p1 = math.radians(lat)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = math.radians(lon) + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), (math.degrees(l2) + 540.0) % 360.0 - 180.0


def circle(lat: float, lon: float, r: float, **kw: Any) -> SensitiveLocation:
    return SensitiveLocation(
        name=kw.pop("name", "c"), category="school", circle=Circle(lat, lon, r), **kw
    )


def rect(west: float, south: float, east: float, north: float, **kw: Any) -> SensitiveLocation:
    ring = ((west, south), (east, south), (east, north), (west, north))
    return SensitiveLocation(name=kw.pop("name", "p"), category="medical", polygon=ring, **kw)


def both(locs: list[SensitiveLocation]) -> list[GeofenceIndex]:
    """The same locations behind the linear scan and behind the STRtree."""
    scan = GeofenceIndex(locs, tree_threshold=10**9)
    tree = GeofenceIndex(locs, tree_threshold=0)
    assert not scan.uses_tree and tree.uses_tree
    return [scan, tree]


def hits(locs: list[SensitiveLocation], lat: float, lon: float, r: float) -> bool:
    found = {
        idx.overlapping(lat, lon, r, T0, T0 + timedelta(hours=1)) is not None for idx in both(locs)
    }
    assert len(found) == 1  # both paths agree
    return found.pop()


# --- circle against circle -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lon"), [(37.8012, -122.2710), (64.8378, -147.7164), (-33.8688, 151.2093), (0.0, 0.0)]
)
@pytest.mark.parametrize("bearing", [0.0, 45.0, 90.0, 200.0, 301.0])
@pytest.mark.parametrize(("r_loc", "r_search"), [(150.0, 200.0), (20.0, 5.0), (2000.0, 500.0)])
def test_circle_touching_boundary(
    lat: float, lon: float, bearing: float, r_loc: float, r_search: float
) -> None:
    locs = [circle(lat, lon, r_loc)]
    near = destination(lat, lon, bearing, r_loc + r_search - 0.5)
    far = destination(lat, lon, bearing, r_loc + r_search + 0.5)
    assert hits(locs, *near, r_search)
    assert not hits(locs, *far, r_search)


def test_circles_touching_exactly_count_as_overlap() -> None:
    lat, lon = 37.8012, -122.2710
    c = destination(lat, lon, 33.0, 350.0)
    half = haversine_m(lat, lon, *c) / 2  # half + half == the distance, exactly, in floats
    assert hits([circle(lat, lon, half)], *c, half)
    assert not hits([circle(lat, lon, half)], *c, half - 1e-6)


def test_circle_across_the_antimeridian() -> None:
    locs = [circle(0.0, -179.9995, 50.0)]
    assert hits(locs, 0.0, 179.9995, 100.0)  # centres ~111 m apart across the date line
    assert not hits(locs, 0.0, 179.9995, 55.0)


# --- circle against polygon ------------------------------------------------------------------

W, E = -122.2720, -122.2700


@pytest.mark.parametrize("south", [37.8, 64.8, -33.9, 0.0, 80.0])
@pytest.mark.parametrize("radius", [50.0, 300.0, 5000.0])
def test_polygon_edge_boundary(south: float, radius: float) -> None:
    north = south + 0.0018
    locs = [rect(W, south, E, north)]
    mid_lat, mid_lon = (south + north) / 2, (W + E) / 2
    # Leaving an edge at right angles, the edge's midpoint stays the nearest point of the polygon.
    for (lat, lon), bearing in [
        ((mid_lat, E), 90.0),  # east edge (a meridian)
        ((mid_lat, W), 270.0),  # west edge
        ((north, mid_lon), 0.0),  # north edge (a parallel)
        ((south, mid_lon), 180.0),  # south edge
    ]:
        assert hits(locs, *destination(lat, lon, bearing, radius - 0.5), radius), bearing
        assert not hits(locs, *destination(lat, lon, bearing, radius + 0.5), radius), bearing


def test_polygon_corner_and_slanted_edge() -> None:
    tri = SensitiveLocation(
        name="t",
        category="other",
        polygon=((-122.272, 37.80), (-122.268, 37.80), (-122.272, 37.803)),
    )
    # Corner: nearest point is the vertex itself, so distances are exact.
    for bearing in (200.0, 240.0, 260.0):
        assert hits([tri], *destination(37.80, -122.272, bearing, 99.5), 100.0)
        assert not hits([tri], *destination(37.80, -122.272, bearing, 100.5), 100.0)
    # Hypotenuse: leave its midpoint at right angles to its (initial) bearing.
    a, b = (37.80, -122.268), (37.803, -122.272)
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    p1, p2, dl = map(math.radians, (mid[0], b[0], b[1] - mid[1]))
    along = math.degrees(
        math.atan2(
            math.sin(dl) * math.cos(p2),
            math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl),
        )
    )
    out = along + 90.0  # b lies north-west of a: its right-hand side is outside
    assert hits([tri], *destination(*mid, out, 199.5), 200.0)
    assert not hits([tri], *destination(*mid, out, 200.5), 200.0)


def test_centre_inside_and_polygon_inside_circle() -> None:
    locs = [rect(W, 37.80, E, 37.8018)]
    assert hits(locs, 37.8009, -122.2710, 1.0)  # centre inside, tiny radius
    assert hits(locs, 37.8009, -122.2710, 50_000.0)  # circle swallows the polygon
    assert not hits(locs, 37.9, -122.2710, 1000.0)


def test_large_polygon_follows_lon_lat_edges_like_reads() -> None:
    # 76 km wide at 70 N: the great circle between the south corners runs ~300 m north of the
    # parallel that is the polygon's south edge (for reads, edges are straight in lon/lat).
    big = rect(0.0, 70.0, 2.0, 70.5, name="big")
    read = (70.0005, 1.0)  # ~55 m inside the south edge
    assert GeofenceIndex([big]).contains(*read, T0) is big
    centre = destination(70.0, 1.0, 180.0, 100.0)  # 100 m south of the edge
    assert hits([big], *centre, 160.0)  # the circle holds that read, so it must overlap
    assert not hits([big], *centre, 99.0)


def _sampled_distance(loc: SensitiveLocation, lat: float, lon: float) -> float:
    """Independent check: min haversine distance to points along the lon/lat edges."""
    assert loc.polygon is not None
    pts = loc.polygon
    best = math.inf
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True):
        for k in range(401):
            t = k / 400
            best = min(best, haversine_m(lat, lon, y1 + (y2 - y1) * t, x1 + (x2 - x1) * t))
    return best


def test_polygon_overlap_matches_sampled_distance() -> None:
    rng = random.Random(11)
    checked = 0
    for _ in range(300):
        west = rng.uniform(-123.0, -122.0)
        south = rng.uniform(-70.0, 70.0)
        loc = rect(west, south, west + rng.uniform(0.0005, 0.05), south + rng.uniform(0.0005, 0.05))
        lat, lon = destination(south, west, rng.uniform(0, 360), rng.uniform(0, 8000))
        r = rng.uniform(10, 4000)
        d = _sampled_distance(loc, lat, lon)
        inside = loc.polygon is not None and (
            west <= lon <= loc.polygon[1][0] and south <= lat <= loc.polygon[2][1]
        )
        # Sampling overestimates the distance by at most half a sample step; skip the near-ties.
        if inside or d < r - 5:
            assert location_meets_circle(loc, lat, lon, r)
            checked += 1
        elif d > r + 5:
            assert not location_meets_circle(loc, lat, lon, r)
            checked += 1
    assert checked > 250


# --- many locations: STRtree against brute force ---------------------------------------------


def _random_locations(rng: random.Random, n: int) -> list[SensitiveLocation]:
    locs: list[SensitiveLocation] = []
    for i in range(n):
        lat, lon = rng.uniform(37.75, 37.85), rng.uniform(-122.30, -122.20)
        start = T0 + timedelta(hours=rng.randint(-48, 48))
        window: dict[str, Any] = rng.choice(
            [{}, {"active_from": start, "active_until": start + timedelta(hours=rng.randint(1, 8))}]
        )
        if rng.random() < 0.5:
            locs.append(circle(lat, lon, rng.uniform(20, 400), name=f"c{i}", **window))
        else:
            dx, dy = rng.uniform(0.0003, 0.004), rng.uniform(0.0003, 0.004)
            locs.append(rect(lon, lat, lon + dx, lat + dy, name=f"p{i}", **window))
    return locs


def test_strtree_agrees_with_brute_force() -> None:
    rng = random.Random(2026)
    locs = _random_locations(rng, 200)
    tree = GeofenceIndex(locs)
    scan = GeofenceIndex(locs, tree_threshold=10**9)
    assert tree.uses_tree and not scan.uses_tree
    found = 0
    for _ in range(300):
        lat, lon = rng.uniform(37.74, 37.86), rng.uniform(-122.31, -122.19)
        r = rng.uniform(5, 600)
        start = T0 + timedelta(hours=rng.randint(-60, 60))
        end = start + timedelta(hours=rng.randint(0, 12))
        brute = next(
            (
                loc
                for loc in locs
                if loc.active_during(start, end) and location_meets_circle(loc, lat, lon, r)
            ),
            None,
        )
        assert tree.overlapping(lat, lon, r, start, end) is brute
        assert scan.overlapping(lat, lon, r, start, end) is brute
        found += brute is not None
    assert 50 < found < 250  # both outcomes are well represented


def test_first_listed_location_wins() -> None:
    a = circle(37.8, -122.27, 100.0, name="a")
    b = rect(-122.2705, 37.7995, -122.2695, 37.8005, name="b")
    for idx in both([b, a]):
        assert idx.overlapping(37.8, -122.27, 10.0, T0, NOW) is b
    for idx in both([a, b]):
        assert idx.overlapping(37.8, -122.27, 10.0, T0, NOW) is a


# --- event windows ---------------------------------------------------------------------------

EVENT_FROM = datetime(2026, 5, 1, 16, 0, tzinfo=UTC)
EVENT_UNTIL = datetime(2026, 5, 1, 22, 0, tzinfo=UTC)
S = timedelta(seconds=1)
US = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("start", "end", "active"),
    [
        (EVENT_FROM - timedelta(hours=2), EVENT_FROM, False),  # ends exactly at active_from
        (EVENT_UNTIL, EVENT_UNTIL + timedelta(hours=2), False),  # starts exactly at active_until
        (EVENT_FROM - timedelta(hours=2), EVENT_FROM - S, False),
        (EVENT_UNTIL + S, EVENT_UNTIL + timedelta(hours=1), False),
        (EVENT_FROM - timedelta(hours=2), EVENT_FROM + US, True),
        (EVENT_UNTIL - US, EVENT_UNTIL + timedelta(hours=1), True),
        (EVENT_FROM, EVENT_FROM + S, True),
        (EVENT_FROM + timedelta(hours=1), EVENT_FROM + timedelta(hours=2), True),  # inside
        (EVENT_FROM - timedelta(hours=1), EVENT_UNTIL + timedelta(hours=1), True),  # covers
    ],
)
def test_event_window_intersection(start: datetime, end: datetime, active: bool) -> None:
    event = circle(37.8, -122.27, 200.0, active_from=EVENT_FROM, active_until=EVENT_UNTIL)
    assert event.active_during(start, end) is active
    for idx in both([event]):
        assert (idx.overlapping(37.8, -122.27, 50.0, start, end) is event) is active


def test_open_ended_event_windows() -> None:
    since = circle(37.8, -122.27, 200.0, active_from=EVENT_FROM)
    until = circle(37.8, -122.27, 200.0, active_until=EVENT_UNTIL)
    far_past = EVENT_FROM - timedelta(days=400)
    far_future = EVENT_UNTIL + timedelta(days=400)
    assert not since.active_during(far_past, EVENT_FROM)
    assert since.active_during(far_future, far_future + S)
    assert until.active_during(far_past, far_past + S)
    assert not until.active_during(EVENT_UNTIL, far_future)
