"""The flags report's entry lists (refused, justification_flagged, on_behalf_of): the complete
count, how many are unreviewed, and the first entries by index with their reviews.

Whose review counts depends on who reads the report: oversight's disposition stands for
oversight and an agency's for that agency, so neither can override the other
(proxy.oversight.reports.flags describes the report as a whole).
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from proxy.oversight.derived import on_behalf_of_ori
from proxy.oversight.period import IN_RANGE, FlagOptions
from proxy.oversight.schemas import FlaggedEntry, FlagList, ReviewState

# A review `r` that stands for the reader ($1: NULL for oversight, else the auditor's ORI).
_OWN = (
    "(CASE WHEN $1::text IS NULL THEN coalesce(r.review_by_oversight, false)"
    " ELSE NOT coalesce(r.review_by_oversight, false) AND r.agency = $1::text END)"
)
_UNREVIEWED = (
    "NOT EXISTS (SELECT 1 FROM audit.entry_facts r WHERE r.reviewed_index = e.idx AND " + _OWN + ")"
)

_COUNT = "SELECT count(*) FROM audit.entry_facts e WHERE {cond} AND " + IN_RANGE
# Reviews are few (people write them), so count the reviewed from the reviews' side.
_REVIEWED = (
    "SELECT count(DISTINCT r.reviewed_index) FROM audit.entry_facts r"
    " JOIN audit.entry_facts e ON e.idx = r.reviewed_index"
    " WHERE r.reviewed_index IS NOT NULL AND " + _OWN + " AND {cond} AND " + IN_RANGE
)
# Pick the indexes first (index-only), then read only those bodies.
_LIST = (
    "WITH picked AS MATERIALIZED ("
    " SELECT e.idx FROM audit.entry_facts e WHERE {cond} AND " + IN_RANGE + " {unreviewed}"
    " ORDER BY e.idx LIMIT $4)"
    " SELECT p.idx, b.body FROM picked p JOIN audit.entries b ON b.idx = p.idx ORDER BY p.idx"
)
# Every review of the listed entries, oldest first; sort_reviews() sorts out whose is whose.
_REVIEWS = (
    "SELECT r.idx, r.reviewed_index, r.agency, coalesce(r.review_by_oversight, false) AS ovs,"
    " b.body FROM audit.entry_facts r JOIN audit.entries b ON b.idx = r.idx"
    " WHERE r.reviewed_index = ANY($1::bigint[]) ORDER BY r.idx"
)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _review_state(index: int, body: bytes, by_oversight: bool) -> ReviewState:
    r = orjson.loads(body)
    return ReviewState(
        audit_index=index,
        disposition=str(r.get("disposition")),
        subject=_str(r.get("subject")),
        agency=_str(r.get("agency")),
        time=_str(r.get("time")),
        by="oversight" if by_oversight else "auditor",
    )


Sides = dict[int, tuple[ReviewState | None, list[ReviewState]]]


def sort_reviews(scope: str | None, rows: list[Any]) -> Sides:
    """Per reviewed index: (the latest review standing for the reader, the latest of each other
    reviewing agency shown beside it), from review rows in index order (_REVIEWS)."""
    own: dict[int, Any] = {}
    others: dict[int, dict[str | None, Any]] = {}
    for r in rows:
        ovs, agency, target = bool(r["ovs"]), r["agency"], int(r["reviewed_index"])
        if ovs if scope is None else (not ovs and agency == scope):
            own[target] = r  # rows ascend: the last one seen is the latest
        elif scope is None or ovs:  # an auditor is not shown other agencies' reviews
            others.setdefault(target, {})[agency] = r
    out: Sides = {}
    for target in own.keys() | others.keys():
        mine = own.get(target)
        beside = sorted(others.get(target, {}).values(), key=lambda r: int(r["idx"]))
        out[target] = (
            None
            if mine is None
            else _review_state(int(mine["idx"]), bytes(mine["body"]), mine["ovs"]),
            [_review_state(int(r["idx"]), bytes(r["body"]), r["ovs"]) for r in beside],
        )
    return out


def _flagged(index: int, body: bytes, sides: Sides) -> FlaggedEntry:
    e = orjson.loads(body)
    state, beside = sides.get(index, (None, []))
    return FlaggedEntry(
        index=index,
        time=_str(e.get("time")),
        agency=_str(e.get("agency")),
        subject=_str(e.get("subject")),
        on_behalf_of=on_behalf_of_ori(e),
        purpose=_str(e.get("purpose")),
        justification=_str(e.get("justification")),
        decision=_str(e.get("decision")),
        reason=_str(e.get("reason")),
        unreviewed=state is None,
        review=state,
        other_reviews=beside,
    )


async def flag_list(
    conn: asyncpg.Connection, cond: str, args: tuple[Any, ...], options: FlagOptions
) -> FlagList:
    total = int(await conn.fetchval(_COUNT.format(cond=cond), *args))
    reviewed = int(await conn.fetchval(_REVIEWED.format(cond=cond), *args))
    unreviewed_clause = f"AND {_UNREVIEWED}" if options.unreviewed_only else ""
    sql = _LIST.format(cond=cond, unreviewed=unreviewed_clause)
    rows = await conn.fetch(sql, *args, options.limit)
    listed = [int(r["idx"]) for r in rows]
    sides = sort_reviews(args[0], await conn.fetch(_REVIEWS, listed) if listed else [])
    entries = [_flagged(int(r["idx"]), bytes(r["body"]), sides) for r in rows]
    listable = total - reviewed if options.unreviewed_only else total
    return FlagList(
        total=total,
        unreviewed=total - reviewed,
        truncated=listable > len(entries),
        entries=entries,
    )


FLAG_HEADER = (
    "index",
    "time",
    "agency",
    "subject",
    "on_behalf_of",
    "purpose",
    "decision",
    "reason",
    "justification",
    "unreviewed",
    "review_index",
    "review_disposition",
    "other_reviews",
)


def _beside(e: FlaggedEntry) -> str:
    """The reviews shown beside the reader's own: "CA0000002 no_issue (#17); ..."."""
    return "; ".join(f"{r.agency} {r.disposition} (#{r.audit_index})" for r in e.other_reviews)


def flag_rows(flags: FlagList) -> list[list[Any]]:
    return [
        [
            e.index,
            e.time,
            e.agency,
            e.subject,
            e.on_behalf_of,
            e.purpose,
            e.decision,
            e.reason,
            e.justification,
            e.unreviewed,
            e.review.audit_index if e.review else None,
            e.review.disposition if e.review else None,
            _beside(e),
        ]
        for e in flags.entries
    ]
