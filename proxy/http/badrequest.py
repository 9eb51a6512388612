"""Requests aiohttp cannot parse (a request line or header beyond max_line_size or
max_field_size, malformed framing) get the SPEC's JSON envelope and an audit entry too.

aiohttp answers those itself, before any application code runs, with a plain-text 400 from
``RequestHandler.handle_error``. There is no application-level hook for it, so `AppRunner`
(a drop-in for ``web.AppRunner``) makes its server create connections of the `_Connection`
class below, whose ``handle_error`` answers a parse error with an ``invalid_request``
envelope. The entry is an ``auth_failure`` (nobody was identified), with reason
``invalid_request``, under the same caps as invalid tokens (proxy.http.common).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from proxy.http.common import record_unidentified
from proxy.http.middlewares import new_request_id
from proxy.settings import ServerSettings

_MESSAGE = "the request line or headers are malformed or too large"
_DETAIL_CHARS = 200  # of aiohttp's description of the error, for the entry


class _Refusal(web.Response):
    """The 400 for an unparseable request; its entry is made when it is sent (prepare is
    async, handle_error is not), and it names the entry's index when there is one."""

    def __init__(self, app: web.Application, client: str | None, detail: str) -> None:
        super().__init__(status=400, content_type="application/json")
        self.force_close()  # the parser's state is unknown: never read another request from it
        self.app = app
        self.client = client
        self.detail = detail[:_DETAIL_CHARS]

    async def prepare(self, request: web.BaseRequest) -> Any:
        rid = new_request_id()
        index = await record_unidentified(
            self.app,
            request_id=rid,
            client=self.client,
            method=None,
            path=None,
            detail=self.detail,
            code="invalid_request",
        )
        error: dict[str, Any] = {"code": "invalid_request", "message": _MESSAGE}
        if index is not None:
            error["audit_index"] = index
        self.body = orjson.dumps({"error": error})
        self.headers["X-Request-Id"] = rid
        self.headers["Cache-Control"] = "no-store"
        return await super().prepare(request)


def _detail(exc: BaseException | None, message: str | None) -> str:
    """aiohttp's description without the bytes it quotes (they are the client's headers)."""
    text = (message or "").split(": b'", 1)[0].split(': b"', 1)[0].strip()
    kind = type(exc).__name__ if exc is not None else "BadRequest"
    return f"{kind}: {text}" if text else kind


def _connection_class(app: web.Application) -> type[web.RequestHandler]:
    class _Connection(web.RequestHandler):
        __slots__ = ()  # same layout as RequestHandler: instances are re-classed (see below)

        def handle_error(
            self,
            request: web.BaseRequest,
            status: int = 500,
            exc: BaseException | None = None,
            message: str | None = None,
        ) -> web.StreamResponse:
            if status != 400:  # a handler's own failure: the middleware answers those
                return super().handle_error(request, status, exc, message)
            return _Refusal(app, request.remote, _detail(exc, message))

    return _Connection


def _server_class(connection: type[web.RequestHandler]) -> type[web.Server]:
    class _Server(web.Server):
        def __call__(self) -> web.RequestHandler:
            handler = super().__call__()
            handler.__class__ = connection  # the same object, with handle_error overridden
            return handler

    return _Server


class AppRunner(web.AppRunner):
    """``web.AppRunner`` whose connections answer unparseable requests with the envelope."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _server_class(_connection_class(self.app))
        return server


def api_runner(app: web.Application, server: ServerSettings) -> web.AppRunner:
    """The API's runner, as `serve` and the demo both run it: connection limits from server.*,
    one structured line per request from our middleware (no access log), and a drain window."""
    return AppRunner(
        app,
        access_log=None,
        keepalive_timeout=server.keepalive_timeout_s,
        shutdown_timeout=30,
    )
