"""Exigent searches and their reviews (SPEC §12), for the flags report and the overdue metric.

An exigent search runs at once and must be reviewed within `exigent_review_hours` by a
supervisor of the requester's agency or by oversight; only such a review counts here (an
agency auditor's disposition is theirs, and does not discharge the exigent review).

- `unreviewed`: exigent searches without such a review, each with its `index`, when it is due
  and whether that has passed.
- `reviewed_late`: those whose first such review came after it was due.

The deadline is judged with the policy's `exigent_review_hours` when the report runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from proxy import metrics
from proxy.audit.canonical import timestamp
from proxy.oversight.csvout import attribute_rows
from proxy.oversight.period import IN_RANGE, FlagOptions
from proxy.oversight.reports.kind import Table
from proxy.oversight.schemas import ExigentFlags, ExigentList, ExigentSearch

# The review `r` counts as exigent search `e`'s review.
COUNTS = (
    "r.reviewed_index = e.idx AND r.event = 'review'"
    " AND (coalesce(r.review_by_oversight, false)"
    "      OR (coalesce(r.review_by_supervisor, false) AND r.agency = e.agency))"
)
_EXIGENT = "e.event = 'search' AND e.exigent AND e.decision = 'allowed'"
_LIST = f"""
WITH x AS MATERIALIZED (
  SELECT e.idx, e.at + $5::interval AS due,
         (SELECT r.idx FROM audit.entry_facts r WHERE {COUNTS} ORDER BY r.idx LIMIT 1) AS review
  FROM audit.entry_facts e WHERE {_EXIGENT} AND {IN_RANGE}
), y AS (
  SELECT x.idx, x.due, x.review, r.at AS reviewed_at
  FROM x LEFT JOIN audit.entry_facts r ON r.idx = x.review
), picked AS MATERIALIZED (
  SELECT y.*, count(*) OVER () AS total FROM y WHERE {{which}} ORDER BY y.idx LIMIT $4
)
SELECT p.*, b.body FROM picked p JOIN audit.entries b ON b.idx = p.idx ORDER BY p.idx
"""
_UNREVIEWED = "y.review IS NULL"
_LATE = "y.reviewed_at > y.due"
_OVERDUE = f"""
SELECT count(*) FROM audit.entry_facts e
WHERE {_EXIGENT} AND e.at + $2::interval < $1
  AND NOT EXISTS (SELECT 1 FROM audit.entry_facts r WHERE {COUNTS})
"""


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _search(row: Any, now: datetime) -> ExigentSearch:
    e = orjson.loads(row["body"])
    due: datetime = row["due"]
    reviewed_at: datetime | None = row["reviewed_at"]
    return ExigentSearch(
        index=int(row["idx"]),
        time=_str(e.get("time")),
        agency=_str(e.get("agency")),
        subject=_str(e.get("subject")),
        purpose=_str(e.get("purpose")),
        justification=_str(e.get("justification")),
        due=timestamp(due),
        overdue=(reviewed_at or now) > due,
        review_index=row["review"],
        reviewed_at=None if reviewed_at is None else timestamp(reviewed_at),
    )


async def _list(
    conn: asyncpg.Connection, args: tuple[Any, ...], options: FlagOptions, which: str
) -> ExigentList:
    hours = timedelta(hours=options.exigent_review_hours)
    rows = await conn.fetch(_LIST.format(which=which), *args, options.limit, hours)
    total = int(rows[0]["total"]) if rows else 0
    entries = [_search(r, options.judged_at()) for r in rows]
    return ExigentList(total=total, truncated=total > len(entries), entries=entries)


async def exigent_flags(
    conn: asyncpg.Connection, args: tuple[Any, ...], options: FlagOptions
) -> ExigentFlags:
    """``args``: $1 scope, $2 from, $3 to (proxy.oversight.period.IN_RANGE)."""
    return ExigentFlags(
        review_hours=options.exigent_review_hours,
        unreviewed=await _list(conn, args, options, _UNREVIEWED),
        reviewed_late=await _list(conn, args, options, _LATE),
    )


async def overdue_reviews(conn: asyncpg.Connection, now: datetime, review_hours: int) -> int:
    """Exigent searches, in the whole log, past due without a review that counts."""
    return int(await conn.fetchval(_OVERDUE, now, timedelta(hours=review_hours)))


async def refresh_overdue_metric(conn: asyncpg.Connection, now: datetime, review_hours: int) -> int:
    """Set alpr_proxy_exigent_reviews_overdue (after each checkpoint run, proxy.app)."""
    overdue = await overdue_reviews(conn, now, review_hours)
    metrics.EXIGENT_REVIEWS_OVERDUE.set(overdue)
    return overdue


_HEADER = (
    "index", "time", "agency", "subject", "purpose", "justification", "due", "overdue",
    "review_index", "reviewed_at",
)  # fmt: skip


def _rows(found: ExigentList) -> list[list[Any]]:
    return attribute_rows(found.entries, _HEADER)


def exigent_tables(flags: ExigentFlags) -> list[Table]:
    out: list[Table] = []
    for label, found in (("unreviewed", flags.unreviewed), ("reviewed late", flags.reviewed_late)):
        title = f"flags: exigent searches {label} (review within {flags.review_hours} hours;"
        title += f" {found.total} in all{', list truncated' if found.truncated else ''})"
        out.append((title, _HEADER, _rows(found)))
    return out
