"""The range and scope every report covers, and how it splits into rollup days and raw edges.

A report covers the half-open range [from, to) of entry times and a scope: None for oversight
(everything), or an ORI for an auditor (only entries that concern the agency: it is the
requester, the on-behalf-of agency or a disclosing owner). Whole UTC days come from the daily
rollups of sql/audit/003_oversight.sql, the partial days at either end from audit.entry_facts,
so the figures are exact for any range and a quarter costs a few thousand rollup rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from proxy.oversight import facts
from proxy.policy.two_person_fields import (
    DEFAULT_APPROVAL_VALID_HOURS,
    DEFAULT_EXIGENT_REVIEW_HOURS,
)


@dataclass(frozen=True, slots=True)
class Period:
    from_: datetime
    to: datetime

    def __post_init__(self) -> None:
        if self.from_.tzinfo is None or self.to.tzinfo is None:
            raise ValueError("`from` and `to` need a time zone")
        if self.from_ > self.to:
            raise ValueError("`from` must not be after `to`")


@dataclass(frozen=True, slots=True)
class FlagOptions:
    limit: int = 100  # flagged entries listed per category (totals are always complete)
    unreviewed_only: bool = False
    volume_factor: float = 3.0  # unusual: more than factor x the agency's median ...
    volume_min: int = 20  # ... and at least this many searches in the range
    boilerplate_min: int = 10  # one normalised justification shared by this many searches
    # Users with at least this many sensitive_location refusals within PROBE_WINDOW_HOURS:
    # mapping a refusal region takes many probes, a canvass hits one now and then.
    probe_min: int = 3
    # SPEC §12: the policy's windows, and the moment deadlines are judged at (None: the time
    # the report runs). The HTTP API passes the live policy's and the server's clock.
    approval_valid_hours: int = DEFAULT_APPROVAL_VALID_HOURS
    exigent_review_hours: int = DEFAULT_EXIGENT_REVIEW_HOURS
    now: datetime | None = None

    def judged_at(self) -> datetime:
        return datetime.now(UTC) if self.now is None else self.now


PROBE_WINDOW_HOURS = 24


def scope_label(scope: str | None) -> str:
    return "all" if scope is None else scope


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=UTC)


def bounds(period: Period, scope: str | None) -> tuple[Any, ...]:
    """SQL parameters $1..$7: the scope ORI (NULL: all), rollup days [$2, $3), and the two raw
    ranges [$4, $5) and [$6, $7) that those whole days leave out."""
    f, t = period.from_.astimezone(UTC), period.to.astimezone(UTC)
    first = f.date() if f == _midnight(f.date()) else f.date() + timedelta(days=1)
    last = t.date()
    if first >= last:  # no whole day inside: everything comes from the entries
        return (scope, first, first, f, t, t, t)
    return (scope, first, last, f, _midnight(first), _midnight(last), t)


def months(period: Period) -> tuple[date, date]:
    """Whole UTC months [lo, hi) inside the whole days of bounds(); lo == hi when none. The
    per-user rollup has one row per user and day, too many to add up over a quarter, so whole
    months come from its monthly twin."""
    _, first, last, *_ = bounds(period, None)
    lo = first if first.day == 1 else (first.replace(day=1) + timedelta(days=32)).replace(day=1)
    hi = last.replace(day=1)
    return (lo, hi) if lo < hi else (first, first)


# The rollups' scope for "every entry" (sql/audit/007_rollup_all_scope.sql): empty, which no
# entry's `concerns` can hold, so no agency's scope can meet it. An auditor scope of '' (no ORI
# can be empty; checked again here) matches no rollup row, as it matches no entry.
ALL_SCOPE = ""
_SCOPE = f"scope = coalesce($1::text, '{ALL_SCOPE}') AND $1::text IS DISTINCT FROM '{ALL_SCOPE}'"

# Search entries in the raw ranges, within scope; $1..$7 as bounds() returns them.
RAW = """e.event = 'search'
  AND ((e.at >= $4 AND e.at < $5) OR (e.at >= $6 AND e.at < $7))
  AND ($1::text IS NULL OR e.concerns @> ARRAY[$1::text])"""
# Rollup rows of the whole days, within scope.
ROLLUP = f"{_SCOPE} AND day >= $2 AND day < $3"
# Rollup rows of the whole months (flags' per-user volume): $8 and $9 as months() returns them.
MONTHS = f"{_SCOPE} AND month >= $8 AND month < $9"
# Any entry in the whole range and scope: $1 scope, $2 from, $3 to.
IN_RANGE = """e.at >= $2 AND e.at < $3
  AND ($1::text IS NULL OR e.concerns @> ARRAY[$1::text])"""


@asynccontextmanager
async def snapshot(conn: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """One read-only snapshot, so the parts of a report agree with each other. Plans are made
    for the actual parameters every time: a cached generic plan cannot know whether a query is
    scoped to one agency or covers a day or a year, and picks badly for one or the other.

    First the facts and the rollups catch up with the log (proxy.oversight.facts), in their own
    transactions, so the snapshot sees every entry committed before the report was asked for."""
    await facts.catch_up(conn)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(
            "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL work_mem = '64MB'"
        )
        yield conn
