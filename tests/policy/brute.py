"""The brute-force overlap the area index is checked against (tests only)."""

from __future__ import annotations

from proxy.policy.area import circle_meets_circle, densify, ring_meets_circle
from proxy.policy.geo import SensitiveLocation


def location_meets_circle(loc: SensitiveLocation, lat: float, lon: float, radius_m: float) -> bool:
    """Exact spatial overlap, ignoring time."""
    if loc.circle is not None:
        return circle_meets_circle(loc.circle, lat, lon, radius_m)
    if loc.polygon is None:
        raise ValueError(f"sensitive location {loc.name!r} has neither circle nor polygon")
    return ring_meets_circle(densify(loc.polygon), lat, lon, radius_m)
