"""Geometry primitives shared by the point index (``geofence``) and the area check (``area``).

* Distances are great-circle distances on a sphere of radius ``EARTH_RADIUS_M`` (the IUGG mean
  radius), computed with the haversine formula.
* A location with a time window is active on the half-open interval
  ``[active_from, active_until)``; a missing bound is unbounded on that side. All datetimes
  must be timezone-aware.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from proxy.model import Area

Category = Literal[
    "school", "medical", "place_of_worship", "protest", "ceremony", "shelter", "other"
]
CATEGORIES: frozenset[str] = frozenset(
    {"school", "medical", "place_of_worship", "protest", "ceremony", "shelter", "other"}
)
EARTH_RADIUS_M = 6371008.8
# Circle boxes are widened by this factor plus a tiny absolute slack, so rounding in the box
# arithmetic can never exclude a point the exact haversine test would include.
BOX_MARGIN = 1.01
BOX_SLACK_DEG = 1e-9

Box = tuple[float, float, float, float]  # (min_lon, min_lat, max_lon, max_lat), degrees


# A circle is the same plain data as a search's area (lat, lon, radius_m): one type for both.
Circle = Area


@dataclass(frozen=True, slots=True)
class SensitiveLocation:
    name: str
    category: Category
    circle: Circle | None = None
    polygon: tuple[tuple[float, float], ...] | None = None  # [lon, lat] pairs
    active_from: datetime | None = None
    active_until: datetime | None = None

    def active_at(self, at: datetime) -> bool:
        """Half-open window: active_from <= at < active_until."""
        if self.active_from is not None and at < self.active_from:
            return False
        return self.active_until is None or at < self.active_until

    def active_during(self, start: datetime, end: datetime) -> bool:
        """Whether ``[start, end)`` and ``[active_from, active_until)`` share an instant.

        Both intervals are half-open, so a window ending exactly at ``active_from`` or starting
        exactly at ``active_until`` does not intersect. A location without a window is always
        active, even for an empty search window (refusing that costs nothing).
        """
        if self.active_until is not None and not start < self.active_until:
            return False
        return self.active_from is None or self.active_from < end


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS 84 points (spherical Earth)."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    # min() guards asin against h creeping past 1.0 by rounding for antipodal points.
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def circle_bbox(c: Circle) -> Box:
    """A box (min_lon, min_lat, max_lon, max_lat) that certainly contains the circle."""
    delta = c.radius_m / EARTH_RADIUS_M  # angular radius, radians
    dlat = math.degrees(delta) * BOX_MARGIN + BOX_SLACK_DEG
    min_lat = max(-90.0, c.lat - dlat)
    max_lat = min(90.0, c.lat + dlat)
    cos_lat = math.cos(math.radians(c.lat))
    if delta >= math.pi / 2 or math.sin(delta) >= cos_lat:
        # The cap reaches a pole: every longitude is possible.
        return (-180.0, min_lat, 180.0, max_lat)
    # Exact longitude half-width of a spherical cap, then widened like dlat.
    dlon = math.degrees(math.asin(math.sin(delta) / cos_lat)) * BOX_MARGIN + BOX_SLACK_DEG
    if c.lon - dlon < -180.0 or c.lon + dlon > 180.0:
        # Crossing the antimeridian: give up on narrowing longitude rather than wrap boxes.
        return (-180.0, min_lat, 180.0, max_lat)
    return (c.lon - dlon, min_lat, c.lon + dlon, max_lat)


def boxes_intersect(a: Box, b: Box) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]
