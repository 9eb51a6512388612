"""Operations endpoints (SPEC §9): liveness, readiness, the OpenAPI document; the gauges a
metrics scrape refreshes (the listener itself: proxy.http.metrics_listener)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from proxy import metrics
from proxy.http.common import json_response
from proxy.http.openapi import openapi_document
from proxy.http.state import AUDIT_POOL, AUDIT_WRITER, STORE
from proxy.http.witnessed import witness_report, witnessed_check
from proxy.store.pools import ping


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readiness(app: web.Application) -> dict[str, bool]:
    """The readiness checks; also sets the alpr_proxy_ready gauge."""
    store_ok, audit_ok = await asyncio.gather(app[STORE].ready(), ping(app[AUDIT_POOL]))
    checks = {"store": store_ok, "audit": audit_ok, "audit_writer": app[AUDIT_WRITER].running}
    checks.update(witnessed_check(app))  # only with witnesses configured
    metrics.READY.set(1 if all(checks.values()) else 0)
    return checks


async def readyz(request: web.Request) -> web.Response:
    checks = await readiness(request.app)
    ready = all(checks.values())
    return json_response(
        {
            "status": "ready" if ready else "not_ready",
            "checks": checks,
            "witnesses": witness_report(request.app),
        },
        status=200 if ready else 503,
    )


def refresh_gauges(app: web.Application) -> Callable[[], Awaitable[None]]:
    """What a scrape refreshes from the API app's live state first: the audit queue depth and
    readiness (the metrics listener calls it; with several workers each worker runs it every
    metrics.FLUSH_INTERVAL_S instead, as the listener is in another process)."""

    async def refresh() -> None:
        metrics.AUDIT_QUEUE_DEPTH.set(app[AUDIT_WRITER].queue_depth)
        await readiness(app)

    return refresh


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())
