"""`POST /v1/search`: authenticate → rate-limit → read the body → the search flow → respond.

The flow (proxy.search.flow) parses, decides, fetches, filters and audits; this module holds
what is HTTP's: the token, the body as it arrives (too slow, too large, cut off), the request's
metrics and log line, and the JSON answer. A client that goes away mid-request still leaves
its entry.
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import Any

from aiohttp import web

from proxy import metrics
from proxy.audit.claims import PoolLog
from proxy.errors import ProxyError
from proxy.http.common import authenticate, json_response, read_body, request_id
from proxy.http.middlewares import DECISION, SEARCH_LOG
from proxy.http.state import AUDIT_POOL, CLOCK, POLICY, SEARCH_LIMITER, SETTINGS, STORE
from proxy.http.witnessed import search_append
from proxy.search.flow import Caller, Decided, Search, Setting


async def search(request: web.Request) -> web.Response:
    started = perf_counter()
    principal = await authenticate(request)
    metrics.child(metrics.STAGE_SECONDS, "auth").observe(perf_counter() - started)
    app = request.app
    setting = Setting(
        now=app[CLOCK](),
        policy=app[POLICY].current,  # one policy object for the whole request
        append=search_append(app),  # fails closed while the log is not witnessed enough
        store=app[STORE],
        row_limit=app[SETTINGS].database.search_row_limit,
        log=PoolLog(app[AUDIT_POOL]),  # approvals and exigent searches (SPEC §12)
    )
    flow = Search(Caller(principal, request_id(request), request.remote), setting)
    try:
        within_budget = app[SEARCH_LIMITER].allow(f"{principal.ori}\x00{principal.sub}")
        result = await flow.run(await body(request, flow), within_budget=within_budget)
    except asyncio.CancelledError:
        # The client went away and aiohttp cancelled us (handler_cancellation): the request
        # authenticated, so it is on the record all the same.
        flow.audit_orphan()
        raise
    finally:
        if flow.decided is not None:
            record_decision(request, flow.decided)
    return json_response(
        {
            "audit_index": result.audit_index,
            "request_id": request_id(request),
            "policy_version": result.policy_version,
            "reads": result.reads,
            "truncated": result.truncated,
        }
    )


async def body(request: web.Request, flow: Search) -> bytes:
    """The whole body, or an audited refusal: too slow (408), too large (413), or cut off."""
    try:
        return await read_body(request)
    except ProxyError as exc:  # trickled: 408
        asked = {"invalid_body": "not received in time"}
        raise await flow.refuse(exc.code, exc.message, asked, status=exc.status) from None
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS].server.max_body_bytes
        message = f"body larger than {limit} bytes"
        too_large = {"invalid_body": "too large"}
        raise await flow.refuse("invalid_request", message, too_large, status=413) from None
    except ConnectionError:  # the client closed mid-body (no cancellation configured)
        message = "the connection closed before the body was complete"
        raise await flow.refuse("invalid_request", message, flow.asked) from None


def record_decision(request: web.Request, decided: Decided) -> None:
    """Metrics, and what the request's log line adds, once the audit entry has committed.
    Never the plate, pattern, case number or justification: those are for the audit log only.

    Metrics count returned reads only: a withheld count on a scrapeable surface, diffed around
    one search, tells what that search withheld (SPEC §9a). The log line keeps the total
    withheld: it is the operator's, and the entry it names (audit_index) says as much."""
    request[DECISION] = decided.decision
    metrics.child(metrics.SEARCHES, decided.decision, decided.reason or "none").inc()
    # The reason is the line's error code already.
    fields: dict[str, Any] = {
        "audit_index": decided.audit_index,
        "policy_version": decided.policy_version,
    }
    outcome = decided.outcome
    if outcome is not None:
        metrics.child(metrics.READS, "returned").inc(outcome["returned"])
        fields.update(
            search_type=decided.search_type,
            matched=outcome["matched"],
            returned=outcome["returned"],
            withheld=sum(outcome["withheld"].values()),
            truncated=outcome["truncated"],
        )
    request[SEARCH_LOG] = fields
