"""The flags report: what an auditor should look at, and whether anyone has yet.

- `refused`: search entries with decision `refused`.
- `justification_flagged`: refused because the justification held a prohibited term.
- `on_behalf_of`: searches run for another agency.
  For these three: the complete count, how many are still unreviewed, and the first `limit`
  entries by index with their reviews. Whose review counts depends on who reads the report:
  oversight's disposition stands for oversight and an agency's for that agency, so neither can
  override the other. In oversight's report an entry is unreviewed until oversight (a reviewer
  holding the `oversight` role) has reviewed it; `review` is oversight's latest and
  `other_reviews` the latest of each agency whose auditors reviewed it. In an auditor's report
  the auditor's own agency's latest review stands, and oversight's is shown beside it; other
  agencies' auditors' reviews are not shown.
- `unusual_volume`: users whose searches in the range exceed `volume_factor` times the median
  of their agency's users (users with at least one search in the range and scope) and number
  at least `volume_min`.
- `sensitive_location_probes`: users with at least `probe_min` (default 3) `sensitive_location`
  refusals within any 24 hours of the range: someone mapping where a sensitive location is
  (each probe is a refused area search) rather than running a canvass, which hits one now and
  then. Listed with their count in the range, the most within one window, and the first and
  last entry.
- `boilerplate`: justifications that, normalised (casefolded, digits as '#', whitespace
  collapsed; proxy.oversight.derived), are shared by at least `boilerplate_min` searches in the
  range, whoever made them: one user pasting the same text is as telling as many.
- `approvals` and `exigent` (SPEC §12): the two-person rule's requests, decisions and uses
  (proxy.oversight.reports.flag_approvals), and exigent searches unreviewed or reviewed late
  (proxy.oversight.reports.flag_exigent).
- `grant_key_changes` (SPEC §11): changes of an owner's grant keys in the operator's policy,
  authorised by the owner or not (proxy.oversight.reports.flag_keys).

These last parts, each in its own module, are listed once, in proxy.oversight.reports.flag_parts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import orjson

from proxy.oversight.derived import normalize_justification
from proxy.oversight.period import (
    IN_RANGE,
    MONTHS,
    PROBE_WINDOW_HOURS,
    RAW,
    ROLLUP,
    FlagOptions,
    Period,
    bounds,
    months,
    scope_label,
)
from proxy.oversight.reports.flag_lists import FLAG_HEADER, flag_list, flag_rows
from proxy.oversight.reports.flag_parts import PARTS
from proxy.oversight.reports.kind import ReportKind, Table
from proxy.oversight.schemas import (
    BoilerplateFlags,
    BoilerplateText,
    FlagsReport,
    ProbeFlags,
    ProbeUser,
    VolumeFlags,
    VolumeUser,
)

CATEGORIES: dict[str, str] = {
    "refused": "e.event = 'search' AND e.decision = 'refused'",
    "justification_flagged": "e.event = 'search' AND e.reason = 'justification_flagged'",
    "on_behalf_of": "e.event = 'search' AND e.on_behalf_of IS NOT NULL",
}

_VOLUME = f"""
WITH per_user AS (
  SELECT agency, subject, sum(n)::bigint AS searches FROM (
    SELECT agency, subject, searches AS n FROM audit.monthly_users
    WHERE {MONTHS}
    UNION ALL
    SELECT agency, subject, searches AS n FROM audit.daily_users
    WHERE {ROLLUP} AND NOT (day >= $8 AND day < $9)
    UNION ALL
    SELECT coalesce(e.agency, ''), coalesce(e.subject, ''), 1 FROM audit.entry_facts e
    WHERE {RAW}
  ) u
  GROUP BY 1, 2
), norms AS (
  SELECT agency, percentile_cont(0.5) WITHIN GROUP (ORDER BY searches) AS median,
         count(*) AS users
  FROM per_user GROUP BY agency
)
SELECT p.agency, p.subject, p.searches, n.median, n.users
FROM per_user p JOIN norms n USING (agency)
WHERE p.searches > $10::float8 * n.median AND p.searches >= $11
ORDER BY p.searches DESC, p.agency, p.subject
LIMIT $12
"""

# Candidates are the keys used at least K times ever (a small, partially indexed table): only
# reused texts are then counted in the range, index-only on entry_facts_justification_idx. They
# go in as an array and are counted one at a time.
_CANDIDATES = """
SELECT key FROM audit.justification_totals WHERE searches >= $1 AND searches >= 2
"""
_BOILERPLATE = f"""
SELECT k.key, s.*, (SELECT body FROM audit.entries WHERE idx = s.first_index) AS sample
FROM unnest($4::bytea[]) k(key)
CROSS JOIN LATERAL (
  -- Per key, so each hash table is one text's users: small, and fast to build.
  SELECT sum(n)::bigint AS searches, count(*) AS users,
         array_remove(array_agg(DISTINCT agency), NULL) AS agencies,
         min(first_index) AS first_index, max(last_index) AS last_index
  FROM (
    SELECT e.agency, e.subject, count(*) AS n, min(e.idx) AS first_index,
           max(e.idx) AS last_index
    FROM audit.entry_facts e
    WHERE e.event = 'search' AND {IN_RANGE} AND e.justification_key = k.key
    GROUP BY 1, 2
  ) u
) s
WHERE s.searches >= $5
ORDER BY s.searches DESC, s.first_index
LIMIT $6
"""


_PROBES = f"""
WITH r AS (
  SELECT coalesce(e.agency, '') AS agency, coalesce(e.subject, '') AS subject, e.idx,
         count(*) OVER (PARTITION BY e.agency, e.subject ORDER BY e.at
                        RANGE BETWEEN CURRENT ROW AND $4::interval FOLLOWING) AS in_window
  FROM audit.entry_facts e
  WHERE e.reason = 'sensitive_location' AND e.event = 'search' AND {IN_RANGE}
)
SELECT agency, subject, count(*) AS refusals, max(in_window) AS most,
       min(idx) AS first_index, max(idx) AS last_index
FROM r GROUP BY 1, 2 HAVING max(in_window) >= $5
ORDER BY most DESC, refusals DESC, agency, subject
LIMIT $6
"""


async def _volume(
    conn: asyncpg.Connection, period: Period, scope: str | None, options: FlagOptions
) -> VolumeFlags:
    args = (
        *bounds(period, scope),
        *months(period),
        options.volume_factor,
        options.volume_min,
        options.limit,
    )
    users = [
        VolumeUser(
            agency=r["agency"],
            subject=r["subject"],
            searches=int(r["searches"]),
            agency_median=float(r["median"]),
            agency_users=int(r["users"]),
        )
        for r in await conn.fetch(_VOLUME, *args)
    ]
    return VolumeFlags(factor=options.volume_factor, min_searches=options.volume_min, users=users)


async def _boilerplate(
    conn: asyncpg.Connection, range_args: tuple[Any, ...], options: FlagOptions
) -> BoilerplateFlags:
    texts = []
    keys = [r["key"] for r in await conn.fetch(_CANDIDATES, options.boilerplate_min)]
    args = (*range_args, keys, options.boilerplate_min, options.limit)
    for r in await conn.fetch(_BOILERPLATE, *args) if keys else []:
        sample = orjson.loads(r["sample"]).get("justification")
        texts.append(
            BoilerplateText(
                text=normalize_justification(sample) if isinstance(sample, str) else "",
                searches=int(r["searches"]),
                users=int(r["users"]),
                agencies=sorted(r["agencies"]),
                first_index=int(r["first_index"]),
                last_index=int(r["last_index"]),
            )
        )
    return BoilerplateFlags(min_searches=options.boilerplate_min, texts=texts)


async def _probes(
    conn: asyncpg.Connection, range_args: tuple[Any, ...], options: FlagOptions
) -> ProbeFlags:
    window = timedelta(hours=PROBE_WINDOW_HOURS)
    rows = await conn.fetch(_PROBES, *range_args, window, options.probe_min, options.limit)
    users = [
        ProbeUser(
            agency=r["agency"],
            subject=r["subject"],
            refusals=int(r["refusals"]),
            most_in_window=int(r["most"]),
            first_index=int(r["first_index"]),
            last_index=int(r["last_index"]),
        )
        for r in rows
    ]
    return ProbeFlags(min_refusals=options.probe_min, window_hours=PROBE_WINDOW_HOURS, users=users)


async def flags_report(
    conn: asyncpg.Connection, period: Period, scope: str | None, options: FlagOptions
) -> FlagsReport:
    range_args = (scope, period.from_, period.to)
    lists = {
        name: await flag_list(conn, cond, range_args, options) for name, cond in CATEGORIES.items()
    }
    return FlagsReport(
        from_=period.from_,
        to=period.to,
        scope=scope_label(scope),
        refused=lists["refused"],
        justification_flagged=lists["justification_flagged"],
        on_behalf_of=lists["on_behalf_of"],
        unusual_volume=await _volume(conn, period, scope, options),
        boilerplate=await _boilerplate(conn, range_args, options),
        sensitive_location_probes=await _probes(conn, range_args, options),
        **{part.name: await part.run(conn, range_args, options) for part in PARTS},
    )


def _tables(report: FlagsReport) -> list[Table]:
    out: list[Table] = []
    for label, flags in (
        ("refused", report.refused),
        ("justification_flagged", report.justification_flagged),
        ("on_behalf_of", report.on_behalf_of),
    ):
        title = f"flags: {label} ({flags.total} in all, {flags.unreviewed} unreviewed"
        title += ", list truncated)" if flags.truncated else ")"
        out.append((title, FLAG_HEADER, flag_rows(flags)))
    vol = report.unusual_volume
    out.append(
        (
            f"flags: unusual_volume (> {vol.factor:g} x agency median, >= {vol.min_searches})",
            ("agency", "subject", "searches", "agency_median", "agency_users"),
            [[u.agency, u.subject, u.searches, u.agency_median, u.agency_users] for u in vol.users],
        )
    )
    bp = report.boilerplate
    out.append(
        (
            f"flags: boilerplate (shared by >= {bp.min_searches} searches)",
            ("text", "searches", "users", "agencies", "first_index", "last_index"),
            [
                [t.text, t.searches, t.users, ";".join(t.agencies), t.first_index, t.last_index]
                for t in bp.texts
            ],
        )
    )
    out.append(_probe_table(report))
    for part in PARTS:
        out += part.tables(getattr(report, part.name))
    return out


def _probe_table(report: FlagsReport) -> Table:
    p = report.sensitive_location_probes
    return (
        f"flags: sensitive_location_probes (>= {p.min_refusals} refusals"
        f" within {p.window_hours} hours)",
        ("agency", "subject", "refusals", "most_in_window", "first_index", "last_index"),
        [
            [u.agency, u.subject, u.refusals, u.most_in_window, u.first_index, u.last_index]
            for u in p.users
        ],
    )


FLAGS = ReportKind(
    name="flags",
    summary="Refused, justification-flagged and on-behalf-of searches with review state;"
    " unusual volume; boilerplate justifications; sensitive-location probes; approvals"
    " (pending, denied, never used, by supervisor, reused); exigent searches unreviewed or"
    " reviewed late; owners' grant key changes, authorised or not",
    shape=FlagsReport,
    run=flags_report,
    tables=_tables,
    flag_options=True,
)
