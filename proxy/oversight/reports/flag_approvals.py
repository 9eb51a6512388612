"""The flags report's approvals (SPEC §12): what oversight should know of the two-person rule.

- `pending`: requests (searches refused with `approval_required`) no supervisor has decided.
- `denied`: `approval` entries that deny a request (decision `allowed`, verdict `deny`; a
  refused attempt decides nothing).
- `unused`: approvals of requests that no search which ran has named since (someone asked, got
  approval and did not search: worth knowing), each with whether its window
  (`approval_valid_hours`) has passed.
- `by_supervisor`: approvals and denials per supervisor, and their refused attempts (another
  agency's request, their own: `approval` entries with decision `refused`).
- `reused`: requests named by more than one search that ran. The proxy uses an approval up in
  the audit database at commit, so two means single use was broken (say, by someone with
  write access to that database).

Each covers the entries (requests, decisions, searches) whose time is in the range and scope.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from proxy.audit.canonical import timestamp
from proxy.oversight.csvout import attribute_rows
from proxy.oversight.derived import on_behalf_of_ori
from proxy.oversight.period import IN_RANGE, FlagOptions
from proxy.oversight.reports.kind import Table
from proxy.oversight.schemas import (
    ApprovalDecision,
    ApprovalFlags,
    ApprovalRequest,
    DecisionList,
    RequestList,
    ReusedApproval,
    SupervisorDecisions,
)

APPROVE, DENY = "approve", "deny"
# A search that ran with the approval of request `e.request_index`.
_USED = (
    "EXISTS (SELECT 1 FROM audit.entry_facts s WHERE s.request_index = e.request_index"
    " AND s.event = 'search' AND s.decision = 'allowed')"
)
_PENDING = f"""
WITH picked AS MATERIALIZED (
  SELECT e.idx, count(*) OVER () AS total FROM audit.entry_facts e
  WHERE e.event = 'search' AND e.decision = 'refused' AND e.reason = 'approval_required'
    AND {IN_RANGE}
    AND NOT EXISTS (SELECT 1 FROM audit.entry_facts d
                    WHERE d.request_index = e.idx AND d.event = 'approval'
                      AND d.decision = 'allowed')
  ORDER BY e.idx LIMIT $4)
SELECT p.idx, p.total, b.body FROM picked p JOIN audit.entries b ON b.idx = p.idx ORDER BY p.idx
"""
_DECISIONS = f"""
WITH picked AS MATERIALIZED (
  SELECT e.idx, e.request_index, count(*) OVER () AS total FROM audit.entry_facts e
  WHERE e.event = 'approval' AND e.decision = 'allowed' AND e.verdict = $5 AND {IN_RANGE}
    {{extra}}
  ORDER BY e.idx LIMIT $4)
SELECT p.idx, p.total, b.body FROM picked p JOIN audit.entries b ON b.idx = p.idx ORDER BY p.idx
"""
_BY_SUPERVISOR = f"""
SELECT coalesce(e.agency, '') AS agency, coalesce(e.subject, '') AS subject,
       count(*) FILTER (WHERE e.decision = 'allowed' AND e.verdict = '{APPROVE}') AS approved,
       count(*) FILTER (WHERE e.decision = 'allowed' AND e.verdict = '{DENY}') AS denied,
       count(*) FILTER (WHERE e.decision = 'refused') AS refused
FROM audit.entry_facts e WHERE e.event = 'approval' AND {IN_RANGE}
GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT $4
"""
_REUSED = f"""
WITH named AS (
  SELECT DISTINCT e.request_index FROM audit.entry_facts e
  WHERE e.event = 'search' AND e.decision = 'allowed' AND e.request_index IS NOT NULL
    AND {IN_RANGE})
SELECT n.request_index, array_agg(s.idx ORDER BY s.idx) AS searches
FROM named n JOIN audit.entry_facts s
  ON s.request_index = n.request_index AND s.event = 'search' AND s.decision = 'allowed'
GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT $4
"""


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _request(index: int, body: bytes) -> ApprovalRequest:
    e = orjson.loads(body)
    query = e.get("query") if isinstance(e.get("query"), dict) else {}
    return ApprovalRequest(
        index=index,
        time=_str(e.get("time")),
        agency=_str(e.get("agency")),
        subject=_str(e.get("subject")),
        on_behalf_of=on_behalf_of_ori(e),
        purpose=_str(e.get("purpose")),
        query_type=_str(query.get("type")),
        justification=_str(e.get("justification")),
    )


def _decision(row: Any, options: FlagOptions) -> ApprovalDecision:
    e = orjson.loads(row["body"])
    verdict = _str(e.get("verdict"))
    requester = e.get("requester") if isinstance(e.get("requester"), dict) else {}
    until: datetime | None = None
    if verdict == APPROVE and isinstance(e.get("time"), str):
        try:
            until = datetime.fromisoformat(e["time"]) + timedelta(
                hours=options.approval_valid_hours
            )
        except ValueError:
            until = None
    return ApprovalDecision(
        index=int(row["idx"]),
        request=_int(e.get("request_index")),
        time=_str(e.get("time")),
        agency=_str(e.get("agency")),
        subject=_str(e.get("subject")),
        verdict=verdict,
        note=_str(e.get("note")),
        requester=_str(requester.get("subject")),
        valid_until=None if until is None else timestamp(until),
        expired=None if until is None else until <= options.judged_at(),
    )


async def _decisions(
    conn: asyncpg.Connection, args: tuple[Any, ...], options: FlagOptions, which: str
) -> DecisionList:
    extra = f"AND NOT {_USED}" if which == "unused" else ""
    decision = DENY if which == "denied" else APPROVE
    rows = await conn.fetch(_DECISIONS.format(extra=extra), *args, options.limit, decision)
    total = int(rows[0]["total"]) if rows else 0
    entries = [_decision(r, options) for r in rows]
    return DecisionList(total=total, truncated=total > len(entries), entries=entries)


async def approval_flags(
    conn: asyncpg.Connection, args: tuple[Any, ...], options: FlagOptions
) -> ApprovalFlags:
    """``args``: $1 scope, $2 from, $3 to (proxy.oversight.period.IN_RANGE)."""
    rows = await conn.fetch(_PENDING, *args, options.limit)
    total = int(rows[0]["total"]) if rows else 0
    pending = [_request(int(r["idx"]), bytes(r["body"])) for r in rows]
    return ApprovalFlags(
        valid_hours=options.approval_valid_hours,
        pending=RequestList(total=total, truncated=total > len(pending), entries=pending),
        denied=await _decisions(conn, args, options, "denied"),
        unused=await _decisions(conn, args, options, "unused"),
        by_supervisor=[
            SupervisorDecisions(
                agency=r["agency"],
                subject=r["subject"],
                approved=int(r["approved"]),
                denied=int(r["denied"]),
                refused=int(r["refused"]),
            )
            for r in await conn.fetch(_BY_SUPERVISOR, *args, options.limit)
        ],
        reused=[
            ReusedApproval(request=int(r["request_index"]), searches=list(r["searches"]))
            for r in await conn.fetch(_REUSED, *args, options.limit)
        ],
    )


_DECISION_HEADER = (
    "index", "request", "time", "agency", "subject", "verdict", "note", "requester",
    "valid_until", "expired",
)  # fmt: skip


def _decision_rows(decisions: DecisionList) -> list[list[Any]]:
    return attribute_rows(decisions.entries, _DECISION_HEADER)


def _count(title: str, total: int, truncated: bool) -> str:
    return f"{title} ({total} in all{', list truncated' if truncated else ''})"


def approval_tables(flags: ApprovalFlags) -> list[Table]:
    pending = flags.pending
    return [
        (
            _count("flags: approvals pending", pending.total, pending.truncated),
            ("index", "time", "agency", "subject", "on_behalf_of", "purpose", "query_type",
             "justification"),
            [[r.index, r.time, r.agency, r.subject, r.on_behalf_of, r.purpose, r.query_type,
              r.justification] for r in pending.entries],
        ),
        (
            _count("flags: approval requests denied", flags.denied.total, flags.denied.truncated),
            _DECISION_HEADER,
            _decision_rows(flags.denied),
        ),
        (
            _count("flags: approvals never used", flags.unused.total, flags.unused.truncated)
            + f" (valid {flags.valid_hours} hours)",
            _DECISION_HEADER,
            _decision_rows(flags.unused),
        ),
        (
            "flags: approval decisions by supervisor",
            ("agency", "subject", "approved", "denied", "refused_attempts"),
            [[s.agency, s.subject, s.approved, s.denied, s.refused] for s in flags.by_supervisor],
        ),
        (
            "flags: approvals used by more than one search",
            ("request", "searches"),
            [[r.request, ";".join(map(str, r.searches))] for r in flags.reused],
        ),
    ]  # fmt: skip
