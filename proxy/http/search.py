"""`POST /v1/search`: authenticate → rate-limit → parse → decide (pure) → query → filter →
audit → respond.

Every request that carries a valid token produces exactly one audit entry, allowed or refused,
and nothing is sent until that entry has committed; a client that goes away mid-request still
leaves its entry.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from time import perf_counter
from typing import Any

import asyncpg
from aiohttp import web

from proxy import metrics
from proxy.audit.entry import Record, search_entry
from proxy.errors import ErrorCode, ProxyError
from proxy.http.common import authenticate, json_response, read_body, request_id
from proxy.http.middlewares import DECISION, SEARCH_LOG
from proxy.keys import AUDIT_WRITER, CLOCK, POLICY, SEARCH_LIMITER, SETTINGS, STORE_POOL
from proxy.model import Principal, SearchQuery
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
# Of a body that is not recorded as parsed JSON, the entry keeps this many bytes and a hash.
BODY_PREFIX_BYTES = 64
# A JSON body that is not a valid search is recorded as asked up to this size (every valid
# search is far smaller; a typo stays readable), as a digest beyond it.
RECORDED_BODY_BYTES = 2048
_CUT_OFF = "connection closed before the body was complete"
# Entries of requests whose handler was cancelled (client gone): held until they commit.
_orphans: set[asyncio.Task[int]] = set()


def body_digest(body: bytes) -> dict[str, Any]:
    """What an entry records of a body it does not keep: size, SHA-256 and a short prefix, so
    a flood of large bodies cannot grow the permanent log by more than this per request."""
    return {
        "bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "prefix": body[:BODY_PREFIX_BYTES].decode("utf-8", "replace"),
    }


async def search(request: web.Request) -> web.Response:
    started = perf_counter()
    principal = await authenticate(request)
    metrics.child(metrics.STAGE_SECONDS, "auth").observe(perf_counter() - started)
    flow = _Search(request, principal)
    try:
        return await flow.run()
    except asyncio.CancelledError:
        # The client went away and aiohttp cancelled us (handler_cancellation): the request
        # authenticated, so it is on the record all the same.
        flow.audit_orphan()
        raise


class _Search:
    """One search request after authentication: its clock, policy and audit entry."""

    def __init__(self, request: web.Request, principal: Principal) -> None:
        self.request = request
        self.app = request.app
        self.principal = principal
        self.now = self.app[CLOCK]()
        self.policy = self.app[POLICY].current  # one policy object for the whole request
        self.audited = False
        # What an entry made on cancellation records: the body stage's refusal until the
        # body is in, then the query as asked with decision "error".
        self.asked: Any = {"invalid_body": _CUT_OFF}
        self.orphan: tuple[str, ErrorCode | None] = ("refused", "invalid_request")

    def _record(
        self, asked: Any, decision: str, reason: ErrorCode | None, outcome: dict[str, Any] | None
    ) -> Record:
        return search_entry(
            at=self.now,
            request_id=request_id(self.request),
            principal=self.principal,
            client=self.request.remote,
            query=asked,
            decision=decision,
            reason=reason,
            policy_version=self.policy.version,
            outcome=outcome,
        )

    async def audit(
        self, asked: Any, decision: str, reason: ErrorCode | None, outcome: dict[str, Any] | None
    ) -> int:
        """Append this request's one audit entry and wait for its commit; return its index."""
        t = perf_counter()
        record = self._record(asked, decision, reason, outcome)
        self.audited = True  # append queues the record before it first waits
        index = await self.app[AUDIT_WRITER].append(record)
        metrics.child(metrics.STAGE_SECONDS, "audit").observe(perf_counter() - t)
        return index

    def audit_orphan(self) -> None:
        """The entry of a request cancelled before it made one: committed without a waiter."""
        if self.audited:
            return
        self.audited = True
        record = self._record(self.asked, *self.orphan, None)
        task = asyncio.get_running_loop().create_task(self.app[AUDIT_WRITER].append(record))
        _orphans.add(task)
        task.add_done_callback(_settle_orphan)

    async def refused(
        self, code: ErrorCode, message: str, asked: Any, *, status: int | None = None
    ) -> ProxyError:
        """Audit the refusal; return the error to raise (it names the entry's index)."""
        index = await self.audit(asked, "refused", code, None)
        _record_decision(self.request, "refused", code, index, self.policy.version)
        return ProxyError(code, message, audit_index=index, status=status)

    async def run(self) -> web.Response:
        # Every authenticated request spends from the budget, whatever its body: refusals and
        # unparseable bodies too, so one token cannot write entries faster than its budget.
        who = f"{self.principal.ori}\x00{self.principal.sub}"
        within_budget = self.app[SEARCH_LIMITER].allow(who)
        body = await self.body()
        if not within_budget:
            raise await self.refused(
                "rate_limited",
                "per-user search budget exhausted; try again later",
                {"rate_limited_body": body_digest(body)},
            )
        t = perf_counter()
        try:
            asked = decode_body(body)
        except ProxyError as exc:
            raise await self.refused(
                exc.code, exc.message, {"invalid_body": body_digest(body)}
            ) from None
        self.asked = asked
        try:
            query = parse_search(asked)
        except ProxyError as exc:
            if len(body) > RECORDED_BODY_BYTES:  # no valid search is this large
                asked = {"invalid_body": body_digest(body)}
            raise await self.refused(exc.code, exc.message, asked) from None
        decision = decide(self.principal, query, self.policy, self.now)
        metrics.child(metrics.STAGE_SECONDS, "policy").observe(perf_counter() - t)
        if isinstance(decision, Refused):
            raise await self.refused(decision.code, decision.message, asked)
        return await self.allowed(asked, query, decision)

    async def body(self) -> bytes:
        """The whole body, or a refusal: too slow (408), too large (413), or cut off."""
        try:
            body = await read_body(self.request)
        except ProxyError as exc:  # trickled: 408
            self.asked = {"invalid_body": "not received in time"}
            raise await self.refused(exc.code, exc.message, self.asked, status=exc.status) from None
        except web.HTTPRequestEntityTooLarge:
            limit = self.app[SETTINGS].server.max_body_bytes
            self.asked = {"invalid_body": "too large"}
            message = f"body larger than {limit} bytes"
            raise await self.refused("invalid_request", message, self.asked, status=413) from None
        except ConnectionError:  # the client closed mid-body (no cancellation configured)
            message = "the connection closed before the body was complete"
            raise await self.refused("invalid_request", message, self.asked) from None
        self.orphan = ("error", None)
        return body

    async def allowed(self, asked: Any, query: SearchQuery, decision: Allowed) -> web.Response:
        t = perf_counter()
        limit = self.app[SETTINGS].database.search_row_limit
        d = decision.disclosure
        scope = store.Scope(owners=d.admitted_owners(), since=d.retention_cutoff)
        try:
            rows, unfetched = await store.search(
                self.app[STORE_POOL], _match(query), scope, query.from_, query.to, limit
            )
        except _STORE_ERRORS as exc:
            # Nothing was disclosed, but the attempt is on the record all the same.
            index = await self.audit(asked, "error", "store_unavailable", None)
            _record_decision(self.request, "error", "store_unavailable", index, self.policy.version)
            raise ProxyError(
                "store_unavailable",
                f"the plate-read store is unavailable ({type(exc).__name__})",
                audit_index=index,
            ) from None
        metrics.child(metrics.STAGE_SECONDS, "store").observe(perf_counter() - t)

        t = perf_counter()
        row_limit_reached = len(rows) >= limit or unfetched.limit_reached
        if query.area is not None:
            # The box query over-selects corners; reads outside the circle were never "matched".
            a = query.area
            rows = [r for r in rows if haversine_m(a.lat, a.lon, r[4], r[5]) <= a.radius_m]
        reads, outcome = _disclose(rows, decision, unfetched, row_limit=limit)
        outcome["row_limit_reached"] = row_limit_reached
        metrics.child(metrics.STAGE_SECONDS, "filter").observe(perf_counter() - t)

        index = await self.audit(asked, "allowed", None, outcome)
        version = self.policy.version
        _record_decision(self.request, "allowed", None, index, version, query.type, outcome)
        return json_response(
            {
                "audit_index": index,
                "request_id": request_id(self.request),
                "policy_version": version,
                "reads": reads,
                "truncated": outcome["truncated"],
            }
        )


def _settle_orphan(task: asyncio.Task[int]) -> None:
    _orphans.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: audit_unavailable is logged by the writer already


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
    Never the plate, pattern, case number or justification: those are for the audit log only.

    Metrics count returned reads only: a withheld count on a scrapeable surface, diffed around
    one search, tells what that search withheld (SPEC §9a). The log line keeps the total
    withheld: it is the operator's, and the entry it names (audit_index) says as much."""
    request[DECISION] = decision
    metrics.child(metrics.SEARCHES, decision, reason or "none").inc()
    # The reason is the line's error code already.
    fields: dict[str, Any] = {"audit_index": audit_index, "policy_version": policy_version}
    if outcome is not None:
        metrics.child(metrics.READS, "returned").inc(outcome["returned"])
        fields.update(
            search_type=search_type,
            matched=outcome["matched"],
            returned=outcome["returned"],
            withheld=sum(outcome["withheld"].values()),
            truncated=outcome["truncated"],
        )
    request[SEARCH_LOG] = fields


def _match(query: SearchQuery) -> store.Match:
    """The store's match condition for the search type; parse_search guarantees its field."""
    if query.plate is not None:
        return store.exact_match(query.plate, query.plate_state)
    if query.pattern is not None:
        return store.pattern_match(pattern_to_like(query.pattern), query.plate_state)
    if query.area is not None:
        return store.area_match(query.area.lat, query.area.lon, query.area.radius_m)
    raise AssertionError(f"search of type {query.type} without its field")


def _disclose(
    rows: Sequence[asyncpg.Record], decision: Allowed, unfetched: store.Withheld, *, row_limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Filter read by read; rows arrive newest first. Count every withheld read by reason: the
    store counted those it did not return, the rest are counted here.

    `truncated` says whether more *disclosable* reads matched than were returned, and is
    derived from disclosable reads alone: more than max_results of them were seen, or the
    row limit was filled with them. A row limit reached because of withheld reads never shows
    (README: truncation)."""
    withhold = decision.disclosure.withhold_reason
    limit = decision.max_results
    withheld = dict.fromkeys(_WITHHELD, 0)
    withheld["retention"] = unfetched.retention
    withheld["sharing"] = unfetched.sharing
    by_owner: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    disclosable = 0
    for row in rows:
        owner = row[7]
        reason = withhold(owner, row[3], row[4], row[5])  # defence in depth: every rule again
        if reason is not None:
            withheld[reason] += 1
            continue
        disclosable += 1
        if disclosable > limit:
            continue
        by_owner[owner] = by_owner.get(owner, 0) + 1
        out.append(_read(row))
    outcome = {
        "matched": len(rows) + unfetched.retention + unfetched.sharing,
        "returned": len(out),
        "truncated": disclosable > limit or disclosable >= row_limit,
        "withheld": withheld,
        "disclosed_by_owner": by_owner,
    }
    return out, outcome


def _read(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row[0],
        "plate": row[1],
        "plate_state": row[2],
        "observed_at": row[3],
        "lat": row[4],
        "lon": row[5],
        "camera_id": row[6],
        "agency": row[7],
    }
