"""Operations endpoints (SPEC §9): liveness, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from proxy import metrics
from proxy.http.common import json_response
from proxy.http.openapi import openapi_document
from proxy.keys import AUDIT_POOL, AUDIT_WRITER, STORE_POOL

_PROBE_TIMEOUT_S = 2.0


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _probe(pool: asyncpg.Pool) -> bool:
    try:
        async with asyncio.timeout(_PROBE_TIMEOUT_S):
            return bool(await pool.fetchval("SELECT true"))
    except Exception:  # any failure means "not reachable" for readiness
        return False


async def readiness(app: web.Application) -> dict[str, bool]:
    """The readiness checks; also sets the alpr_proxy_ready gauge."""
    store_ok, audit_ok = await asyncio.gather(_probe(app[STORE_POOL]), _probe(app[AUDIT_POOL]))
    checks = {"store": store_ok, "audit": audit_ok, "audit_writer": app[AUDIT_WRITER].running}
    metrics.READY.set(1 if all(checks.values()) else 0)
    return checks


async def readyz(request: web.Request) -> web.Response:
    checks = await readiness(request.app)
    ready = all(checks.values())
    return json_response(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics_endpoint(request: web.Request) -> web.Response:
    """This process's metrics, or every worker's when PROMETHEUS_MULTIPROC_DIR is set."""
    metrics.AUDIT_QUEUE_DEPTH.set(request.app[AUDIT_WRITER].queue_depth)
    await readiness(request.app)
    body = metrics.exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())
