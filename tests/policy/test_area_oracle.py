"""The area-search refusal is not a location oracle (issue 13, item 2).

The red team found a shelter's centre to 0.0 m: coarse probes, then 1 m circles bisecting the
edge of the refused region. Refusals now answer for a disk around the point of a public 400 m
grid nearest the location (proxy.policy.area), so every location in the same grid square gives
the very same answers, and probing recovers that square, never the location inside it."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from proxy.model import Area, Principal, SearchQuery
from proxy.policy import Refused, decide, parse_policy
from proxy.policy.geo import CATEGORIES, EARTH_RADIUS_M, Circle, SensitiveLocation
from proxy.policy.geofence import GeofenceIndex
from tests.policy.brute import location_meets_circle

NOW = datetime(2026, 5, 1, 23, 0, tzinfo=UTC)
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
USER = Principal(sub="det.a", ori="CA0010900", roles=frozenset({"investigator"}), expires_at=0.0)
GRID_M = 400.0  # the documented precision: the location is known only to its grid square
M_PER_DEG = math.pi * EARTH_RADIUS_M / 180


def policy_with(locations: str) -> bytes:
    return f"""
[settings]
retention_days = 365
max_results = 100
justification_min_chars = 10
rate_limit_per_minute = 60

[[agencies]]
ori = "CA0010900"
name = "Oakland Police Department"
kind = "local"
state = "CA"

[[purposes]]
code = "CANVASS"
max_lookback_days = 30
query_types = ["area"]
area_max_radius_m = 500
area_max_window_hours = 6
{locations}
""".encode()


def shelter(lat: float, lon: float, category: str = "shelter", radius: float = 60.0) -> str:
    return (
        f'[[sensitive_locations]]\nname = "Harbor House"\ncategory = "{category}"\n'
        f"circle = {{ lat = {lat!r}, lon = {lon!r}, radius_m = {radius!r} }}\n"
    )


def refused(policy_source: bytes, lat: float, lon: float, radius: float) -> Refused | None:
    query = SearchQuery(
        type="area",
        area=Area(lat, lon, radius),
        from_=T0,
        to=T0 + timedelta(hours=1),
        purpose="CANVASS",
        case_number="26-1",
        justification="burglary canvass near the scene",
    )
    d = decide(USER, query, parse_policy(policy_source), NOW)
    return d if isinstance(d, Refused) else None


def grid_point(lat: float, lon: float) -> tuple[float, float]:
    step = GRID_M / M_PER_DEG
    plat = round(lat / step) * step
    lon_step = step / math.cos(math.radians(plat))
    return plat, round(lon / lon_step) * lon_step


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return lat + north_m / M_PER_DEG, lon + east_m / (M_PER_DEG * math.cos(math.radians(lat)))


def attack(source: bytes, start: tuple[float, float]) -> tuple[float, float]:
    """The red team's method: from a refused 1 m probe, bisect the refused region's edge to a
    millimetre north, south, east and west; its centre is the midpoint of each pair."""
    lat0, lon0 = start
    assert refused(source, lat0, lon0, 1.0) is not None

    def edge(north: float, east: float) -> float:
        inside, outside = 0.0, 3000.0
        while outside - inside > 0.001:
            mid = (inside + outside) / 2
            lat, lon = offset(lat0, lon0, north * mid, east * mid)
            if refused(source, lat, lon, 1.0) is not None:
                inside = mid
            else:
                outside = mid
        return inside

    n, s, e, w = edge(1, 0), edge(-1, 0), edge(0, 1), edge(0, -1)
    return offset(lat0, lon0, (n - s) / 2, (e - w) / 2)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    north = (a[0] - b[0]) * M_PER_DEG
    east = (a[1] - b[1]) * M_PER_DEG * math.cos(math.radians(a[0]))
    return math.hypot(north, east)


P = grid_point(37.8005, -122.2595)
SHELTER_1 = offset(*P, -150.0, -120.0)
SHELTER_2 = offset(*P, 130.0, 160.0)


def test_bisecting_the_refusal_finds_the_grid_square_not_the_shelter() -> None:
    estimates = []
    for centre in (SHELTER_1, SHELTER_2):
        source = policy_with(shelter(*centre))
        estimate = attack(source, centre)
        # Before: the estimate was the shelter's centre to the millimetre.
        assert distance_m(estimate, centre) > 150.0
        estimates.append(estimate)
    # Two shelters 400 m apart in one grid square look exactly alike.
    assert distance_m(estimates[0], estimates[1]) < 0.01
    assert distance_m(estimates[0], P) < 0.5


def test_every_probe_answers_alike_for_locations_in_one_grid_square() -> None:
    rnd = random.Random(13)
    one, two = (
        policy_with(shelter(*c, radius=r)) for c, r in ((SHELTER_1, 40.0), (SHELTER_2, 40.0))
    )
    differ = 0
    for _ in range(400):
        lat, lon = offset(*P, rnd.uniform(-900, 900), rnd.uniform(-900, 900))
        radius = rnd.choice([1.0, 10.0, rnd.uniform(1, 500)])
        differ += (refused(one, lat, lon, radius) is None) != (
            refused(two, lat, lon, radius) is None
        )
    assert differ == 0


def test_one_refusal_message_for_every_category() -> None:
    messages = set()
    for category in sorted(CATEGORIES):
        source = policy_with(shelter(37.8012, -122.2710, category))
        d = refused(source, 37.8012, -122.2710, 10.0)
        assert d is not None and d.code == "sensitive_location"
        assert category.replace("_", " ") not in d.message and "Harbor" not in d.message
        messages.add(d.message)
    assert len(messages) == 1


def _random_location(rnd: random.Random, i: int) -> SensitiveLocation:
    lat, lon = rnd.uniform(-60, 60), rnd.uniform(-170, 170)
    if rnd.random() < 0.5:
        return SensitiveLocation(f"c{i}", "other", circle=Circle(lat, lon, rnd.uniform(5, 2000)))
    size = rnd.uniform(0.0002, 0.02)
    ring = ((lon, lat), (lon + size, lat), (lon + size * 0.5, lat + size * rnd.uniform(0.3, 2)))
    return SensitiveLocation(f"p{i}", "other", polygon=ring)


@pytest.mark.parametrize("seed", range(3))
def test_every_search_that_meets_a_location_is_refused(seed: int) -> None:
    """Blurring only ever refuses more: never a search that meets the location itself."""
    rnd = random.Random(seed)
    locations = [_random_location(rnd, i) for i in range(40)]
    index = GeofenceIndex(locations)
    end = T0 + timedelta(hours=1)
    met = 0
    for _ in range(3000):
        loc = rnd.choice(locations)
        ref = loc.circle or Circle(loc.polygon[0][1], loc.polygon[0][0], 0.0)  # type: ignore[index]
        lat, lon = offset(ref.lat, ref.lon, rnd.uniform(-3000, 3000), rnd.uniform(-3000, 3000))
        radius = rnd.uniform(1, 500)
        if location_meets_circle(loc, lat, lon, radius):
            met += 1
            assert index.refuses(lat, lon, radius, T0, end) is not None
    assert met > 300
