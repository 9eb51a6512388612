"""The only SQL against the plate-read store (`alpr.reads`, SPEC §4).

The store pool connects as a read-only role and every session is read-only as well, so a bug
here cannot modify evidence. Rows come back newest first; filtering happens in the policy's
disclosure step so that withheld reads can be counted for the audit entry. Every query is
bounded by `limit`: a broad partial-plate pattern must not pull millions of rows into the proxy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import asyncpg

_COLUMNS = "id, plate, plate_state, observed_at, lat, lon, camera_id, agency_ori"
_ORDER = " ORDER BY observed_at DESC, id DESC LIMIT $4"

# Half-open window [from, to): adjacent windows never return the same read twice.
_EXACT = (
    f"SELECT {_COLUMNS} FROM alpr.reads"
    " WHERE plate = $1 AND observed_at >= $2 AND observed_at < $3" + _ORDER
)
_EXACT_STATE = (
    f"SELECT {_COLUMNS} FROM alpr.reads"
    " WHERE plate = $1 AND observed_at >= $2 AND observed_at < $3 AND plate_state = $5" + _ORDER
)
_PATTERN = (
    f"SELECT {_COLUMNS} FROM alpr.reads"
    " WHERE plate LIKE $1 AND observed_at >= $2 AND observed_at < $3" + _ORDER
)
_PATTERN_STATE = (
    f"SELECT {_COLUMNS} FROM alpr.reads"
    " WHERE plate LIKE $1 AND observed_at >= $2 AND observed_at < $3 AND plate_state = $5" + _ORDER
)
# $1 is a box: the circle's bounding box; the exact distance is checked by the caller.
_AREA = (
    f"SELECT {_COLUMNS} FROM alpr.reads"
    " WHERE point(lon, lat) <@ $1::box AND observed_at >= $2 AND observed_at < $3" + _ORDER
)

Rows = Sequence[asyncpg.Record]
_EARTH_RADIUS_M = 6_371_008.8


async def exact_plate(
    pool: asyncpg.Pool, plate: str, state: str | None, start: datetime, end: datetime, limit: int
) -> Rows:
    if state is None:
        return await pool.fetch(_EXACT, plate, start, end, limit)  # type: ignore[no-any-return]
    return await pool.fetch(_EXACT_STATE, plate, start, end, limit, state)  # type: ignore[no-any-return]


async def plate_pattern(
    pool: asyncpg.Pool, like: str, state: str | None, start: datetime, end: datetime, limit: int
) -> Rows:
    """`like` is a SQL LIKE pattern over normalised plates ([A-Z0-9], `%` and `_`)."""
    if state is None:
        return await pool.fetch(_PATTERN, like, start, end, limit)  # type: ignore[no-any-return]
    return await pool.fetch(_PATTERN_STATE, like, start, end, limit, state)  # type: ignore[no-any-return]


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) enclosing the circle, with a 1% margin."""
    dlat = math.degrees(radius_m * 1.01 / _EARTH_RADIUS_M)
    coslat = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(180.0, math.degrees(radius_m * 1.01 / (_EARTH_RADIUS_M * coslat)))
    return (lon - dlon, max(-90.0, lat - dlat), lon + dlon, min(90.0, lat + dlat))


async def area(
    pool: asyncpg.Pool,
    lat: float,
    lon: float,
    radius_m: float,
    start: datetime,
    end: datetime,
    limit: int,
) -> Rows:
    """Reads in the circle's bounding box; the caller keeps those within `radius_m`."""
    min_lon, min_lat, max_lon, max_lat = bounding_box(lat, lon, radius_m)
    box = asyncpg.types.Box((max_lon, max_lat), (min_lon, min_lat))
    return await pool.fetch(_AREA, box, start, end, limit)  # type: ignore[no-any-return]
