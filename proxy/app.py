"""create_app(settings): state, resources (opened in cleanup_ctx), middleware and the routes
(one table: proxy.http.routes). Wiring only: what a request does is in proxy/http/ and below."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from proxy import loops, metrics
from proxy.audit.checkpoint import Checkpointer, ForkGuard, load_signer
from proxy.audit.witnessed_log import Witnessing
from proxy.audit.writer import AuditWriter
from proxy.auth.source import key_source_from_config
from proxy.auth.tokens import TokenVerifier
from proxy.console.demo_sign_in import DemoSignIn
from proxy.errors import ProxyError
from proxy.grants import OwnerRecord, RecordError, record_from_entry
from proxy.http import console, health
from proxy.http.middlewares import request_context
from proxy.http.ratelimit import TokenBuckets
from proxy.http.routes import ROUTES
from proxy.http.state import (
    AUDIT_POOL,
    AUDIT_WRITER,
    AUTH_FAILURE_LIMITER,
    CHECKPOINTER,
    CLOCK,
    POLICY,
    RELOAD_PEERS,
    SEARCH_LIMITER,
    SETTINGS,
    STORE,
    VERIFIER,
    WITNESSING,
)
from proxy.metrics_dir import MULTIPROC_ENV
from proxy.oversight import facts
from proxy.oversight.reports import flag_exigent
from proxy.reload_peers import ReloadPeers
from proxy.search.grant_files import GrantFiles
from proxy.search.live_policy import (
    BackgroundReloads,
    PolicyHolder,
    read_policy,
    sighup_reloads,
)
from proxy.settings import Settings
from proxy.store.pools import AUDIT, DB_ERRORS, database_errors, open_proxy_pool
from proxy.store.postgres import open_store

_log = logging.getLogger("alpr_proxy")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = _utcnow,
    services: Sequence[Callable[[web.Application], AsyncIterator[None]]] = (),
    demo_sign_in: DemoSignIn | None = None,
) -> web.Application:
    """Build the application. The policy and the log-signing key are loaded here, so an
    invalid policy or a missing key stops the server before it binds a port. `services` start
    after every resource is open and before the "started" line (serve's metrics listener).
    `demo_sign_in` is passed by `alpr-proxy demo` only (no setting can enable it)."""
    policy, policy_text = read_policy(settings.policy.file)
    signer = load_signer(settings.log.signing_key_file)
    app = web.Application(
        middlewares=[request_context], client_max_size=settings.server.max_body_bytes
    )
    if settings.log.witness_quorum > 0:  # SPEC §10; nothing of it exists with quorum 0
        app[WITNESSING] = Witnessing(settings.log, signer)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    if demo_sign_in is not None:
        app[console.DEMO_SIGN_IN] = demo_sign_in
    grants_dir = settings.policy.grants_dir
    grant_files = GrantFiles(Path(grants_dir) if grants_dir else None, settings.log.origin)
    app[POLICY] = holder = PolicyHolder(
        policy, policy_text, settings.policy.file, grant_files, clock()
    )
    app[SEARCH_LIMITER] = limiter = TokenBuckets(policy.settings.rate_limit_per_minute)
    holder.on_change(lambda p: limiter.reconfigure(p.settings.rate_limit_per_minute))
    metrics.set_policy_version(policy.version)
    holder.on_change(lambda p: metrics.set_policy_version(p.version))
    app[AUTH_FAILURE_LIMITER] = TokenBuckets(
        settings.auth.auth_failure_entries_per_minute,
        total_per_minute=settings.auth.auth_failure_entries_per_minute_total,
    )
    app.cleanup_ctx.extend(
        [
            _store,
            _audit,
            _token_verifier,
            _policy_lifecycle,
            _metrics_flusher,
            *services,
            _announce_lifecycle,
        ]
    )
    for method, path, handler in ROUTES:
        add = app.router.add_get if method == "GET" else app.router.add_post
        add(path, handler)
    return app


async def _store(app: web.Application) -> AsyncIterator[None]:
    async with open_store(app[SETTINGS].database) as store:
        app[STORE] = store
        yield


async def _audit(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = settings.database
    # Durability is the point: never let a server default make commits asynchronous.
    async with open_proxy_pool(
        AUDIT,
        db.audit_dsn,
        db,
        db.audit_pool_size,
        synchronous_commit="on",
        application_name="alpr-proxy-audit",
    ) as pool:
        app[AUDIT_POOL] = pool
        witnessing = app.get(WITNESSING)
        if witnessing is not None:  # asks the witnesses first: refuses if the log is behind
            await witnessing.open(pool)
        writer = AuditWriter(
            pool,
            max_batch=settings.log.max_batch,
            max_queue=settings.log.max_queue,
            wait_timeout_s=settings.server.audit_wait_timeout_s,
        )
        checkpointer = Checkpointer(
            pool,
            load_signer(settings.log.signing_key_file),
            settings.log.origin,
            settings.log.checkpoint_interval_s,
            after=_after_checkpoint(app),
            # Without witnesses the guard is this process's memory of what it signed.
            hook=witnessing if witnessing is not None else ForkGuard(settings.log.origin),
        )
        await writer.start()
        await checkpointer.start()
        app[AUDIT_WRITER] = writer
        app[CHECKPOINTER] = checkpointer
        try:
            yield
        finally:
            await writer.close()  # commit what is queued, then checkpoint it
            await checkpointer.close()
            if witnessing is not None:
                await witnessing.close()


def _after_checkpoint(app: web.Application) -> Callable[[Any], Awaitable[object]]:
    """After each checkpoint run: facts and rollups behind the log (proxy.oversight.facts),
    then the overdue exigent reviews gauge, at the policy's window and the app's clock."""

    async def after(conn: Any) -> object:
        covered = await facts.after_checkpoint(conn)
        hours = app[POLICY].current.settings.exigent_review_hours
        await flag_exigent.refresh_overdue_metric(conn, app[CLOCK](), hours)
        return covered

    return after


async def _policy_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Audit the policy in force at start; reload it on SIGHUP and on other processes' API
    reloads (proxy.reload_peers)."""
    holder, pool, db = app[POLICY], app[AUDIT_POOL], app[SETTINGS].database

    async def latest() -> bytes | None:  # the record of grants lives in the log
        async with pool.acquire() as conn:  # facts first catch up with the log
            return await facts.latest_of_event(conn, "policy_loaded")

    async def record() -> dict[str, OwnerRecord]:  # at a reload: no record, no load
        try:
            body = await latest()
            return record_from_entry(None if body is None else orjson.loads(body))
        except (*DB_ERRORS, RecordError, orjson.JSONDecodeError):
            raise ProxyError("audit_unavailable", "the log's record could not be read") from None

    with database_errors(AUDIT, db.audit_dsn):  # a role without grants
        previous = await latest()
    holder.record_source = record
    await holder.record_startup(app[AUDIT_WRITER], app[CLOCK](), previous)
    reloads = BackgroundReloads(holder, app[AUDIT_WRITER], app[CLOCK])
    app[RELOAD_PEERS] = peers = ReloadPeers(reloads.start)
    with database_errors(AUDIT, db.audit_dsn):
        await peers.listen(db.audit_dsn, db.connect_timeout_s)
    try:
        async with sighup_reloads(reloads):
            yield
    finally:
        await peers.close()


async def _metrics_flusher(app: web.Application) -> AsyncIterator[None]:
    """Fold the request path's buffered metrics into prometheus-client every interval (a
    scrape of this process folds them in as well), and once more at shutdown. A worker of
    several also refreshes its live gauges then: the listener is in another process."""
    refresh = health.refresh_gauges(app) if os.environ.get(MULTIPROC_ENV) else None

    async def run() -> None:
        while True:
            await asyncio.sleep(metrics.FLUSH_INTERVAL_S)
            metrics.flush()
            if refresh is not None:
                await refresh()

    task = asyncio.create_task(run(), name="metrics-flush")
    try:
        yield
    finally:
        await loops.cancel(task)
        metrics.flush()


async def _announce_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Log start (every resource open, the policy audited) and the start of shutdown."""
    settings = app[SETTINGS]
    fields = {"policy_version": app[POLICY].current.version}
    metrics.READY.set(1)
    _log.info(
        "started",
        extra={**fields, "host": settings.server.host, "port": settings.server.port},
    )
    try:
        yield
    finally:
        metrics.READY.set(0)
        _log.info("stopping: draining the audit queue, then a final checkpoint", extra=fields)


async def _token_verifier(app: web.Application) -> AsyncIterator[None]:
    auth = app[SETTINGS].auth
    source = key_source_from_config(auth.jwks_url, auth.jwks_file, auth.public_key_file)
    await source.start()
    app[VERIFIER] = TokenVerifier(
        source,
        issuer=auth.issuer,
        audience=auth.audience,
        algorithms=auth.algorithms,
        leeway_s=auth.leeway_s,
    )
    try:
        yield
    finally:
        await source.close()
