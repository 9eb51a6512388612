"""`GET /v1/audit/entries`: filters, scope and cursor pagination over the log.

Pages are in index order and the cursor is the last index served, so a client paging while
new entries are appended neither skips nor repeats one: new entries only ever get larger
indexes, and they appear on later pages if they match. Filters use the facts derived from each
entry (audit.entry_facts); what is returned is each entry's canonical bytes, parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from proxy.audit.entry import DECISIONS, EVENTS
from proxy.errors import ProxyError
from proxy.policy.plates import normalize_pattern, normalize_plate

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_MAX_TEXT = 256


@dataclass(frozen=True, slots=True)
class EntryFilter:
    from_: datetime | None = None
    to: datetime | None = None
    agency: str | None = None  # the requester (the caller's agency for non-search events)
    subject: str | None = None
    purpose: str | None = None
    decision: str | None = None
    reason: str | None = None
    plate: str | None = None  # normalised plate, or normalised partial pattern
    on_behalf_of: str | None = None
    owner: str | None = None  # an agency whose reads the entry disclosed
    event: str | None = None


@dataclass(frozen=True, slots=True)
class EntryQuery:
    filter: EntryFilter
    cursor: int | None
    limit: int


PARAMS = frozenset({f.name.rstrip("_") for f in fields(EntryFilter)} | {"cursor", "limit"})


def _bad(message: str) -> ProxyError:
    return ProxyError("invalid_request", message)


def parse_time(name: str, raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise _bad(f"`{name}` must be an RFC 3339 date-time with a time zone") from None
    if value.tzinfo is None:
        raise _bad(f"`{name}` needs a time zone (e.g. Z or +02:00)")
    return value


def parse_count(name: str, raw: str, *, low: int, high: int) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not low <= int(raw) <= high:
        raise _bad(f"`{name}` must be an integer from {low} to {high}")
    return int(raw)


def _plate(raw: str) -> str:
    value = normalize_pattern(raw) if ("*" in raw or "?" in raw) else normalize_plate(raw)
    if value is None:
        raise _bad("`plate` must be a plate (1-10 letters and digits) or a partial pattern")
    return value


def parse_query(params: Mapping[str, str]) -> EntryQuery:
    """The query string as filters, or invalid_request naming the first bad parameter."""
    unknown = sorted(set(params) - PARAMS)
    if unknown:
        raise _bad(f"unknown query parameter `{unknown[0]}`; known: {', '.join(sorted(PARAMS))}")
    text: dict[str, str] = {}
    for name in ("agency", "subject", "purpose", "reason", "on_behalf_of", "owner"):
        if name in params:
            if not 0 < len(params[name]) <= _MAX_TEXT:
                raise _bad(f"`{name}` must be 1-{_MAX_TEXT} characters")
            text[name] = params[name]
    event, decision = params.get("event"), params.get("decision")
    if event is not None and event not in EVENTS:
        raise _bad(f"`event` must be one of {', '.join(sorted(EVENTS))}")
    if decision is not None and decision not in DECISIONS:
        raise _bad(f"`decision` must be one of {', '.join(sorted(DECISIONS))}")
    frm = parse_time("from", params["from"]) if "from" in params else None
    to = parse_time("to", params["to"]) if "to" in params else None
    if frm is not None and to is not None and frm > to:
        raise _bad("`from` must not be after `to`")
    cursor = None
    if "cursor" in params:
        cursor = parse_count("cursor", params["cursor"], low=0, high=2**63 - 1)
    limit = DEFAULT_LIMIT
    if "limit" in params:
        limit = parse_count("limit", params["limit"], low=1, high=MAX_LIMIT)
    flt = EntryFilter(
        from_=frm,
        to=to,
        plate=_plate(params["plate"]) if "plate" in params else None,
        event=event,
        decision=decision,
        **text,
    )
    return EntryQuery(flt, cursor, limit)


# Column and operator per filter; owners is an array, matched by containment (GIN index).
_CONDITIONS: dict[str, str] = {
    "from_": "e.at >= {}",
    "to": "e.at < {}",
    "agency": "e.agency = {}",
    "subject": "e.subject = {}",
    "purpose": "e.purpose = {}",
    "decision": "e.decision = {}",
    "reason": "e.reason = {}",
    "plate": "e.plate = {}",
    "on_behalf_of": "e.on_behalf_of = {}",
    "owner": "e.owners @> ARRAY[{}::text]",
    "event": "e.event = {}",
}


def _where(query: EntryQuery, scope: str | None, span: tuple[int, int]) -> tuple[str, list[Any]]:
    conds: list[str] = []
    args: list[Any] = []

    def add(template: str, value: Any) -> None:
        args.append(value)
        conds.append(template.format(f"${len(args)}"))

    for name, template in _CONDITIONS.items():
        value = getattr(query.filter, name)
        if value is not None:
            add(template, value)
    if scope is not None:
        add("e.concerns @> ARRAY[{}::text]", scope)
    if query.cursor is not None:
        add("e.idx > {}", query.cursor)
    if span != (0, 2**63 - 1):
        add("e.idx >= {}", span[0])
        add("e.idx <= {}", span[1])
    return (" AND ".join(conds) or "true"), args


_HOUR = "date_bin('1 hour', $1::timestamptz, timestamptz '2000-01-01 00:00:00+00')"
_LOWEST = f"SELECT min(min_idx) FROM audit.hour_index_range WHERE hour >= {_HOUR}"
_HIGHEST = f"SELECT max(max_idx) FROM audit.hour_index_range WHERE hour <= {_HOUR}"


async def _index_range(conn: asyncpg.Connection, flt: EntryFilter) -> tuple[int, int] | None:
    """Bounds on the indexes of entries in the time range (None: there are none). Passed as
    constants, they let the planner start an index-order scan where the range begins."""
    lo, hi = 0, 2**63 - 1
    if flt.from_ is not None:
        lo = await conn.fetchval(_LOWEST, flt.from_)
    if flt.to is not None:
        hi = await conn.fetchval(_HIGHEST, flt.to)
    return None if lo is None or hi is None else (lo, hi)


async def fetch_page(
    conn: asyncpg.Connection, query: EntryQuery, scope: str | None
) -> tuple[list[tuple[int, bytes]], int | None]:
    """(index, body) of one page, and the cursor of the next page (None: this was the last)."""
    span = await _index_range(conn, query.filter)
    if span is None:
        return [], None
    where, args = _where(query, scope, span)
    sql = (
        f"SELECT e.idx, b.body FROM audit.entry_facts e JOIN audit.entries b ON b.idx = e.idx"
        f" WHERE {where} ORDER BY e.idx LIMIT {query.limit + 1}"
    )
    rows = [(int(r["idx"]), bytes(r["body"])) for r in await conn.fetch(sql, *args)]
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        return rows, rows[-1][0]
    return rows, None


def entry_object(index: int, body: bytes) -> dict[str, Any]:
    """The entry as JSON with its index (an entry never has an `index` key of its own)."""
    try:
        entry = orjson.loads(body)
    except orjson.JSONDecodeError:
        entry = None
    if not isinstance(entry, dict):
        return {"index": index, "raw": body.decode("utf-8", "replace")}
    return {**entry, "index": index}
