"""The metrics listener (SPEC §9a): `/metrics` alone, on its own address, never the API port.

Investigators and the public reach the API port, and two scrapes around one search would show
what it did; so the exposition is served here, on loopback by default, optionally behind a
bearer token. `serve` runs it in the server's process (one worker) or in the parent of the
workers, which reads every worker's multiprocess files (several).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST

from proxy import metrics
from proxy.errors import ErrorCode, ProxyError
from proxy.http.middlewares import error_response
from proxy.settings import SettingsError

Refresh = Callable[[], Awaitable[None]]
_log = logging.getLogger("alpr_proxy.metrics")

_TOKEN: web.AppKey[bytes | None] = web.AppKey("metrics_token")
_REFRESH: web.AppKey[Refresh | None] = web.AppKey("metrics_refresh")
_MULTIPROC_DIR: web.AppKey[str | None] = web.AppKey("metrics_multiproc_dir")


def read_token(path: str) -> bytes | None:
    """metrics.bearer_token_file's token (surrounding whitespace dropped), None when unset."""
    if not path:
        return None
    try:
        token = Path(path).read_bytes().strip()
    except OSError as exc:
        raise SettingsError(
            f"config: metrics.bearer_token_file: cannot read {path}: {exc.strerror}"
        ) from exc
    if not token:
        raise SettingsError(f"config: metrics.bearer_token_file {path} is empty")
    return token


def metrics_app(
    *, token: bytes | None, refresh: Refresh | None = None, multiproc_dir: str | None = None
) -> web.Application:
    """`refresh` updates the gauges read from live state (one process); `multiproc_dir` is the
    workers' metrics directory (several). Errors use the API's JSON envelope."""
    app = web.Application(middlewares=[_envelope])
    app[_TOKEN] = token
    app[_REFRESH] = refresh
    app[_MULTIPROC_DIR] = multiproc_dir
    app.router.add_get("/metrics", _scrape)
    return app


@web.middleware
async def _envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The API's error envelope, without its request metrics: scrapes are not API traffic."""
    try:
        return await handler(request)
    except ProxyError as exc:
        _log.warning("metrics request refused", extra={"code": exc.code, "peer": request.remote})
        return error_response(exc)
    except web.HTTPException as exc:
        codes: dict[int, ErrorCode] = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status, "invalid_request")
        return error_response(ProxyError(code, exc.reason, status=exc.status))
    except Exception:
        _log.exception("metrics exposition failed")
        return error_response(ProxyError("internal_error", "internal error"))


def _authorized(header: str, token: bytes) -> bool:
    scheme, _, given = header.partition(" ")
    # compare_digest: the time taken says nothing about how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)


async def _scrape(request: web.Request) -> web.Response:
    token = request.app[_TOKEN]
    if token is not None and not _authorized(request.headers.get("Authorization", ""), token):
        raise ProxyError("unauthenticated", "a valid metrics bearer token is required")
    refresh = request.app[_REFRESH]
    if refresh is not None:
        await refresh()
    response = web.Response(body=metrics.exposition(request.app[_MULTIPROC_DIR]))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
