"""Area and partial-plate searches through ``decide``: limits, check order, refusal messages."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from proxy.model import Area, Principal, SearchQuery
from proxy.policy import Allowed, Refused, decide, parse_policy

NOW = datetime(2026, 5, 1, 23, 0, tzinfo=UTC)
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
S = timedelta(seconds=1)

POLICY_SOURCE = b"""
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
sensitive_locations = "include"

[[purposes]]
code = "FRACTIONAL"
max_lookback_days = 30
query_types = ["area"]
area_max_radius_m = 150.5
area_max_window_hours = 0.5

[[sensitive_locations]]
name = "Lincoln Elementary School"
category = "school"
circle = { lat = 37.8012, lon = -122.2710, radius_m = 150 }

[[sensitive_locations]]
name = "Harbor House"
category = "shelter"
polygon = [[-122.2600, 37.8000], [-122.2590, 37.8000], [-122.2590, 37.8010], [-122.2600, 37.8010]]

[[sensitive_locations]]
name = "Lake Merritt rally"
category = "protest"
circle = { lat = 37.8030, lon = -122.2570, radius_m = 300 }
active_from = 2026-05-01T16:00:00Z
active_until = 2026-05-01T22:00:00Z
"""
POLICY = parse_policy(POLICY_SOURCE)
USER = Principal(sub="det.a", ori="CA0010900", roles=frozenset({"investigator"}), expires_at=0.0)
FAR = Area(37.75, -122.20, 500.0)  # nowhere near any location
QUERY = SearchQuery(
    type="area",
    area=FAR,
    from_=T0,
    to=T0 + timedelta(hours=6),
    purpose="CANVASS",
    case_number="26-1",
    justification="burglary canvass near the scene",
)


def decision(**changes: Any) -> Allowed | Refused:
    return decide(USER, replace(QUERY, **changes), POLICY, NOW)


def code(**changes: Any) -> str | None:
    d = decision(**changes)
    return d.code if isinstance(d, Refused) else None


def test_radius_limit_boundary() -> None:
    assert code() is None  # exactly 500 m and exactly 6 h
    assert code(area=replace(FAR, radius_m=501.0)) == "area_too_large"
    assert code(area=replace(FAR, radius_m=500.000001)) == "area_too_large"
    assert (
        code(purpose="FRACTIONAL", area=replace(FAR, radius_m=150.5), to=T0 + timedelta(minutes=30))
        is None
    )
    assert (
        code(purpose="FRACTIONAL", area=replace(FAR, radius_m=151.5), to=T0 + timedelta(minutes=30))
        == "area_too_large"
    )


def test_window_limit_boundary() -> None:
    assert code(to=T0 + timedelta(hours=6)) is None
    assert code(to=T0 + timedelta(hours=6, seconds=1)) == "area_too_large"
    assert (
        code(purpose="FRACTIONAL", area=replace(FAR, radius_m=10.0), to=T0 + timedelta(minutes=30))
        is None
    )
    assert (
        code(
            purpose="FRACTIONAL",
            area=replace(FAR, radius_m=10.0),
            to=T0 + timedelta(minutes=30, seconds=1),
        )
        == "area_too_large"
    )


def test_lookback_before_area_checks_and_limits_before_locations() -> None:
    over_school = Area(37.8012, -122.2710, 600.0)
    old = NOW - timedelta(days=31)
    assert code(area=over_school, from_=old, to=old + timedelta(days=2)) == "lookback_exceeded"
    assert code(area=over_school) == "area_too_large"
    assert code(area=replace(over_school, radius_m=100.0)) == "sensitive_location"


def test_sensitive_location_refused_even_when_purpose_includes_them() -> None:
    # CANVASS says sensitive_locations = "include": that governs reads, not the area refusal.
    assert POLICY.purposes["CANVASS"].sensitive_locations == "include"
    assert code(area=Area(37.8012, -122.2710, 10.0)) == "sensitive_location"


def test_event_geofence_only_when_windows_intersect() -> None:
    rally = Area(37.8030, -122.2570, 100.0)
    assert code(area=rally, from_=T0, to=T0 + timedelta(hours=6)) is None  # 10:00-16:00
    assert code(area=rally, from_=T0 + timedelta(hours=1), to=T0 + timedelta(hours=7)) == (
        "sensitive_location"
    )
    end = datetime(2026, 5, 1, 22, 0, tzinfo=UTC)
    assert code(area=rally, from_=end, to=end + timedelta(minutes=30)) is None
    assert code(area=rally, from_=end - S, to=end + timedelta(minutes=30)) == "sensitive_location"


def test_refusal_names_no_location_nor_category() -> None:
    messages = set()
    for area, window in (
        (Area(37.8012, -122.2710, 10.0), {}),
        (Area(37.8005, -122.2595, 10.0), {}),
        (
            Area(37.8030, -122.2570, 10.0),
            {"from_": T0 + timedelta(hours=6), "to": T0 + timedelta(hours=7)},
        ),
    ):
        d = decision(area=area, **window)
        assert isinstance(d, Refused) and d.code == "sensitive_location"
        for hint in ("school", "shelter", "protest", "Lincoln", "Harbor", "150", "16:00"):
            assert hint not in d.message
        messages.add(d.message)
    assert len(messages) == 1


@pytest.mark.parametrize(
    "area",
    [
        None,
        Area(37.8, -122.2, 0.0),
        Area(37.8, -122.2, math.nan),
        Area(91.0, 0.0, 10.0),
        Area(0.0, 181.0, 10.0),
    ],
)
def test_malformed_area_is_invalid(area: Area | None) -> None:
    assert code(area=area) == "invalid_request"


def test_partial_plate_pattern_rechecked() -> None:
    changes: dict[str, Any] = {"type": "partial_plate", "area": None, "purpose": "PP"}
    policy = parse_policy(
        POLICY_SOURCE.replace(b'code = "FRACTIONAL"', b'code = "PP"').replace(
            b'query_types = ["area"]\narea_max_radius_m = 150.5',
            b'query_types = ["partial_plate", "area"]\narea_max_radius_m = 150.5',
        )
    )
    for pattern, expected in [
        ("7AB*12", None),
        ("7AB*", "invalid_request"),
        ("7ab*12", "invalid_request"),
        (None, "invalid_request"),
    ]:
        d = decide(USER, replace(QUERY, pattern=pattern, **changes), policy, NOW)
        assert (d.code if isinstance(d, Refused) else None) == expected, pattern
