from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
import shapely

from proxy.policy.geo import EARTH_RADIUS_M, Circle, SensitiveLocation, circle_bbox, haversine_m
from proxy.policy.geofence import GRID_CELL_DEG, GRID_THRESHOLD, GeofenceIndex

AT = datetime(2026, 5, 1, 18, 0, tzinfo=UTC)


def destination(
    lat: float, lon: float, bearing_deg: float, distance_m: float
) -> tuple[float, float]:
    """Spherical direct problem: the point `distance_m` from (lat, lon) along `bearing_deg`."""
    d = distance_m / EARTH_RADIUS_M
    b = math.radians(bearing_deg)
    p1 = math.radians(lat)
    l1 = math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(
        math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    lon2 = (math.degrees(l2) + 540.0) % 360.0 - 180.0
    return math.degrees(p2), lon2


def circle_loc(
    lat: float,
    lon: float,
    r: float,
    name: str = "c",
    active_from: datetime | None = None,
    active_until: datetime | None = None,
) -> SensitiveLocation:
    return SensitiveLocation(
        name=name,
        category="school",
        circle=Circle(lat, lon, r),
        active_from=active_from,
        active_until=active_until,
    )


def test_haversine_one_degree_of_latitude() -> None:
    assert haversine_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(
        EARTH_RADIUS_M * math.pi / 180, rel=1e-12
    )
    assert haversine_m(37.8, -122.27, 37.8, -122.27) == 0.0


@pytest.mark.parametrize(
    ("lat", "lon", "radius"),
    [
        (37.8012, -122.2710, 150.0),  # Lincoln Elementary, Oakland
        (37.8012, -122.2710, 5.0),
        (64.8378, -147.7164, 2000.0),  # Fairbanks: longitude degrees are short up here
        (-33.8688, 151.2093, 400.0),  # southern hemisphere
        (0.0, 179.9995, 300.0),  # straddles the antimeridian
    ],
)
@pytest.mark.parametrize("bearing", [0.0, 37.0, 90.0, 135.0, 180.0, 225.0, 270.0, 333.0])
def test_circle_inside_and_just_outside(
    lat: float, lon: float, radius: float, bearing: float
) -> None:
    index = GeofenceIndex([circle_loc(lat, lon, radius)])
    inside = destination(lat, lon, bearing, radius - 1.0)
    outside = destination(lat, lon, bearing, radius + 1.0)
    assert index.contains(*inside, AT) is not None
    assert index.contains(*outside, AT) is None


def test_circle_boundary_is_inside() -> None:
    lat, lon = 37.8012, -122.2710
    p = destination(lat, lon, 61.0, 150.0)
    exact = haversine_m(lat, lon, *p)  # the radius the point lies exactly on
    assert GeofenceIndex([circle_loc(lat, lon, exact)]).contains(*p, AT) is not None
    assert (
        GeofenceIndex([circle_loc(lat, lon, math.nextafter(exact, 0.0))]).contains(*p, AT) is None
    )


@pytest.mark.parametrize(
    ("lat", "lon", "radius"),
    [(37.8, -122.27, 150.0), (89.99, 10.0, 5000.0), (-60.0, -179.999, 1000.0), (10.0, 0.0, 3e6)],
)
def test_circle_bbox_contains_the_whole_circle(lat: float, lon: float, radius: float) -> None:
    min_lon, min_lat, max_lon, max_lat = circle_bbox(Circle(lat, lon, radius))
    for bearing in range(0, 360, 5):
        plat, plon = destination(lat, lon, float(bearing), radius)
        assert min_lat <= plat <= max_lat
        assert min_lon <= plon <= max_lon


SQUARE = ((-122.28, 37.80), (-122.27, 37.80), (-122.27, 37.81), (-122.28, 37.81))


@pytest.mark.parametrize(
    ("lat", "lon", "inside"),
    [
        (37.805, -122.275, True),  # centre
        (37.805, -122.27, True),  # on the east edge
        (37.80, -122.275, True),  # on the south edge
        (37.81, -122.28, True),  # on a vertex
        (37.805, -122.2699, False),  # ~9 m east
        (37.8101, -122.275, False),  # ~11 m north
        (37.0, -122.275, False),
    ],
)
def test_polygon_inside_edge_outside(lat: float, lon: float, inside: bool) -> None:
    loc = SensitiveLocation(name="clinic", category="medical", polygon=SQUARE)
    assert (GeofenceIndex([loc]).contains(lat, lon, AT) is loc) is inside


def test_concave_polygon_notch_is_outside() -> None:
    # A "U": the notch between the arms is inside the bbox but outside the polygon.
    u = (
        (0.0, 0.0),
        (3.0, 0.0),
        (3.0, 3.0),
        (2.0, 3.0),
        (2.0, 1.0),
        (1.0, 1.0),
        (1.0, 3.0),
        (0.0, 3.0),
    )
    index = GeofenceIndex([SensitiveLocation(name="u", category="other", polygon=u)])
    assert index.contains(2.0, 1.5, AT) is None  # lat 2, lon 1.5: in the notch
    assert index.contains(2.0, 0.5, AT) is not None  # left arm


def test_time_window_is_half_open() -> None:
    start = datetime(2026, 5, 1, 16, 0, tzinfo=UTC)
    end = datetime(2026, 5, 1, 22, 0, tzinfo=UTC)
    loc = circle_loc(37.8, -122.27, 200.0, active_from=start, active_until=end)
    index = GeofenceIndex([loc])
    tick = timedelta(microseconds=1)
    assert index.contains(37.8, -122.27, start - tick) is None
    assert index.contains(37.8, -122.27, start) is loc
    assert index.contains(37.8, -122.27, end - tick) is loc
    assert index.contains(37.8, -122.27, end) is None


def test_open_ended_windows_and_other_timezones() -> None:
    start = datetime(2026, 5, 1, 16, 0, tzinfo=UTC)
    only_from = GeofenceIndex([circle_loc(37.8, -122.27, 200.0, active_from=start)])
    only_until = GeofenceIndex([circle_loc(37.8, -122.27, 200.0, active_until=start)])
    pdt = datetime(2026, 5, 1, 9, 0, tzinfo=timezone(timedelta(hours=-7)))  # == 16:00 UTC
    assert only_from.contains(37.8, -122.27, pdt) is not None
    assert only_from.contains(37.8, -122.27, datetime(2030, 1, 1, tzinfo=UTC)) is not None
    assert only_until.contains(37.8, -122.27, pdt) is None
    assert only_until.contains(37.8, -122.27, datetime(2020, 1, 1, tzinfo=UTC)) is not None


def test_first_listed_location_wins() -> None:
    a = circle_loc(37.8, -122.27, 500.0, name="a")
    b = circle_loc(37.8, -122.27, 100.0, name="b")
    assert GeofenceIndex([a, b]).contains(37.8, -122.27, AT) is a
    assert GeofenceIndex([b, a]).contains(37.8, -122.27, AT) is b


def test_empty_index() -> None:
    index = GeofenceIndex([])
    assert len(index) == 0
    assert index.contains(37.8, -122.27, AT) is None


def _random_locations(rng: random.Random, n: int) -> list[SensitiveLocation]:
    locs: list[SensitiveLocation] = []
    for i in range(n):
        lat = rng.uniform(37.70, 37.90)
        lon = rng.uniform(-122.35, -122.15)
        start = until = None
        if i % 5 == 0:  # an event, active around AT or not
            start = AT - timedelta(hours=rng.randint(-3, 3))
            until = start + timedelta(hours=2)
        if i % 2:
            r = rng.uniform(20.0, 800.0)
            locs.append(circle_loc(lat, lon, r, f"c{i}", active_from=start, active_until=until))
        else:
            w, h = rng.uniform(0.0005, 0.01), rng.uniform(0.0005, 0.01)
            ring = ((lon, lat), (lon + w, lat), (lon + w, lat + h), (lon + w / 2, lat + h * 1.5))
            locs.append(
                SensitiveLocation(
                    name=f"p{i}",
                    category="medical",
                    polygon=ring,
                    active_from=start,
                    active_until=until,
                )
            )
    # Two county-sized zones: too big for per-cell registration, so they take the "wide" path.
    locs.insert(n // 3, circle_loc(37.75, -122.30, 30_000.0, name="wide1"))
    locs.append(circle_loc(37.85, -122.20, 25_000.0, name="wide2"))
    return locs


def _oracle(
    locs: list[SensitiveLocation], polys: list[object], lat: float, lon: float
) -> SensitiveLocation | None:
    """Straightforward reference: no boxes, no tree, no prepared geometry."""
    point = shapely.Point(lon, lat)
    for loc, poly in zip(locs, polys, strict=True):
        if not loc.active_at(AT):
            continue
        if loc.circle is not None:
            if haversine_m(loc.circle.lat, loc.circle.lon, lat, lon) <= loc.circle.radius_m:
                return loc
        elif poly is not None and shapely.covers(poly, point):
            return loc
    return None


def test_grid_matches_brute_force_on_random_points() -> None:
    rng = random.Random(20260501)
    locs = _random_locations(rng, 200)
    tree = GeofenceIndex(locs)
    linear = GeofenceIndex(locs, grid_threshold=10_000)
    assert len(locs) > GRID_THRESHOLD
    assert tree.uses_grid
    assert not linear.uses_grid
    polys = [shapely.Polygon(loc.polygon) if loc.polygon else None for loc in locs]
    hits = 0
    for _ in range(2000):
        lat, lon = rng.uniform(37.69, 37.91), rng.uniform(-122.36, -122.14)
        expected = _oracle(locs, polys, lat, lon)
        assert tree.contains(lat, lon, AT) is expected
        assert linear.contains(lat, lon, AT) is expected
        hits += expected is not None
    assert hits > 100  # the comparison exercised real matches, not just misses
    # Polygon vertices sit exactly on box edges, where grid cell boundaries could bite.
    for loc in locs:
        for lon, lat in loc.polygon or ():
            expected = _oracle(locs, polys, lat, lon)
            assert tree.contains(lat, lon, AT) is expected
            assert linear.contains(lat, lon, AT) is expected


def test_grid_without_wide_locations_and_on_cell_edges() -> None:
    rng = random.Random(7)
    locs = [loc for loc in _random_locations(rng, 60) if not loc.name.startswith("wide")]
    grid = GeofenceIndex(locs)
    assert grid.uses_grid
    polys = [shapely.Polygon(loc.polygon) if loc.polygon else None for loc in locs]
    # Points on exact multiples of the cell size, and random ones.
    points = [
        (37.70 + i * GRID_CELL_DEG / 4, -122.35 + j * GRID_CELL_DEG / 4)
        for i in range(41)
        for j in range(41)
    ]
    points += [(rng.uniform(37.69, 37.91), rng.uniform(-122.36, -122.14)) for _ in range(1500)]
    hits = 0
    for lat, lon in points:
        expected = _oracle(locs, polys, lat, lon)
        assert grid.contains(lat, lon, AT) is expected
        hits += expected is not None
    assert hits > 50
