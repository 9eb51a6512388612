"""`alpr-proxy serve --config FILE`: one process, or `workers` processes sharing the port; and
the metrics listener (SPEC §9a), in that process or in the workers' parent.

Start order: config, policy and keys are read; the API and metrics ports are bound; (with
several workers, each database is tried once); every resource is opened; only then is the
policy in force recorded (`policy_loaded`) and "started" logged. A start that fails says why in
one line on stderr, exits 2, and has recorded nothing and claimed nothing.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

from aiohttp import web

from proxy import loops, metrics
from proxy.app import create_app
from proxy.cli.supervise import Started, Workers
from proxy.http import badrequest
from proxy.http.health import refresh_gauges
from proxy.http.metrics_listener import metrics_app, read_token
from proxy.logs import configure_logging
from proxy.metrics_dir import MULTIPROC_ENV
from proxy.policy.model import PolicyError
from proxy.settings import Settings, SettingsError, load_settings
from proxy.store.pools import DatabaseUnavailable, check_databases

_log = logging.getLogger("alpr_proxy")
_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class StartError(Exception):
    """A start that cannot succeed, for reasons other than config, policy or a database."""


# What a failed start can raise, each with a message fit for one line.
_START_ERRORS = (SettingsError, PolicyError, DatabaseUnavailable, StartError, OSError, ValueError)


async def _freeze_startup_objects(app: web.Application) -> None:
    """Runs after every resource is open. What exists now (modules, the policy, pools) lives as
    long as the process: moved out of the collector's generations, full collections no longer
    walk it. A request allocates many short-lived containers, so the youngest generation is
    collected every 10,000 allocations instead of every 700: fewer, cheaper passes."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind(host: str, port: int, setting: str, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket on host:port, bound before anything is opened or recorded, so a port
    in use stops the start first (accepting begins once the server is ready)."""
    where = f"cannot listen on {_address(host, port)} ({setting})"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:
        raise StartError(f"{where}: {exc.strerror or exc}") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise StartError(f"{where}: {reason or exc}") from exc
    sock.setblocking(False)
    return sock


async def _site(app: web.Application, sock: socket.socket) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    host, port = sock.getsockname()[:2]
    _log.info("metrics listener on %s", _address(host, port))  # port 0 shows the one picked
    return runner


def _metrics_service(
    sock: socket.socket, token: bytes | None
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The metrics listener inside the one server process, started once resources are open."""

    async def service(app: web.Application) -> AsyncIterator[None]:
        runner = await _site(metrics_app(token=token, refresh=refresh_gauges(app)), sock)
        try:
            yield
        finally:
            await runner.cleanup()

    return service


def run_worker(
    settings: Settings,
    *,
    reuse_port: bool,
    metrics_sock: socket.socket | None = None,
    on_ready: Callable[[], None] = lambda: None,
) -> None:
    """Serve until a signal. With `metrics_sock`, the metrics listener too (one process)."""
    services = []
    if metrics_sock is not None:
        services.append(
            _metrics_service(metrics_sock, read_token(settings.metrics.bearer_token_file))
        )
    app = create_app(settings, services=services)
    app.on_startup.append(_freeze_startup_objects)
    api_sock = bind(
        settings.server.host, settings.server.port, "server.port", reuse_port=reuse_port
    )
    loops.run(_serve_app(app, api_sock, settings, on_ready))
    _log.info("stopped")


async def _serve_app(
    app: web.Application, sock: socket.socket, settings: Settings, on_ready: Callable[[], None]
) -> None:
    """web.run_app's work, but a start that fails still closes what it had opened (run_app
    leaves that to the loop's shutdown, which logs a traceback per open pool)."""
    runner = badrequest.api_runner(app, settings.server)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.setup()  # every resource opened, then the policy in force recorded
        await web.SockSite(runner, sock).start()
        on_ready()
        await stop.wait()
    finally:
        await runner.cleanup()  # drains requests, then closes what setup opened


def prepare_metrics_dir() -> tuple[Path, bool]:
    """The multiprocess metrics directory for the workers, emptied; (path, created here).

    $PROMETHEUS_MULTIPROC_DIR if the operator set it (only prometheus-client's *.db files are
    removed from it), else a new temporary directory. Workers are spawned, so they import
    prometheus-client after the variable is set, which is what switches it to files.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return path, False
    path = Path(tempfile.mkdtemp(prefix="alpr-proxy-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    return path, True


def _fail(exc: BaseException) -> int:
    print(f"alpr-proxy serve: {exc}", file=sys.stderr)
    return 2


def _worker_main(config: str, replacement: bool, ready: EventType) -> None:
    configure_logging()
    if replacement:
        metrics.WORKER_RESTARTS.inc()  # in this worker's metrics file, which the parent reads
    try:
        run_worker(load_settings(config), reuse_port=True, on_ready=ready.set)
    except _START_ERRORS as exc:
        sys.exit(_fail(exc))


def serve(config: str) -> int:
    configure_logging()
    try:
        settings = load_settings(config)
        token = read_token(settings.metrics.bearer_token_file)
        if settings.server.workers > 1:
            return _serve_workers(config, settings, token)
        if os.environ.get(MULTIPROC_ENV):
            _log.warning("%s is set but workers = 1: unset it", MULTIPROC_ENV)
        create_app(settings)  # config, policy and keys, before any port is bound
        metrics_sock = bind(*settings.metrics.address, "metrics.listen")
        run_worker(settings, reuse_port=False, metrics_sock=metrics_sock)
    except _START_ERRORS as exc:
        return _fail(exc)
    return 0


def _serve_workers(config: str, settings: Settings, token: bytes | None) -> int:
    create_app(settings)  # validate config, policy and keys before forking anything
    server = settings.server
    # The workers bind the API port themselves (SO_REUSEPORT); this only fails early if another
    # program holds it. The metrics port is the parent's alone.
    bind(server.host, server.port, "server.port", reuse_port=True).close()
    metrics_sock = bind(*settings.metrics.address, "metrics.listen")
    loops.run(check_databases(settings.database))
    metrics_dir, created = prepare_metrics_dir()
    _log.info(
        "starting %d workers on %s",
        server.workers,
        _address(server.host, server.port),
        extra={"metrics_dir": str(metrics_dir)},
    )
    try:
        return loops.run(_supervise(config, server.workers, metrics_sock, token, metrics_dir))
    finally:
        if created:
            shutil.rmtree(metrics_dir, ignore_errors=True)


async def _supervise(
    config: str, n: int, metrics_sock: socket.socket, token: bytes | None, metrics_dir: Path
) -> int:
    """Run the workers, replacing any that exits (proxy.cli.supervise), and meanwhile the one
    metrics listener that adds up all of them. A signal first stops the replacements."""
    runner = await _site(metrics_app(token=token, multiproc_dir=str(metrics_dir)), metrics_sock)
    ctx = multiprocessing.get_context("spawn")

    def spawn(slot: int, replacement: bool) -> Started:
        ready = ctx.Event()
        proc = ctx.Process(
            target=_worker_main,
            args=(config, replacement, ready),
            name=f"alpr-proxy-worker-{slot}",
        )
        proc.start()
        return Started(proc, ready.is_set)

    workers = Workers(spawn, n, metrics_dir)
    workers.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Replacements stop first; then each worker shuts down gracefully on the same signal.
        loop.add_signal_handler(sig, workers.stop, sig)
    loop.add_signal_handler(signal.SIGHUP, workers.forward, signal.SIGHUP)  # supervision goes on
    try:
        code = await workers.wait()
    finally:
        for sig in _SIGNALS:
            loop.remove_signal_handler(sig)
        await runner.cleanup()
    _log.info("stopped")
    return code
