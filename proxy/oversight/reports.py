"""Oversight reports (SPEC §8), shared by the HTTP API and `alpr-proxy audit report`.

Ranges, scopes and the rollup/raw split are in proxy.oversight.period; the flags report is in
proxy.oversight.flags. Reports are a convenience view computed from facts derived from each
entry (proxy.audit.facts): the canonical entry bytes, which the verifier checks, are the record.
"""

from __future__ import annotations

import asyncpg

from proxy.oversight.flags import flags_report
from proxy.oversight.period import RAW, ROLLUP, FlagOptions, Period, bounds, scope_label
from proxy.oversight.shapes import DisclosuresReport, FlagsReport, UsageReport, UsageRow

__all__ = ["FlagOptions", "Period", "disclosures", "flags", "usage"]

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


async def usage(conn: asyncpg.Connection, period: Period, scope: str | None) -> UsageReport:
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


async def disclosures(
    conn: asyncpg.Connection, period: Period, scope: str | None
) -> DisclosuresReport:
    """Reads disclosed: owning agency -> recipient agency -> reads."""
    disclosed: dict[str, dict[str, int]] = {}
    for r in await conn.fetch(_DISCLOSURES, *bounds(period, scope)):
        disclosed.setdefault(r["owner"], {})[r["recipient"]] = int(r["reads"])
    return DisclosuresReport(
        from_=period.from_, to=period.to, scope=scope_label(scope), disclosed=disclosed
    )


async def flags(
    conn: asyncpg.Connection,
    period: Period,
    scope: str | None,
    options: FlagOptions | None = None,
) -> FlagsReport:
    """Refused, flagged and on-behalf-of searches (with review state), unusual volume,
    boilerplate justifications: see proxy.oversight.flags."""
    return await flags_report(conn, period, scope, options or FlagOptions())
