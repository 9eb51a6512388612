"""Partial-plate and area searches and event geofences, end to end on the real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.http.conftest import CLINIC, NOW, RALLY
from tests.http.search_helpers import bearer, body, entry
from tests.pg import Databases


def partial(pattern: str, **kw: Any) -> dict[str, Any]:
    return body(
        **{
            "type": "partial_plate",
            "plate": None,
            "pattern": pattern,
            "purpose": "KIDNAPPING",
            **kw,
        }
    )


def area(lat: float, lon: float, radius_m: float, start: datetime, end: datetime) -> dict[str, Any]:
    return body(
        type="area",
        plate=None,
        purpose="KIDNAPPING",
        area={"lat": lat, "lon": lon, "radius_m": radius_m},
        **{"from": start.isoformat(), "to": end.isoformat()},
    )


async def search(client: Any, token: str, payload: dict[str, Any]) -> tuple[int, Any]:
    resp = await client.post("/v1/search", json=payload, headers=bearer(token))
    return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("pattern", "expected", "truncated"),
    [
        ("7ABC*", [1, 7], False),
        ("7abc-*", [1, 7], False),  # normalised like plates
        ("?ABC12?", [1, 7], False),
        ("*BC123", [1, 7], False),
        ("7?BC1*", [1, 7], False),
        ("MANY?", [100, 101, 102, 103, 104], True),
        ("8XYZ*", [21], False),  # read 20 stood inside the rally while it was active
        ("7ABD*", [], False),
    ],
)
async def test_partial_plate(
    client, make_token, dbs: Databases, pattern: str, expected: list[int], truncated: bool
):
    status, result = await search(client, make_token(), partial(pattern))
    assert status == 200, result
    assert [r["id"] for r in result["reads"]] == expected
    assert result["truncated"] is truncated
    e = await entry(dbs.audit_admin, result["audit_index"])
    assert e["query"]["pattern"] == pattern  # kept exactly as asked


@pytest.mark.parametrize("pattern", ["7AB*", "*", "??????", "7A?C", "7ÅBC*", "7ABC*1234567"])
async def test_bad_patterns_are_invalid(client, make_token, pattern: str):
    status, result = await search(client, make_token(), partial(pattern))
    assert status == 400 and result["error"]["code"] == "invalid_request"


async def test_partial_plate_needs_a_purpose_that_allows_it(client, make_token):
    status, result = await search(client, make_token(), partial("7ABC*", purpose="HOMICIDE"))
    assert status == 403 and result["error"]["code"] == "query_type_not_permitted"


async def test_area_search_returns_vehicles_that_passed(client, make_token, dbs: Databases):
    town = (37.8100, -122.2600)
    status, result = await search(
        client, make_token(), area(*town, 50, NOW - timedelta(hours=6), NOW)
    )
    assert status == 200, result
    assert [r["id"] for r in result["reads"]] == [100, 101, 102, 103, 104]
    assert result["truncated"] is True
    e = await entry(dbs.audit_admin, result["audit_index"])
    assert e["outcome"]["matched"] == 6 and e["query"]["area"]["radius_m"] == 50


async def test_area_circle_excludes_box_corners(client, make_token):
    # 1 km east of the town readings: their box would not even reach; 0.0007° of longitude is
    # ~61 m, so a 60 m circle centred there misses the reads, a 70 m one includes them.
    centre = (37.8100, -122.2600 + 0.0007)
    window = (NOW - timedelta(hours=6), NOW)
    status, miss = await search(client, make_token(), area(*centre, 60, *window))
    assert status == 200 and miss["reads"] == []
    status, hit = await search(client, make_token(), area(*centre, 70, *window))
    assert status == 200 and len(hit["reads"]) == 5


@pytest.mark.parametrize(
    ("radius", "hours", "code"),
    [
        (500, 6, None),
        (501, 6, "area_too_large"),
        (500, 6.001, "area_too_large"),
    ],
)
async def test_area_limits(client, make_token, radius: float, hours: float, code: str | None):
    status, result = await search(
        client, make_token(), area(37.9, -122.5, radius, NOW - timedelta(hours=hours), NOW)
    )
    if code is None:
        assert status == 200, result
    else:
        assert status == 403 and result["error"]["code"] == code
        assert "audit_index" in result["error"]


async def test_area_overlapping_a_sensitive_location_is_refused(client, make_token):
    # 150 m north of the clinic's centre; the clinic's radius is 100 m.
    lat = CLINIC[0] + 150 / 111_195
    window = (NOW - timedelta(hours=2), NOW)
    status, result = await search(client, make_token(), area(lat, CLINIC[1], 60, *window))
    assert status == 403 and result["error"]["code"] == "sensitive_location"
    # Refused against a disk around the clinic's grid point (no finer oracle), so a circle
    # that misses the clinic itself by 10 m is refused too; one well clear of it is not.
    status, result = await search(client, make_token(), area(lat, CLINIC[1], 40, *window))
    assert status == 403 and result["error"]["code"] == "sensitive_location"
    far = CLINIC[0] + 800 / 111_195  # beyond 100 m + ~283 m of snapping + 40 m
    status, result = await search(client, make_token(), area(far, CLINIC[1], 40, *window))
    assert status == 200, result


async def test_event_geofence_refuses_only_while_active(client, make_token):
    during = (datetime(2026, 6, 10, 17, tzinfo=UTC), datetime(2026, 6, 10, 19, tzinfo=UTC))
    after = (datetime(2026, 6, 11, 17, tzinfo=UTC), datetime(2026, 6, 11, 19, tzinfo=UTC))
    ends_at_start = (datetime(2026, 6, 10, 14, tzinfo=UTC), datetime(2026, 6, 10, 16, tzinfo=UTC))
    status, result = await search(client, make_token(), area(*RALLY, 30, *during))
    assert status == 403 and result["error"]["code"] == "sensitive_location"
    status, result = await search(client, make_token(), area(*RALLY, 30, *after))
    assert status == 200 and [r["id"] for r in result["reads"]] == [21]
    status, _ = await search(client, make_token(), area(*RALLY, 30, *ends_at_start))
    assert status == 200  # [from, to) ends exactly when the rally starts


async def test_exact_search_judges_reads_by_when_they_were_taken(client, make_token):
    status, result = await search(client, make_token(), body(plate="8XYZ999"))
    assert status == 200
    assert [r["id"] for r in result["reads"]] == [21]
