"""The usage report: searches by requesting agency x purpose x decision, with the reads they
returned."""

from __future__ import annotations

from typing import Any

import asyncpg

from proxy.oversight.period import RAW, ROLLUP, FlagOptions, Period, bounds, scope_label
from proxy.oversight.reports.kind import ReportKind, Table
from proxy.oversight.schemas import UsageReport, UsageRow

_USAGE = f"""
SELECT agency, purpose, decision, sum(n)::bigint AS searches, sum(r)::bigint AS reads FROM (
  SELECT agency, purpose, decision, searches AS n, reads AS r
  FROM audit.daily_usage WHERE {ROLLUP}
  UNION ALL
  SELECT coalesce(e.agency, ''), coalesce(e.purpose, ''), coalesce(e.decision, ''), 1,
         coalesce(e.reads_returned, 0)
  FROM audit.entry_facts e WHERE {RAW}
) u
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""


async def usage(
    conn: asyncpg.Connection, period: Period, scope: str | None, options: FlagOptions | None = None
) -> UsageReport:
    """Searches by requesting agency x purpose x decision, with the reads they returned."""
    rows = [
        UsageRow(
            agency=r["agency"],
            purpose=r["purpose"] or None,
            decision=r["decision"],
            searches=int(r["searches"]),
            reads=int(r["reads"]),
        )
        for r in await conn.fetch(_USAGE, *bounds(period, scope))
    ]
    return UsageReport(
        from_=period.from_,
        to=period.to,
        scope=scope_label(scope),
        searches=sum(r.searches for r in rows),
        reads=sum(r.reads for r in rows),
        rows=rows,
    )


def _tables(report: UsageReport) -> list[Table]:
    rows: list[list[Any]] = [
        [r.agency, r.purpose, r.decision, r.searches, r.reads] for r in report.rows
    ]
    return [("usage", ("agency", "purpose", "decision", "searches", "reads"), rows)]


USAGE = ReportKind(
    name="usage",
    summary="Searches by agency x purpose x decision, with reads returned",
    shape=UsageReport,
    run=usage,
    tables=_tables,
)
