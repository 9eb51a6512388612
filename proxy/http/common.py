"""Helpers every handler shares: JSON responses, the body, authentication with auditing, and
the one mapping of a failing audit database to 503 audit_unavailable (`read_audit`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiohttp import web

from proxy import metrics
from proxy.audit.entry import auth_failure_entry
from proxy.errors import ErrorCode, ProxyError
from proxy.http.state import (
    AUDIT_WRITER,
    AUTH_FAILURE_LIMITER,
    CLOCK,
    REQUEST_ID,
    SETTINGS,
    VERIFIER,
)
from proxy.model import Principal
from proxy.store.pools import DB_ERRORS

_JSON_OPTS = orjson.OPT_UTC_Z


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=_JSON_OPTS), status=status, content_type="application/json"
    )


async def read_audit(action: Callable[[], Awaitable[Any]]) -> Any:
    """`action()`'s result; a failing audit database is 503 audit_unavailable, never a 500."""
    try:
        return await action()
    except DB_ERRORS as exc:
        raise ProxyError(
            "audit_unavailable", f"the audit database cannot be read ({type(exc).__name__})"
        ) from None


def request_id(request: web.Request) -> str:
    return request[REQUEST_ID]


async def read_body(request: web.Request) -> bytes:
    """The whole body within server.read_timeout_s, else 408 invalid_request: a client that
    trickles its body holds a handler that long at most. Over max_body_bytes aiohttp raises
    HTTPRequestEntityTooLarge."""
    if request.content.is_eof():  # it has all arrived (the usual case): nothing to wait for
        return await request.read()
    limit = request.app[SETTINGS].server.read_timeout_s
    try:
        async with asyncio.timeout(limit):
            return await request.read()
    except TimeoutError:
        raise ProxyError(
            "invalid_request", f"request body not received within {limit:g} s", status=408
        ) from None


async def record_unidentified(
    app: web.Application,
    *,
    request_id: str,
    client: str | None,
    method: str | None,
    path: str | None,
    detail: str,
    code: ErrorCode = "unauthenticated",
) -> int | None:
    """An `auth_failure` entry for a request nobody can be held to, within the caps (per client
    address, and in total); its index, or None when capped or the log is unavailable (nothing
    is disclosed to such a request, so it is answered all the same)."""
    if not app[AUTH_FAILURE_LIMITER].allow(client or "unknown"):
        metrics.AUTH_FAILURES_UNLOGGED.inc()
        return None
    record = auth_failure_entry(
        at=app[CLOCK](),
        request_id=request_id,
        client=client,
        method=method,
        path=path,
        reason=detail,
        code=code,
    )
    try:
        return await app[AUDIT_WRITER].append(record)
    except ProxyError:
        return None


async def authenticate(request: web.Request, roles: Iterable[str] = ()) -> Principal:
    """The caller's verified identity, or 401 (audited, capped per client address).

    With `roles`, the caller must hold at least one of them, else 403 forbidden_role.
    """
    app = request.app
    try:
        principal = await app[VERIFIER].verify(request.headers.get("Authorization"))
    except ProxyError as exc:
        metrics.AUTH_FAILURES.inc()
        audit_index = await record_unidentified(
            app,
            request_id=request_id(request),
            client=request.remote,
            method=request.method,
            path=request.path,
            detail=exc.message,
        )
        raise ProxyError("unauthenticated", exc.message, audit_index=audit_index) from None
    wanted = set(roles)
    if wanted and not (principal.roles & wanted):
        raise ProxyError(
            "forbidden_role", f"this endpoint needs one of the roles: {', '.join(sorted(wanted))}"
        )
    return principal
