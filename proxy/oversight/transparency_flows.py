"""The transparency index's questions across agencies, from the policy and the audit log:

* which agencies share reads of their own (the owner of a sharing rule) and which do not (no
  rule names them as owner: nobody else can receive theirs, if they own any; the policy does
  not say whether they do);
* the other direction: whose reads can each federal or immigration-enforcement agency
  receive today (the same ``recipients`` computation as each agency's page, inverted);
* searches made by, or on behalf of, federal and immigration-enforcement agencies, and every
  refusal grouped by severity (``proxy.errors.REFUSAL_SEVERITY``), over a window of days the
  reader chooses (``WINDOWS``).

``build_overview`` is pure; ``fetch_overview_activity`` is the SQL.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from proxy.errors import SEVERITY_LABELS, Severity, refusal_severity
from proxy.oversight.transparency import (
    WINDOW_DAYS,
    Recipient,
    exposure,
    recipients,
    today_of,
)
from proxy.policy.model import Agency, Policy
from proxy.policy.retention import retention_days

WINDOWS = (WINDOW_DAYS, 90, 365)  # days of history a reader can choose; the first is the default


class WindowError(ValueError):
    """`days` is not one of WINDOWS."""


def parse_window(raw: str | None) -> int:
    if raw is None or raw == "":
        return WINDOWS[0]
    if not raw.isascii() or not raw.isdigit() or int(raw) not in WINDOWS:
        raise WindowError(f"`days` must be one of {', '.join(map(str, WINDOWS))}")
    return int(raw)


def watched(agency: Agency) -> bool:
    """Agencies whose receiving the public asks about first (SB 54 and its like)."""
    return agency.kind == "federal" or agency.immigration_enforcement


@dataclass(frozen=True, slots=True)
class Source:
    """An owner whose reads an agency can receive today, and for which purposes."""

    owner: Agency
    recipient: Recipient  # the owner's grant to that agency


@dataclass(frozen=True, slots=True)
class OverviewRow:
    agency: Agency
    shares: bool  # the owner of at least one sharing rule in the policy in force
    recipients: int  # other agencies admitted to its reads today
    exposed: bool  # a federal, out-of-state or immigration agency is among them
    sources: tuple[Source, ...]  # owners whose reads it can receive today
    retention_days: int  # effective for its own reads (proxy.policy.retention)


@dataclass(frozen=True, slots=True)
class Overview:
    rows: tuple[OverviewRow, ...]  # by name

    def watched_rows(self) -> tuple[OverviewRow, ...]:
        return tuple(r for r in self.rows if watched(r.agency))


def build_overview(policy: Policy, now: datetime) -> Overview:
    today = today_of(now)
    owners = {rule.owner for rule in policy.sharing}
    granted = {ori: recipients(policy, ori, today) for ori in policy.agencies}
    sources: dict[str, list[Source]] = {}
    for ori, admitted in granted.items():
        for r in admitted:
            sources.setdefault(r.agency.ori, []).append(Source(policy.agencies[ori], r))
    rows = [
        OverviewRow(
            agency=agency,
            shares=ori in owners,
            recipients=len(granted[ori]),
            exposed=exposure(agency, granted[ori]).any,
            sources=tuple(sorted(sources.get(ori, []), key=lambda s: s.owner.name)),
            retention_days=retention_days(policy, ori),
        )
        for ori, agency in policy.agencies.items()
    ]
    return Overview(tuple(sorted(rows, key=lambda r: (r.agency.name, r.agency.ori))))


@dataclass(frozen=True, slots=True)
class WatchedSearches:
    requester: str
    on_behalf_of: str | None
    decision: str  # allowed | refused | error
    searches: int


@dataclass(frozen=True, slots=True)
class OverviewActivity:
    days: int
    since: datetime
    watched: tuple[WatchedSearches, ...]
    refusals: tuple[tuple[str, int], ...]  # (reason, searches), most first

    def refusals_by_severity(self) -> list[tuple[Severity, list[tuple[str, int]]]]:
        return group_by_severity(self.refusals)


def group_by_severity(
    refusals: tuple[tuple[str, int], ...],
) -> list[tuple[Severity, list[tuple[str, int]]]]:
    """Refusals grouped gravest first (the order of SEVERITY_LABELS), most searches first."""
    groups: dict[Severity, list[tuple[str, int]]] = {}
    for reason, n in refusals:
        groups.setdefault(refusal_severity(reason), []).append((reason, n))
    return [(s, groups[s]) for s in SEVERITY_LABELS if s in groups]


def severity_totals(refusals: tuple[tuple[str, int], ...]) -> Counter[Severity]:
    totals: Counter[Severity] = Counter()
    for reason, n in refusals:
        totals[refusal_severity(reason)] += n
    return totals


_WATCHED_SQL = """
SELECT e.agency AS requester, e.on_behalf_of, e.decision, count(*) AS searches
FROM audit.entry_facts e
WHERE e.at >= $1 AND e.event = 'search'
  AND (e.agency = ANY($2::text[]) OR e.on_behalf_of = ANY($2::text[]))
GROUP BY 1, 2, 3
ORDER BY 4 DESC, 1, 2, 3
"""

_ALL_REFUSALS_SQL = """
SELECT coalesce(e.reason, '') AS reason, count(*) AS searches
FROM audit.entry_facts e
WHERE e.at >= $1 AND e.event = 'search' AND e.decision = 'refused'
GROUP BY 1
ORDER BY 2 DESC, 1
"""


async def fetch_overview_activity(
    conn: asyncpg.Connection, policy: Policy, now: datetime, days: int
) -> OverviewActivity:
    since = now - timedelta(days=days)
    oris = sorted(o for o, a in policy.agencies.items() if watched(a))
    rows = await conn.fetch(_WATCHED_SQL, since, oris)
    refusals = await conn.fetch(_ALL_REFUSALS_SQL, since)
    return OverviewActivity(
        days=days,
        since=since,
        watched=tuple(
            WatchedSearches(
                r["requester"] or "", r["on_behalf_of"], r["decision"] or "", int(r["searches"])
            )
            for r in rows
        ),
        refusals=tuple((r["reason"], int(r["searches"])) for r in refusals),
    )
