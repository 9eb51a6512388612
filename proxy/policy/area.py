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

Refusals (``AreaIndex.refuses``) answer for a coarser region, so they are not a location oracle.
With exact geometry, 1 m probes bisecting the refused region's edge recover a location's centre
to the millimetre, and enlarging it by any margin, secret or not, keeps that centre. Instead
each location refuses a *refusal disk* centred on the point of a public grid, ``GRID_M`` apart
north-south and east-west, nearest to the location's centre, with radius the location's own
enclosing radius plus the farthest any centre can lie from its grid point (about
``GRID_M / sqrt(2)``). The disk is a function of the grid square and the location's size
alone: every location of one size whose centre lies in the same ``GRID_M`` square answers
every probe identically, so any number of searches learns that square and never where in it
the location is. A secret grid offset would add nothing: probes reveal the disk, so the offset
is learnt with it. Every search that meets the location itself is refused too (the disk covers
it, and the exact test is kept as a fail-closed backstop).
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

# The refusal grid's spacing: a refusal tells where a location is only to within this square.
GRID_M = 400.0
# Latitudes beyond this have no usable east-west grid; their refusal disks grow instead.
_MIN_COS = 0.01
# Slack on the enclosing radius of a polygon and on the snap distance, for rounding.
_SLACK = 1.001
_SLACK_M = 1.0


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


def enclosing(loc: SensitiveLocation) -> Circle:
    """A circle containing the location: a circle itself; a polygon's box centre and its
    farthest (densified) point, with slack."""
    if loc.circle is not None:
        return loc.circle
    if loc.polygon is None:
        raise ValueError(f"sensitive location {loc.name!r} has neither circle nor polygon")
    lons = [p[0] for p in loc.polygon]
    lats = [p[1] for p in loc.polygon]
    lat, lon = (min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2
    far = max(haversine_m(lat, lon, p[1], p[0]) for p in densify(loc.polygon))
    return Circle(lat, lon, far * _SLACK + _SLACK_M)


def refusal_disk(loc: SensitiveLocation) -> Circle:
    """The disk whose overlap refuses an area search (module docstring): centred on the grid
    point nearest the location's centre, its radius depending on that point and the
    location's size only, never on where in the grid square the centre lies."""
    c = enclosing(loc)
    step = math.degrees(GRID_M / EARTH_RADIUS_M)
    plat = max(-90.0, min(90.0, round(c.lat / step) * step))
    cos_p = max(_MIN_COS, math.cos(math.radians(plat)))
    lon_step = step / cos_p
    plon = round(c.lon / lon_step) * lon_step
    plon = (plon + 180.0) % 360.0 - 180.0
    # The farthest a centre snapped to (plat, plon) can be from it: half a step north-south,
    # and half a longitude step at the widest latitude of the row east-west.
    widest = math.cos(math.radians(max(0.0, abs(plat) - step / 2)))
    half_ew = GRID_M / 2 * widest / cos_p
    snap = math.hypot(GRID_M / 2, half_ew) * _SLACK + _SLACK_M
    return Circle(plat, plon, c.radius_m + snap)


@dataclass(frozen=True, slots=True)
class _Item:
    box: Box
    location: SensitiveLocation
    ring: Ring | None  # densified polygon; None for a circle
    disk: Circle  # refusal_disk(location)
    disk_box: Box  # covers the disk and the location

    def meets(self, lat: float, lon: float, radius_m: float) -> bool:
        if self.ring is None:
            assert self.location.circle is not None
            return circle_meets_circle(self.location.circle, lat, lon, radius_m)
        return ring_meets_circle(self.ring, lat, lon, radius_m)

    def refuses(self, lat: float, lon: float, radius_m: float) -> bool:
        # The exact test never adds to the disk (which covers the location); it is there so
        # that a mistake in the disk could only ever leak, never admit a canvass.
        return circle_meets_circle(self.disk, lat, lon, radius_m) or self.meets(lat, lon, radius_m)


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _item(loc: SensitiveLocation) -> _Item:
    disk = refusal_disk(loc)
    if loc.circle is not None:
        box = circle_bbox(loc.circle)
        return _Item(box, loc, None, disk, _union(box, circle_bbox(disk)))
    if loc.polygon is None:
        raise ValueError(f"sensitive location {loc.name!r} has neither circle nor polygon")
    box = polygon_box(loc.polygon)
    return _Item(box, loc, densify(loc.polygon), disk, _union(box, circle_bbox(disk)))


class AreaIndex:
    """Immutable after construction; safe to share between concurrent searches."""

    __slots__ = ("_disk_tree", "_items", "_tree")

    def __init__(
        self, locations: Sequence[SensitiveLocation], *, tree_threshold: int = TREE_THRESHOLD
    ) -> None:
        self._items: tuple[_Item, ...] = tuple(_item(loc) for loc in locations)
        self._tree: Any = None
        self._disk_tree: Any = None
        if len(self._items) > tree_threshold:
            self._tree = shapely.STRtree([shapely.box(*i.box) for i in self._items])
            self._disk_tree = shapely.STRtree([shapely.box(*i.disk_box) for i in self._items])

    @property
    def uses_tree(self) -> bool:
        return self._tree is not None

    def _candidates(self, box: Box, *, disks: bool) -> Sequence[int]:
        tree = self._disk_tree if disks else self._tree
        if tree is None:
            return [
                i
                for i, item in enumerate(self._items)
                if boxes_intersect(item.disk_box if disks else item.box, box)
            ]
        # query() answers box-against-box; sorted so the first-listed match wins.
        return sorted(int(i) for i in tree.query(shapely.box(*box)))

    def overlapping(
        self, lat: float, lon: float, radius_m: float, start: datetime, end: datetime
    ) -> SensitiveLocation | None:
        """The first-listed location active during ``[start, end)`` that the circle overlaps."""
        box = circle_bbox(Circle(lat, lon, radius_m))
        for i in self._candidates(box, disks=False):
            item = self._items[i]
            if item.location.active_during(start, end) and item.meets(lat, lon, radius_m):
                return item.location
        return None

    def refuses(
        self, lat: float, lon: float, radius_m: float, start: datetime, end: datetime
    ) -> SensitiveLocation | None:
        """The first-listed location active during ``[start, end)`` whose refusal disk (or the
        location itself) the circle overlaps: the area-search refusal."""
        box = circle_bbox(Circle(lat, lon, radius_m))
        for i in self._candidates(box, disks=True):
            item = self._items[i]
            if item.location.active_during(start, end) and item.refuses(lat, lon, radius_m):
                return item.location
        return None
