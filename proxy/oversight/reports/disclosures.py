"""The disclosures report: reads disclosed, owning agency -> recipient agency -> reads."""

from __future__ import annotations

from typing import Any

import asyncpg

from proxy.oversight.period import RAW, ROLLUP, FlagOptions, Period, bounds, scope_label
from proxy.oversight.reports.kind import ReportKind, Table
from proxy.oversight.schemas import DisclosuresReport

# Each owner's reads count once per recipient: the requester and the on-behalf-of agency.
_DISCLOSURES = f"""
SELECT owner, recipient, sum(n)::bigint AS reads FROM (
  SELECT owner, recipient, reads AS n FROM audit.daily_disclosures WHERE {ROLLUP}
  UNION ALL
  SELECT o.owner, r.recipient, o.reads
  FROM audit.entry_facts e
  CROSS JOIN LATERAL unnest(e.owners, e.owner_reads) o(owner, reads)
  CROSS JOIN LATERAL unnest(ARRAY[e.agency, nullif(e.on_behalf_of, e.agency)]) r(recipient)
  WHERE {RAW} AND r.recipient IS NOT NULL
) d
GROUP BY 1, 2
ORDER BY 1, 2
"""


async def disclosures(
    conn: asyncpg.Connection, period: Period, scope: str | None, options: FlagOptions | None = None
) -> DisclosuresReport:
    """Reads disclosed: owning agency -> recipient agency -> reads."""
    disclosed: dict[str, dict[str, int]] = {}
    for r in await conn.fetch(_DISCLOSURES, *bounds(period, scope)):
        disclosed.setdefault(r["owner"], {})[r["recipient"]] = int(r["reads"])
    return DisclosuresReport(
        from_=period.from_, to=period.to, scope=scope_label(scope), disclosed=disclosed
    )


def _tables(report: DisclosuresReport) -> list[Table]:
    pairs: list[list[Any]] = [
        [owner, recipient, reads]
        for owner, to in report.disclosed.items()
        for recipient, reads in to.items()
    ]
    return [("disclosures", ("owner", "recipient", "reads"), pairs)]


DISCLOSURES = ReportKind(
    name="disclosures",
    summary="Reads disclosed: owning agency -> recipient agency (requester and on-behalf-of)",
    shape=DisclosuresReport,
    run=disclosures,
    tables=_tables,
)
