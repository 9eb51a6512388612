"""Sensitive locations and the index that answers "is this point inside an active one?".

Geometry rules:

* Circles use the haversine great-circle distance on a sphere of radius ``EARTH_RADIUS_M``
  (the IUGG mean radius); a point exactly ``radius_m`` away is inside (boundary inclusive).
* Polygons are ``[lon, lat]`` rings tested with shapely on plain lon/lat coordinates. Sensitive
  polygons are building- or block-sized, where planar point-in-polygon gives the same answer as a
  geodesic test. A point on the boundary is inside. Polygons may not cross the antimeridian.
* A location with a time window is active on the half-open interval
  ``[active_from, active_until)``: at ``active_from`` it is active, at ``active_until`` it no
  longer is. A missing bound is unbounded on that side. ``at`` must be timezone-aware.

Every location gets a bounding box in plain floats (generous for circles) so that most points are
rejected without trigonometry or shapely. With many locations, a uniform lat/lon grid maps each
cell to the locations whose boxes touch it, so a point is checked only against those (plus any
location too large to register cell by cell). When several locations contain a point, the one
listed first in the policy is returned, whichever path is taken.

``GeofenceIndex.overlapping`` answers "does this circle overlap a location active during this
window?" exactly; ``GeofenceIndex.refuses`` answers the area-search refusal, which is coarser
on purpose (a refusal must not reveal where a location is); ``area`` implements both.

``parse_location`` validates one ``[[sensitive_locations]]`` table for ``document.parse_policy``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, cast

import shapely

from proxy.policy._reader import Reader
from proxy.policy.area import TREE_THRESHOLD, AreaIndex
from proxy.policy.geo import (
    CATEGORIES,
    Category,
    Circle,
    SensitiveLocation,
    circle_bbox,
    haversine_m,
)

# Above this many locations a grid lookup beats a linear scan of bounding boxes. (A shapely
# STRtree was measured slower than the linear scan up to a few hundred locations: building a
# shapely Point per read costs more than scanning boxes.)
GRID_THRESHOLD = 4  # measured: with the 10 demo locations the grid already halves the cost
# About 550 m north-south: most sensitive locations (a school, a clinic) touch 1-4 cells, and a
# read in a city meets 0-2 candidates instead of the 1-4 that 2 km cells gave (measured over a
# demo search's 28 reads: 18 -> 8.6 us).
GRID_CELL_DEG = 0.005
MAX_CELLS_PER_LOCATION = 256  # boxes up to about 8 km on a side; larger ones are "wide"


@dataclass(frozen=True, slots=True)
class _Entry:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float
    location: SensitiveLocation
    shape: Any  # prepared shapely Polygon, or None for a circle

    def holds(self, lat: float, lon: float, at: datetime) -> bool:
        if not (self.min_lat <= lat <= self.max_lat and self.min_lon <= lon <= self.max_lon):
            return False
        loc = self.location
        if not loc.active_at(at):
            return False
        if loc.circle is not None:
            c = loc.circle
            return haversine_m(c.lat, c.lon, lat, lon) <= c.radius_m
        # intersects_xy on a point == covers: the boundary counts as inside.
        return bool(shapely.intersects_xy(self.shape, lon, lat))


def _entry(loc: SensitiveLocation) -> _Entry:
    if loc.circle is not None:
        box = circle_bbox(loc.circle)
        return _Entry(box[0], box[1], box[2], box[3], loc, None)
    if loc.polygon is None:
        raise ValueError(f"sensitive location {loc.name!r} has neither circle nor polygon")
    poly = shapely.Polygon(loc.polygon)
    shapely.prepare(poly)
    lons = [p[0] for p in loc.polygon]
    lats = [p[1] for p in loc.polygon]
    return _Entry(min(lons), min(lats), max(lons), max(lats), loc, poly)


class GeofenceIndex:
    """Immutable after construction; safe to share between concurrent searches."""

    __slots__ = ("_area", "_cells", "_entries", "_wide")

    def __init__(
        self,
        locations: Sequence[SensitiveLocation],
        *,
        grid_threshold: int = GRID_THRESHOLD,
        tree_threshold: int = TREE_THRESHOLD,
    ) -> None:
        self._entries: tuple[_Entry, ...] = tuple(_entry(loc) for loc in locations)
        self._cells: dict[tuple[int, int], tuple[int, ...]] | None = None
        self._wide: tuple[int, ...] = ()
        if len(self._entries) > grid_threshold:
            self._build_grid()
        self._area = AreaIndex(locations, tree_threshold=tree_threshold)

    def _build_grid(self) -> None:
        cells: dict[tuple[int, int], list[int]] = {}
        wide: list[int] = []
        for i, e in enumerate(self._entries):
            lat0, lon0 = _cell(e.min_lat, e.min_lon)
            lat1, lon1 = _cell(e.max_lat, e.max_lon)
            if (lat1 - lat0 + 1) * (lon1 - lon0 + 1) > MAX_CELLS_PER_LOCATION:
                wide.append(i)  # too big to register cell by cell; always a candidate
                continue
            for a in range(lat0, lat1 + 1):
                for b in range(lon0, lon1 + 1):
                    cells.setdefault((a, b), []).append(i)
        self._cells = {k: tuple(v) for k, v in cells.items()}  # indices ascend: built in order
        self._wide = tuple(wide)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def uses_grid(self) -> bool:
        return self._cells is not None

    @property
    def uses_tree(self) -> bool:
        return self._area.uses_tree

    def overlapping(
        self, lat: float, lon: float, radius_m: float, start: datetime, end: datetime
    ) -> SensitiveLocation | None:
        """The first-listed location active during ``[start, end)`` that the search circle
        (centre, ``radius_m``) overlaps, or None; see ``area`` for the geometry."""
        return self._area.overlapping(lat, lon, radius_m, start, end)

    def refuses(
        self, lat: float, lon: float, radius_m: float, start: datetime, end: datetime
    ) -> SensitiveLocation | None:
        """The location (first listed, active during ``[start, end)``) for which an area search
        with this circle is refused, or None. Coarser than ``overlapping`` on purpose, so that
        refusals do not reveal where a location is: see ``area``."""
        return self._area.refuses(lat, lon, radius_m, start, end)

    def contains(self, lat: float, lon: float, at: datetime) -> SensitiveLocation | None:
        """The first active location containing (lat, lon) at time ``at``, or None."""
        entries = self._entries
        if self._cells is None:
            for e in entries:
                if e.holds(lat, lon, at):
                    return e.location
            return None
        # _cell, inlined: this runs for every candidate read of a withholding purpose.
        found = self._cells.get(
            (math.floor(lat / GRID_CELL_DEG), math.floor(lon / GRID_CELL_DEG)), ()
        )
        if self._wide:
            # Sorted so the first-listed match wins, exactly as in the linear scan.
            found = tuple(sorted((*found, *self._wide)))
        for i in found:
            e = entries[i]
            if e.holds(lat, lon, at):
                return e.location
        return None


def _cell(lat: float, lon: float) -> tuple[int, int]:
    # floor(x / size) is monotonic in x, so a point inside a box always falls in one of the
    # cells the box was registered in, edges included.
    return (math.floor(lat / GRID_CELL_DEG), math.floor(lon / GRID_CELL_DEG))


LOCATION_KEYS = frozenset(f.name for f in fields(SensitiveLocation))


def _circle(r: Reader, v: object, p: str) -> Circle:
    t = r.table(v, p, ("lat", "lon", "radius_m"))
    if not isinstance(v, dict):
        return Circle(0.0, 0.0, 1.0)
    lat_lon = [0.0, 0.0]
    for i, (key, limit) in enumerate((("lat", 90.0), ("lon", 180.0))):
        if key in t:
            lat_lon[i] = r.coordinate(t[key], f"{p}.{key}", limit)
        else:
            r.err(f"{p}.{key}", "is required")
    radius = r.positive(t, p, "radius_m", required=True)
    return Circle(lat_lon[0], lat_lon[1], radius or 1.0)


def _polygon(r: Reader, v: object, p: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(v, list) or len(v) < 3:
        r.err(p, "must be a list of at least 3 [lon, lat] points")
        return ()
    before = len(r.errors)
    pts: list[tuple[float, float]] = []
    for i, pt in enumerate(v):
        if not isinstance(pt, list) or len(pt) != 2:
            r.err(f"{p}[{i}]", "must be a [lon, lat] pair")
            continue
        pts.append(
            (r.coordinate(pt[0], f"{p}[{i}][0]", 180), r.coordinate(pt[1], f"{p}[{i}][1]", 90))
        )
    if len(r.errors) > before:
        return ()
    if len(set(pts)) < 3:
        r.err(p, "needs at least 3 distinct points")
        return ()
    lons = [pt[0] for pt in pts]
    if max(lons) - min(lons) > 180.0:  # planar lon/lat cannot wrap; almost surely a mistake
        r.err(p, "must not cross the antimeridian")
        return ()
    poly = shapely.Polygon(pts)
    if not poly.is_valid:
        r.err(p, f"is not a valid polygon ({shapely.is_valid_reason(poly)})")
        return ()
    return tuple(pts)


def parse_location(r: Reader, t: dict[str, Any], p: str) -> SensitiveLocation:
    """One ``[[sensitive_locations]]`` table (keys already checked by the caller)."""
    circle = _circle(r, t["circle"], f"{p}.circle") if "circle" in t else None
    polygon = _polygon(r, t["polygon"], f"{p}.polygon") if "polygon" in t else None
    if (circle is None) == (polygon is None):
        r.err(p, "needs exactly one of circle or polygon")
    start = r.aware_datetime(t, p, "active_from")
    until = r.aware_datetime(t, p, "active_until")
    if start is not None and until is not None and not start < until:
        r.err(f"{p}.active_until", "must be later than active_from")
    return SensitiveLocation(
        name=r.text(t, p, "name"),
        category=cast(Category, r.choice(t, p, "category", CATEGORIES)),
        circle=circle,
        polygon=polygon,
        active_from=start,
        active_until=until,
    )
