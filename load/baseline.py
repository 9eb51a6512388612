"""The bare peer the proxy is measured against: the same search, with nothing around it.

    python -m load.baseline --dsn postgresql://... --port 8090 [--workers 1] [--pool 10]

aiohttp + asyncpg + orjson on uvloop. `POST /v1/search` takes the proxy's JSON body, runs the
proxy's own exact-plate query (proxy.store.postgres.exact_plate: the same SQL and arguments,
row limit from the same `[database] search_row_limit` default, so the two cannot drift) and
answers the rows under the proxy's field names: `{"reads": [...], "truncated": bool}`. No
authentication, policy, filtering, audit, request ids or per-request logging; the body is not
validated beyond what the query needs. `GET /healthz` answers once the pool reaches PostgreSQL.

Worker model as `alpr-proxy serve`: one process for --workers 1, otherwise N spawned processes
sharing the port with SO_REUSEPORT, each with its own pool of --pool connections.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from types import FrameType
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from proxy import loops
from proxy.settings import DatabaseSettings
from proxy.store.pools import keep_session
from proxy.store.postgres import exact_plate

POOL = web.AppKey("pool", asyncpg.Pool)
ROW_LIMIT = web.AppKey("row_limit", int)
_JSON = "application/json"


def _bad_request(message: str) -> web.Response:
    return web.Response(status=400, body=orjson.dumps({"error": message}), content_type=_JSON)


async def search(request: web.Request) -> web.Response:
    try:
        body: Any = orjson.loads(await request.read())
        plate = body["plate"]
        state = body.get("plate_state")
        start = datetime.fromisoformat(body["from"])
        end = datetime.fromisoformat(body["to"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return _bad_request("malformed body")
    limit = request.app[ROW_LIMIT]
    rows = await exact_plate(request.app[POOL], plate, state, start, end, limit)
    reads = [
        {
            "id": r[0],
            "plate": r[1],
            "plate_state": r[2],
            "observed_at": r[3],
            "lat": r[4],
            "lon": r[5],
            "camera_id": r[6],
            "agency": r[7],
        }
        for r in rows
    ]
    return web.Response(
        body=orjson.dumps(
            {"reads": reads, "truncated": len(rows) >= limit}, option=orjson.OPT_UTC_Z
        ),
        content_type=_JSON,
    )


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[POOL].fetchval("SELECT 1")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return web.Response(status=503, body=b'{"status":"not_ready"}', content_type=_JSON)
    return web.Response(body=b'{"status":"ok"}', content_type=_JSON)


def create_baseline_app(
    dsn: str, pool_size: int = 10, row_limit: int = DatabaseSettings().search_row_limit
) -> web.Application:
    async def pool_ctx(app: web.Application) -> AsyncIterator[None]:
        # Same pool settings as the proxy's store pool (no reset query on release).
        async with asyncpg.create_pool(
            dsn, min_size=1, max_size=pool_size, reset=keep_session
        ) as pool:
            app[POOL] = pool
            yield

    app = web.Application()
    app[ROW_LIMIT] = row_limit
    app.cleanup_ctx.append(pool_ctx)
    app.router.add_post("/v1/search", search)
    app.router.add_get("/healthz", healthz)
    return app


def run_worker(dsn: str, port: int, pool_size: int, *, reuse_port: bool) -> None:
    web.run_app(
        create_baseline_app(dsn, pool_size),
        host="127.0.0.1",
        port=port,
        reuse_port=reuse_port,
        access_log=None,
        print=None,
        loop=loops.new_event_loop(),
        shutdown_timeout=5,
    )


def _worker_main(dsn: str, port: int, pool_size: int) -> None:
    run_worker(dsn, port, pool_size, reuse_port=True)


def serve(dsn: str, port: int, workers: int, pool_size: int) -> int:
    if workers == 1:
        run_worker(dsn, port, pool_size, reuse_port=False)
        return 0
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker_main, args=(dsn, port, pool_size), name=f"baseline-{i}")
        for i in range(workers)
    ]
    for p in procs:
        p.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for p in procs:
        p.join()
    return max((p.exitcode or 0) for p in procs)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m load.baseline", description=__doc__.split("\n")[0])
    p.add_argument("--dsn", required=True, help="the store, e.g. as the proxy's read-only role")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--pool", type=int, default=10, help="connections per worker")
    args = p.parse_args(argv)
    if args.workers < 1 or args.pool < 1:
        p.error("--workers and --pool must be at least 1")
    return serve(args.dsn, args.port, args.workers, args.pool)


if __name__ == "__main__":
    raise SystemExit(main())
