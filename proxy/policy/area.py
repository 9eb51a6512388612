"""Area searches: does a search circle overlap a sensitive location active during its window?

Geometry, in metres on the sphere of ``geo``:

* circle-circle: they overlap when the haversine distance between the centres is at most
  ``r1 + r2`` (touching counts as overlapping).
* circle-polygon: the polygon is projected into the azimuthal-equidistant projection centred on
  the search centre, which keeps every distance *from the centre* exact, and they overlap when
  shapely's planar distance from the origin to the projected polygon is at most the radius (0
  when the centre is inside). Edges are first densified in lon/lat into pieces of at most
  ``DENSIFY_M``, so the projected outline follows the straight-in-lon/lat edges ``geofence`` uses
  to place reads: a search is refused when some point of its circle would count as inside.

Time: a location counts when it is active at any instant of the half-open search window
(``SensitiveLocation.active_during``).

Candidates: every location gets a box in degrees that contains it with a margin (circles:
``circle_bbox``; polygons: the vertex box padded by ``BOX_PAD_M``), and so does the search
circle. Up to ``TREE_THRESHOLD`` locations the boxes are scanned; above it a shapely STRtree over
them finds the candidates. Either way candidates are tested in policy order and the first that
overlaps in space and time is returned, so both paths give the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely

from proxy.policy.geo import (
    EARTH_RADIUS_M,
    Box,
    Circle,
    SensitiveLocation,
    boxes_intersect,
    circle_bbox,
    haversine_m,
)

TREE_THRESHOLD = 16
# Pieces this short stay within millimetres of their projected chord at search distances.
DENSIFY_M = 1000.0
# Covers the millimetres between densified chords and lon/lat edges, with room to spare.
BOX_PAD_M = 10.0

Ring = tuple[tuple[float, float], ...]  # [lon, lat] points, densified, not closed


def aeqd_xy(lat0: float, lon0: float, lat: float, lon: float) -> tuple[float, float]:
    """(east, north) metres of (lat, lon) in the azimuthal-equidistant projection at (lat0, lon0).

    The distance from the origin is the exact great-circle distance; the direction is the
    initial bearing from the centre.
    """
    d = haversine_m(lat0, lon0, lat, lon)
    if d == 0.0:
        return (0.0, 0.0)
    p0 = math.radians(lat0)
    p = math.radians(lat)
    dl = math.radians(lon - lon0)
    bearing = math.atan2(
        math.sin(dl) * math.cos(p),
        math.cos(p0) * math.sin(p) - math.sin(p0) * math.cos(p) * math.cos(dl),
    )
    return (d * math.sin(bearing), d * math.cos(bearing))


def densify(polygon: Sequence[tuple[float, float]]) -> Ring:
    """The ring with points added (linearly in lon/lat) so no piece exceeds ``DENSIFY_M``."""
    out: list[tuple[float, float]] = []
    n = len(polygon)
    for i, (lon1, lat1) in enumerate(polygon):
        lon2, lat2 = polygon[(i + 1) % n]
        pieces = max(1, math.ceil(haversine_m(lat1, lon1, lat2, lon2) / DENSIFY_M))
        out.extend(
            (lon1 + (lon2 - lon1) * k / pieces, lat1 + (lat2 - lat1) * k / pieces)
            for k in range(pieces)
        )
    return tuple(out)


def polygon_box(polygon: Sequence[tuple[float, float]]) -> Box:
    """The vertex box padded by ``BOX_PAD_M`` on every side."""
    lons = [p[0] for p in polygon]
    lats = [p[1] for p in polygon]
    pad_lat = math.degrees(BOX_PAD_M / EARTH_RADIUS_M)
    min_lat = max(-90.0, min(lats) - pad_lat)
    max_lat = min(90.0, max(lats) + pad_lat)
    cos_lat = math.cos(math.radians(max(abs(min_lat), abs(max_lat))))
    if cos_lat < 1e-6:
        return (-180.0, min_lat, 180.0, max_lat)  # touches a pole: any longitude
    pad_lon = pad_lat / cos_lat
    return (max(-180.0, min(lons) - pad_lon), min_lat, min(180.0, max(lons) + pad_lon), max_lat)


def circle_meets_circle(c: Circle, lat: float, lon: float, radius_m: float) -> bool:
    return haversine_m(c.lat, c.lon, lat, lon) <= c.radius_m + radius_m


def ring_meets_circle(ring: Ring, lat: float, lon: float, radius_m: float) -> bool:
    projected = shapely.Polygon([aeqd_xy(lat, lon, p[1], p[0]) for p in ring])
    return bool(shapely.distance(projected, shapely.Point(0.0, 0.0)) <= radius_m)


def location_meets_circle(loc: SensitiveLocation, lat: float, lon: float, radius_m: float) -> bool:
    """Exact spatial overlap, ignoring time (used directly by tests as the brute force)."""
    if loc.circle is not None:
        return circle_meets_circle(loc.circle, lat, lon, radius_m)
    if loc.polygon is None:
        raise ValueError(f"sensitive location {loc.name!r} has neither circle nor polygon")
    return ring_meets_circle(densify(loc.polygon), lat, lon, radius_m)


@dataclass(frozen=True, slots=True)
class _Item:
    box: Box
    location: SensitiveLocation
    ring: Ring | None  # densified polygon; None for a circle

    def meets(self, lat: float, lon: float, radius_m: float) -> bool:
        if self.ring is None:
            assert self.location.circle is not None
            return circle_meets_circle(self.location.circle, lat, lon, radius_m)
        return ring_meets_circle(self.ring, lat, lon, radius_m)


def _item(loc: SensitiveLocation) -> _Item:
    if loc.circle is not None:
        return _Item(circle_bbox(loc.circle), loc, None)
    if loc.polygon is None:
        raise ValueError(f"sensitive location {loc.name!r} has neither circle nor polygon")
    return _Item(polygon_box(loc.polygon), loc, densify(loc.polygon))


class AreaIndex:
    """Immutable after construction; safe to share between concurrent searches."""

    __slots__ = ("_items", "_tree")

    def __init__(
        self, locations: Sequence[SensitiveLocation], *, tree_threshold: int = TREE_THRESHOLD
    ) -> None:
        self._items: tuple[_Item, ...] = tuple(_item(loc) for loc in locations)
        self._tree: Any = None
        if len(self._items) > tree_threshold:
            self._tree = shapely.STRtree([shapely.box(*i.box) for i in self._items])

    @property
    def uses_tree(self) -> bool:
        return self._tree is not None

    def overlapping(
        self, lat: float, lon: float, radius_m: float, start: datetime, end: datetime
    ) -> SensitiveLocation | None:
        """The first-listed location active during ``[start, end)`` that the circle overlaps."""
        box = circle_bbox(Circle(lat, lon, radius_m))
        if self._tree is None:
            candidates: Sequence[int] = [
                i for i, item in enumerate(self._items) if boxes_intersect(item.box, box)
            ]
        else:
            # query() answers box-against-box; sorted so the first-listed match wins.
            candidates = sorted(int(i) for i in self._tree.query(shapely.box(*box)))
        for i in candidates:
            item = self._items[i]
            if item.location.active_during(start, end) and item.meets(lat, lon, radius_m):
                return item.location
        return None
