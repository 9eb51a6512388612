"""`POST /v1/search`: authenticate → parse → decide (pure) → query → filter → audit → respond.

Every request that carries a valid token produces exactly one audit entry, allowed or refused,
and nothing is sent until that entry has committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from time import perf_counter
from typing import Any

import asyncpg
from aiohttp import web

from proxy import metrics
from proxy.audit.entry import search_entry
from proxy.errors import ErrorCode, ProxyError
from proxy.http.common import authenticate, json_response, read_body, request_id
from proxy.http.middlewares import DECISION, SEARCH_LOG
from proxy.keys import AUDIT_WRITER, CLOCK, POLICY, SEARCH_LIMITER, SETTINGS, STORE_POOL
from proxy.model import SearchQuery
from proxy.policy.evaluate import Allowed, Refused, decide
from proxy.policy.geofence import haversine_m
from proxy.policy.text import pattern_to_like
from proxy.request import decode_body, parse_search
from proxy.store import reads as store

_WITHHELD = ("retention", "sensitive_location", "sharing")
# Every way the store can fail under us. InternalClientError is asyncpg's "the connection went
# away mid-operation" (e.g. "cannot switch to state 12"), not an InterfaceError.
_STORE_ERRORS = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    TimeoutError,
)


async def search(request: web.Request) -> web.Response:
    app = request.app
    started = perf_counter()
    principal = await authenticate(request)
    metrics.child(metrics.STAGE_SECONDS, "auth").observe(perf_counter() - started)
    now = app[CLOCK]()
    policy = app[POLICY].current  # one policy object for the whole request

    async def audit(
        asked: Any, decision: str, reason: ErrorCode | None, outcome: dict[str, Any] | None
    ) -> int:
        """Append this request's one audit entry and wait for its commit; return its index."""
        t = perf_counter()
        record = search_entry(
            at=now,
            request_id=request_id(request),
            principal=principal,
            client=request.remote,
            query=asked,
            decision=decision,
            reason=reason,
            policy_version=policy.version,
            outcome=outcome,
        )
        index = await app[AUDIT_WRITER].append(record)
        metrics.child(metrics.STAGE_SECONDS, "audit").observe(perf_counter() - t)
        return index

    async def refused(
        code: ErrorCode, message: str, asked: Any, *, status: int | None = None
    ) -> ProxyError:
        """Audit the refusal; return the error to raise (it names the entry's index)."""
        index = await audit(asked, "refused", code, None)
        _record_decision(request, "refused", code, index, policy.version)
        return ProxyError(code, message, audit_index=index, status=status)

    try:
        body = await read_body(request)
    except ProxyError as exc:  # trickled: 408
        invalid = {"invalid_body": "not received in time"}
        raise await refused(exc.code, exc.message, invalid, status=exc.status) from None
    except web.HTTPRequestEntityTooLarge:
        limit = app[SETTINGS].server.max_body_bytes
        raise await refused(
            "invalid_request",
            f"body larger than {limit} bytes",
            {"invalid_body": "too large"},
            status=413,
        ) from None

    t = perf_counter()
    try:
        asked = decode_body(body)
    except ProxyError as exc:
        invalid = {"invalid_body": body[:512].decode("utf-8", "replace")}
        raise await refused(exc.code, exc.message, invalid) from None
    try:
        query = parse_search(asked)
    except ProxyError as exc:
        raise await refused(exc.code, exc.message, asked) from None

    if not app[SEARCH_LIMITER].allow(f"{principal.ori}\x00{principal.sub}"):
        raise await refused(
            "rate_limited", "per-user search budget exhausted; try again later", asked
        )

    decision = decide(principal, query, policy, now)
    metrics.child(metrics.STAGE_SECONDS, "policy").observe(perf_counter() - t)
    if isinstance(decision, Refused):
        raise await refused(decision.code, decision.message, asked)

    t = perf_counter()
    limit = app[SETTINGS].database.search_row_limit
    try:
        rows = await _query(app[STORE_POOL], query, limit)
    except _STORE_ERRORS as exc:
        # Nothing was disclosed, but the attempt is on the record all the same.
        index = await audit(asked, "error", "store_unavailable", None)
        _record_decision(request, "error", "store_unavailable", index, policy.version)
        raise ProxyError(
            "store_unavailable",
            f"the plate-read store is unavailable ({type(exc).__name__})",
            audit_index=index,
        ) from None
    metrics.child(metrics.STAGE_SECONDS, "store").observe(perf_counter() - t)

    t = perf_counter()
    row_limit_reached = len(rows) >= limit
    if query.area is not None:
        # The box query over-selects corners; reads outside the circle were never "matched".
        a = query.area
        rows = [r for r in rows if haversine_m(a.lat, a.lon, r[4], r[5]) <= a.radius_m]
    reads, outcome = _disclose(rows, decision, row_limit_reached=row_limit_reached)
    metrics.child(metrics.STAGE_SECONDS, "filter").observe(perf_counter() - t)

    index = await audit(asked, "allowed", None, outcome)
    _record_decision(request, "allowed", None, index, policy.version, query.type, outcome)
    return json_response(
        {
            "audit_index": index,
            "request_id": request_id(request),
            "policy_version": policy.version,
            "reads": reads,
            "truncated": outcome["truncated"],
        }
    )


def _record_decision(
    request: web.Request,
    decision: str,
    reason: ErrorCode | None,
    audit_index: int,
    policy_version: str,
    search_type: str | None = None,
    outcome: dict[str, Any] | None = None,
) -> None:
    """Metrics, and what the request's log line adds, once the audit entry has committed.
    Never the plate, pattern, case number or justification: those are for the audit log only."""
    request[DECISION] = decision
    metrics.child(metrics.SEARCHES, decision, reason or "none").inc()
    # The reason is the line's error code already.
    fields: dict[str, Any] = {"audit_index": audit_index, "policy_version": policy_version}
    if outcome is not None:
        metrics.child(metrics.READS, "returned").inc(outcome["returned"])
        withheld = 0
        for why, n in outcome["withheld"].items():
            if n:
                metrics.child(metrics.READS, why).inc(n)
                withheld += n
        fields.update(
            search_type=search_type,
            matched=outcome["matched"],
            returned=outcome["returned"],
            withheld=withheld,
            truncated=outcome["truncated"],
        )
    request[SEARCH_LOG] = fields


async def _query(pool: asyncpg.Pool, query: SearchQuery, limit: int) -> store.Rows:
    """The store query for the search type; parse_search guarantees its field is set."""
    if query.plate is not None:
        return await store.exact_plate(
            pool, query.plate, query.plate_state, query.from_, query.to, limit
        )
    if query.pattern is not None:
        like = pattern_to_like(query.pattern)
        return await store.plate_pattern(
            pool, like, query.plate_state, query.from_, query.to, limit
        )
    if query.area is not None:
        a = query.area
        return await store.area(pool, a.lat, a.lon, a.radius_m, query.from_, query.to, limit)
    raise AssertionError(f"search of type {query.type} without its field")


def _disclose(
    rows: Sequence[asyncpg.Record], decision: Allowed, *, row_limit_reached: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Filter read by read; rows arrive newest first. Count every withheld read by reason."""
    withhold = decision.disclosure.withhold_reason
    limit = decision.max_results
    withheld = dict.fromkeys(_WITHHELD, 0)
    by_owner: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    disclosable = 0
    for row in rows:
        owner = row[7]
        reason = withhold(owner, row[3], row[4], row[5])
        if reason is not None:
            withheld[reason] += 1
            continue
        disclosable += 1
        if disclosable > limit:
            continue
        by_owner[owner] = by_owner.get(owner, 0) + 1
        out.append(
            {
                "id": row[0],
                "plate": row[1],
                "plate_state": row[2],
                "observed_at": row[3],
                "lat": row[4],
                "lon": row[5],
                "camera_id": row[6],
                "agency": owner,
            }
        )
    outcome = {
        "matched": len(rows),
        "returned": len(out),
        # At the row limit more reads may exist than were examined: say so, never undercount.
        "truncated": disclosable > limit or row_limit_reached,
        "row_limit_reached": row_limit_reached,
        "withheld": withheld,
        "disclosed_by_owner": by_owner,
    }
    return out, outcome
