"""The store's one implementation: PostgreSQL, `alpr.reads` (SPEC §4), the only SQL against it.

The store pool connects as a read-only role and every session is read-only as well, so a bug
here cannot modify evidence. Rows come back newest first, as typed `Read`s. Every query is
bounded by `limit`: a broad partial-plate pattern must not pull millions of rows into the proxy.

A search is two statements on one connection:

- `fetch`: only reads the search may disclose as far as the store can tell, i.e. of the
  owners whose rules admit every recipient (`Scope.owners`) and taken on or after the
  retention cutoff (`Scope.since`, or the owner's own in `Scope.owner_since`, passed as two
  short arrays). The proxy still filters these read by read.
- `count_withheld`: how many other reads matched, by SPEC §8 reason, without fetching them:
  before the cutoff is `retention` (checked first, as in the proxy's filter), the rest are of
  owners that do not share (`sharing`). Counting in the database costs far less per read than
  fetching, decoding and filtering it did, which is what made the response time track the
  number of withheld reads (README: the residual timing channel).

An area search selects the circle's bounding box (`policy.geo.circle_bbox`, the one the policy
uses) and keeps the reads within the radius by the policy's haversine formula; the count applies
the same formula in SQL, term for term.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from proxy.model import Read, SearchQuery
from proxy.policy.geo import EARTH_RADIUS_M, Circle, circle_bbox, haversine_m
from proxy.policy.plates import checked_pattern
from proxy.settings import DatabaseSettings
from proxy.store.base import Fetched, Scope, StoreUnavailable, Withheld
from proxy.store.pools import DB_ERRORS, STORE, open_proxy_pool, ping

_COLUMNS = "id, plate, plate_state, observed_at, lat, lon, camera_id, agency_ori"

# Each search type's match condition. $1 is its key (plate, LIKE pattern, or box); the state,
# when given, is the statement's last parameter (numbered by the statement).
EXACT = "plate = $1"
PATTERN = "plate LIKE $1"
# A box: the circle's bounding box; the circle itself is checked after the fetch or by
# `_IN_CIRCLE` (count), with the proxy's haversine formula, term for term.
AREA = "point(lon, lat) <@ $1::box"
_IN_CIRCLE = (
    f" AND 2 * {EARTH_RADIUS_M!r} * asin(least(1.0, sqrt("
    "sin((radians(lat) - radians($6)) / 2) ^ 2"
    " + cos(radians($6)) * cos(radians(lat)) * sin(radians(lon - $7) / 2) ^ 2))) <= $8"
)


def owner_cutoff(default: str, first: int) -> str:
    """The row's retention cutoff when some owners have a shorter one of their own: ${first}
    lists those owners, ${first + 1} their cutoffs in the same order; any other owner's is
    `default`. A lookup in two short arrays, per row, in the database."""
    return (
        f"coalesce((${first + 1}::timestamptz[])[array_position(${first}::text[], agency_ori)],"
        f" {default})"
    )


def fetch_sql(match: str, *, state: bool, owner_cutoffs: bool = False) -> str:
    """$1 key, $2 from (already raised to the retention cutoff), $3 to, $4 owners, $5 limit,
    $6 state; then, with `owner_cutoffs`, the owners with their own cutoff and those cutoffs.
    Half-open window [from, to): adjacent windows never return a read twice."""
    first = 7 if state else 6
    return (
        f"SELECT {_COLUMNS} FROM alpr.reads WHERE {match}"
        " AND observed_at >= $2 AND observed_at < $3 AND agency_ori = ANY($4::text[])"
        + (" AND plate_state = $6" if state else "")
        + (f" AND observed_at >= {owner_cutoff('$2', first)}" if owner_cutoffs else "")
        + " ORDER BY observed_at DESC, id DESC LIMIT $5"
    )


def count_sql(
    match: str, *, state: bool = False, circle: bool = False, owner_cutoffs: bool = False
) -> str:
    """$1 key, $2 from, $3 to, $4 owners, $5 limit; then $6 state, or $6 lat, $7 lon and
    $8 radius_m of the circle; the retention cutoff; then, with `owner_cutoffs`, the owners with
    their own cutoff and those cutoffs. At most `limit` reads are counted."""
    last = 9 if circle else 7 if state else 6
    cutoff = owner_cutoff(f"${last}", last + 1) if owner_cutoffs else f"${last}"
    return (
        "SELECT count(*) FILTER (WHERE past) AS retention,"
        " count(*) FILTER (WHERE NOT past) AS sharing, count(*) AS examined"
        f" FROM (SELECT observed_at < {cutoff} AS past FROM alpr.reads WHERE {match}"
        " AND observed_at >= $2 AND observed_at < $3"
        f" AND (observed_at < {cutoff} OR agency_ori <> ALL($4::text[]))"
        + (" AND plate_state = $6" if state else "")
        + (_IN_CIRCLE if circle else "")
        + " LIMIT $5) AS w"
    )


Rows = Sequence[asyncpg.Record]


@dataclass(frozen=True, slots=True)
class Match:
    """One search's match condition and its parameters, for both statements."""

    condition: str
    key: object
    state: str | None = None
    circle: tuple[float, float, float] | None = None  # lat, lon, radius_m


def pattern_to_like(pattern: str) -> str:
    """The SQL LIKE pattern for a normalised partial-plate pattern: '*' -> '%', '?' -> '_'.

    Nothing needs escaping: a normalised pattern holds only A-Z, 0-9, '*' and '?', so LIKE's own
    metacharacters ('%', '_' and the escape character) cannot occur in it.
    """
    return checked_pattern(pattern).replace("*", "%").replace("?", "_")


def area_box(lat: float, lon: float, radius_m: float) -> asyncpg.types.Box:
    """The circle's bounding box (the policy's, antimeridian and poles included) as a box."""
    min_lon, min_lat, max_lon, max_lat = circle_bbox(Circle(lat, lon, radius_m))
    return asyncpg.types.Box((max_lon, max_lat), (min_lon, min_lat))


def match_of(query: SearchQuery) -> Match:
    """The match condition for the search type; parse_search guarantees its field."""
    if query.plate is not None:
        return Match(EXACT, query.plate, query.plate_state)
    if query.pattern is not None:
        return Match(PATTERN, pattern_to_like(query.pattern), query.plate_state)
    if query.area is not None:
        a = query.area
        return Match(AREA, area_box(a.lat, a.lon, a.radius_m), circle=(a.lat, a.lon, a.radius_m))
    raise AssertionError(f"search of type {query.type} without its field")


async def fetch(
    conn: asyncpg.Connection,
    match: Match,
    scope: Scope,
    window: tuple[datetime, datetime],
    limit: int,
) -> tuple[Rows, Withheld]:
    """The rows to filter, newest first, and the count of those the store did not return."""
    start, end = window
    owners = list(scope.owners)
    extra: tuple[object, ...] = () if match.state is None else (match.state,)
    own = bool(scope.owner_since)
    # Owners with a shorter retention of their own: two parallel arrays, appended last.
    cutoffs: tuple[object, ...] = (
        (list(scope.owner_since), list(scope.owner_since.values())) if own else ()
    )
    rows = await conn.fetch(
        fetch_sql(match.condition, state=match.state is not None, owner_cutoffs=own),
        match.key,
        max(start, scope.since),
        end,
        owners,
        limit,
        *extra,
        *cutoffs,
    )
    counted = await conn.fetchrow(
        count_sql(
            match.condition,
            state=match.state is not None,
            circle=bool(match.circle),
            owner_cutoffs=own,
        ),
        match.key,
        start,
        end,
        owners,
        limit,
        *extra,
        *(match.circle or ()),
        scope.since,
        *cutoffs,
    )
    assert counted is not None  # an aggregate always returns one row
    return rows, Withheld(counted[0], counted[1], counted[2] >= limit)


class PostgresStore:
    """The Store over an asyncpg pool of the read-only store role."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def search(self, query: SearchQuery, scope: Scope, limit: int) -> Fetched:
        match = match_of(query)
        try:
            async with self.pool.acquire() as conn:
                rows, withheld = await fetch(conn, match, scope, (query.from_, query.to), limit)
        except DB_ERRORS as exc:
            raise StoreUnavailable(type(exc).__name__) from None
        reads = [Read(*row) for row in rows]
        if match.circle is not None:
            # The box over-selects corners; reads outside the circle were never "matched".
            lat, lon, radius_m = match.circle
            reads = [r for r in reads if haversine_m(lat, lon, r.lat, r.lon) <= radius_m]
        return Fetched(reads, withheld, len(rows) >= limit or withheld.limit_reached)

    async def ready(self) -> bool:
        return await ping(self.pool)


@contextlib.asynccontextmanager
async def open_store(db: DatabaseSettings) -> AsyncIterator[PostgresStore]:
    """The store pool as the proxy opens it; its failure to open is DatabaseUnavailable."""
    # Belt and braces on top of the read-only role: no session can write the store.
    async with open_proxy_pool(
        STORE,
        db.store_dsn,
        db,
        db.store_pool_size,
        default_transaction_read_only="on",
        application_name="alpr-proxy",
    ) as pool:
        yield PostgresStore(pool)


_UNSCOPED_EXACT = (
    f"SELECT {_COLUMNS} FROM alpr.reads WHERE {EXACT} AND observed_at >= $2 AND observed_at < $3"
    " AND ($5::text IS NULL OR plate_state = $5) ORDER BY observed_at DESC, id DESC LIMIT $4"
)


async def exact_plate(
    pool: asyncpg.Pool, plate: str, state: str | None, start: datetime, end: datetime, limit: int
) -> Rows:
    """Every owner's reads of `plate`, for load.baseline (the bare peer the proxy is measured
    against), which has no policy to scope them by. The proxy itself uses `PostgresStore`."""
    return await pool.fetch(_UNSCOPED_EXACT, plate, start, end, limit, state)  # type: ignore[no-any-return]
