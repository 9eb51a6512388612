"""One middleware: request id, the SPEC's error envelope for every failure, one log line
and the HTTP metrics. A search adds its decision, audit index and counts to that line
(SEARCH_LOG), so a search is one line too.

Errors of every kind (ProxyError, aiohttp's HTTP exceptions, bugs) leave as
{"error": {"code", "message", "audit_index"?}}; a bug becomes 500 internal_error without
details, so a stack trace never reaches a client.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
from time import perf_counter
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from proxy import metrics
from proxy.errors import ErrorCode, ProxyError
from proxy.http.common import json_response
from proxy.http.state import REQUEST_ID
from proxy.logs import log_line

log = logging.getLogger("alpr_proxy.http")

# Set by the search handler: its decision (allowed, refused, error), for the request line.
DECISION = web.RequestKey("decision", str)
# Set by the search handler: what its line adds (reason, audit index, counts; never the query).
SEARCH_LOG: web.RequestKey[dict[str, Any]] = web.RequestKey("search_log")


_id_key = os.urandom(32)
_id_counter = itertools.count()


def _new_id_key() -> None:
    global _id_key, _id_counter
    _id_key, _id_counter = os.urandom(32), itertools.count()


os.register_at_fork(after_in_child=_new_id_key)  # a forked child must not repeat our ids


def new_request_id() -> str:
    """32 hex digits, the shape of uuid4().hex: a per-process counter under keyed BLAKE2b with
    a random per-process key. Unique, and as unpredictable as random ids (a client collecting
    them learns nothing, e.g. not how many searches others ran in between), without a system
    call per request (os.urandom's showed in the profile)."""
    counter = next(_id_counter).to_bytes(8, "little")
    return hashlib.blake2b(counter, key=_id_key, digest_size=16).hexdigest()


_HTTP_CODES: dict[int, ErrorCode] = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "invalid_request",
}


def error_response(exc: ProxyError) -> web.Response:
    error: dict[str, object] = {"code": exc.code, "message": exc.message}
    if exc.audit_index is not None:
        error["audit_index"] = exc.audit_index
    response = json_response({"error": error}, status=exc.status)
    if exc.code == "unauthenticated":
        response.headers["WWW-Authenticate"] = 'Bearer realm="alpr-proxy"'
    return response


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = new_request_id()
    request[REQUEST_ID] = rid
    started = perf_counter()
    response: web.StreamResponse
    code = None
    try:
        response = await handler(request)
    except ProxyError as exc:
        code = exc.code
        response = error_response(exc)
    except web.HTTPException as exc:
        code = _HTTP_CODES.get(exc.status, "invalid_request")
        response = error_response(ProxyError(code, exc.reason, status=exc.status))
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        log.exception("unhandled error", extra={"request_id": rid})
        code = "internal_error"
        response = error_response(ProxyError("internal_error", "internal error"))
    response.headers["X-Request-Id"] = rid
    response.headers.setdefault("Cache-Control", "no-store")
    _observe(request, response.status, code, perf_counter() - started)
    return response


def _observe(request: web.Request, status: int, code: str | None, seconds: float) -> None:
    """The request's metrics and its one log line, by route template (never the raw path)."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else metrics.UNMATCHED_ROUTE
    method = metrics.method_label(request.method)
    metrics.child(metrics.HTTP_REQUESTS, route, method, str(status)).inc()
    metrics.child(metrics.HTTP_SECONDS, route, method).observe(seconds)
    level = logging.WARNING if status >= 500 else logging.INFO
    if not log.isEnabledFor(level):
        return
    fields: dict[str, Any] = {
        "request_id": request[REQUEST_ID],
        "method": method,
        "route": route,
        "status": status,
        "decision": request.get(DECISION),
        "code": code,
        "duration_ms": round(seconds * 1000, 3),
    }
    search = request.get(SEARCH_LOG)
    if search is not None:
        fields.update(search)
    log_line(log, level, "request", fields)
