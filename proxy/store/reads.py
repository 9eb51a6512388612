"""The only SQL against the plate-read store (`alpr.reads`, SPEC §4).

The store pool connects as a read-only role and every session is read-only as well, so a bug
here cannot modify evidence. Rows come back newest first. Every query is bounded by `limit`: a
broad partial-plate pattern must not pull millions of rows into the proxy.

A search is two statements on one connection:

- `fetch`: only reads the search may disclose as far as the store can tell, i.e. of the
  owners whose rules admit every recipient (`Scope.owners`) and taken on or after the
  retention cutoff (`Scope.since`). The proxy still filters these read by read.
- `count_withheld`: how many other reads matched, by SPEC §8 reason, without fetching them:
  before the cutoff is `retention` (checked first, as in the proxy's filter), the rest are of
  owners that do not share (`sharing`). Counting in the database costs far less per read than
  fetching, decoding and filtering it did, which is what made the response time track the
  number of withheld reads (README: the residual timing channel).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from proxy.policy.geo import EARTH_RADIUS_M

_COLUMNS = "id, plate, plate_state, observed_at, lat, lon, camera_id, agency_ori"

# Each search type's match condition. $1 is its key (plate, LIKE pattern, or box); the state,
# when given, is the statement's last parameter (numbered by the statement).
_EXACT = "plate = $1"
_PATTERN = "plate LIKE $1"
# A box: the circle's bounding box; the circle itself is checked by the caller (fetch) or by
# `_IN_CIRCLE` (count), with the proxy's haversine formula, term for term.
_AREA = "point(lon, lat) <@ $1::box"
_IN_CIRCLE = (
    f" AND 2 * {EARTH_RADIUS_M!r} * asin(least(1.0, sqrt("
    "sin((radians(lat) - radians($6)) / 2) ^ 2"
    " + cos(radians($6)) * cos(radians(lat)) * sin(radians(lon - $7) / 2) ^ 2))) <= $8"
)


def fetch_sql(match: str, *, state: bool) -> str:
    """$1 key, $2 from (already raised to the retention cutoff), $3 to, $4 owners, $5 limit,
    $6 state. Half-open window [from, to): adjacent windows never return a read twice."""
    return (
        f"SELECT {_COLUMNS} FROM alpr.reads WHERE {match}"
        " AND observed_at >= $2 AND observed_at < $3 AND agency_ori = ANY($4::text[])"
        + (" AND plate_state = $6" if state else "")
        + " ORDER BY observed_at DESC, id DESC LIMIT $5"
    )


def count_sql(match: str, *, state: bool = False, circle: bool = False) -> str:
    """$1 key, $2 from, $3 to, $4 owners, $5 limit; then $6 state, or $6 lat, $7 lon and
    $8 radius_m of the circle; the retention cutoff last. At most `limit` reads are counted."""
    cutoff = "$9" if circle else "$7" if state else "$6"
    return (
        f"SELECT count(*) FILTER (WHERE observed_at < {cutoff}) AS retention,"
        f" count(*) FILTER (WHERE observed_at >= {cutoff}) AS sharing, count(*) AS examined"
        f" FROM (SELECT observed_at FROM alpr.reads WHERE {match}"
        " AND observed_at >= $2 AND observed_at < $3"
        f" AND (observed_at < {cutoff} OR agency_ori <> ALL($4::text[]))"
        + (" AND plate_state = $6" if state else "")
        + (_IN_CIRCLE if circle else "")
        + " LIMIT $5) AS w"
    )


Rows = Sequence[asyncpg.Record]


@dataclass(frozen=True, slots=True)
class Scope:
    """What a search may receive from the store: reads of `owners` taken at or after `since`."""

    owners: Sequence[str]
    since: datetime  # the retention cutoff


@dataclass(frozen=True, slots=True)
class Withheld:
    """Reads that matched but were not fetched, by reason; `examined` reached the row limit
    when `limit_reached` (then the counts are lower bounds)."""

    retention: int
    sharing: int
    limit_reached: bool


@dataclass(frozen=True, slots=True)
class Match:
    """One search's match condition and its parameters, for both statements."""

    condition: str
    key: object
    state: str | None = None
    circle: tuple[float, float, float] | None = None  # lat, lon, radius_m


def exact_match(plate: str, state: str | None) -> Match:
    return Match(_EXACT, plate, state)


def pattern_match(like: str, state: str | None) -> Match:
    """`like` is a SQL LIKE pattern over normalised plates ([A-Z0-9], `%` and `_`)."""
    return Match(_PATTERN, like, state)


def area_match(lat: float, lon: float, radius_m: float) -> Match:
    """Reads in the circle's bounding box; `fetch`'s caller keeps those within `radius_m`."""
    min_lon, min_lat, max_lon, max_lat = bounding_box(lat, lon, radius_m)
    box = asyncpg.types.Box((max_lon, max_lat), (min_lon, min_lat))
    return Match(_AREA, box, circle=(lat, lon, radius_m))


async def search(
    pool: asyncpg.Pool, match: Match, scope: Scope, start: datetime, end: datetime, limit: int
) -> tuple[Rows, Withheld]:
    """The reads to filter, newest first, and the count of those the store did not return."""
    owners = list(scope.owners)
    extra: tuple[object, ...] = () if match.state is None else (match.state,)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            fetch_sql(match.condition, state=match.state is not None),
            match.key,
            max(start, scope.since),
            end,
            owners,
            limit,
            *extra,
        )
        counted = await conn.fetchrow(
            count_sql(match.condition, state=match.state is not None, circle=bool(match.circle)),
            match.key,
            start,
            end,
            owners,
            limit,
            *extra,
            *(match.circle or ()),
            scope.since,
        )
    assert counted is not None  # an aggregate always returns one row
    withheld = Withheld(counted[0], counted[1], counted[2] >= limit)
    return rows, withheld


_UNSCOPED_EXACT = (
    f"SELECT {_COLUMNS} FROM alpr.reads WHERE {_EXACT} AND observed_at >= $2 AND observed_at < $3"
    " AND ($5::text IS NULL OR plate_state = $5) ORDER BY observed_at DESC, id DESC LIMIT $4"
)


async def exact_plate(
    pool: asyncpg.Pool, plate: str, state: str | None, start: datetime, end: datetime, limit: int
) -> Rows:
    """Every owner's reads of `plate`, for load.baseline (the bare peer the proxy is measured
    against), which has no policy to scope them by. The proxy itself uses `search`."""
    return await pool.fetch(_UNSCOPED_EXACT, plate, start, end, limit, state)  # type: ignore[no-any-return]


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) enclosing the circle, with a 1% margin."""
    dlat = math.degrees(radius_m * 1.01 / EARTH_RADIUS_M)
    coslat = max(math.cos(math.radians(lat)), 1e-6)
    dlon = min(180.0, math.degrees(radius_m * 1.01 / (EARTH_RADIUS_M * coslat)))
    return (lon - dlon, max(-90.0, lat - dlat), lon + dlon, min(90.0, lat + dlat))
