"""The witness's HTTP interface: ``POST /add-checkpoint`` (c2sp.org/tlog-witness), nothing else.

Statuses in the spec's order: 404 unknown origin, 403 not signed by a trusted log key, 400
malformed (or old size > checkpoint size, or more than 63 proof lines), 409 old size is not the
witness's size (body: that size, ``text/x.tlog.size``) or same size with another root, 422 bad
consistency proof; 200 with the cosignature line, only after the new state is committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from proxy.witness.config import WitnessConfig
from proxy.witness.request import Refusal, parse_submission
from proxy.witness.signer import WitnessSigner
from proxy.witness.state import WitnessState

SIZE_TYPE = "text/x.tlog.size"
_log = logging.getLogger("alpr_proxy.witness")

CONFIG = web.AppKey("witness_config", WitnessConfig)
SIGNER = web.AppKey("witness_signer", WitnessSigner)
CLOCK: web.AppKey[Callable[[], int]] = web.AppKey("witness_clock")
STATE = web.AppKey("witness_state", WitnessState)
# One thread owns the SQLite connection: state transitions are serialized there, and the event
# loop never blocks on an fsync.
EXECUTOR = web.AppKey("witness_executor", ThreadPoolExecutor)


def _now() -> int:
    return int(time.time())


def create_app(
    config: WitnessConfig, signer: WitnessSigner, *, clock: Callable[[], int] = _now
) -> web.Application:
    """The witness application; its state file is opened (and checked) on startup."""
    app = web.Application(client_max_size=config.max_body_bytes)
    app[CONFIG], app[SIGNER], app[CLOCK] = config, signer, clock
    app.cleanup_ctx.append(_state)
    app.router.add_post("/add-checkpoint", add_checkpoint)
    return app


async def _state(app: web.Application) -> AsyncIterator[None]:
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="witness-state")
    loop = asyncio.get_running_loop()
    try:
        state = await loop.run_in_executor(executor, WitnessState.open, app[CONFIG].state)
    except BaseException:
        executor.shutdown(wait=True)
        raise
    app[STATE], app[EXECUTOR] = state, executor
    try:
        yield
    finally:
        await loop.run_in_executor(executor, state.close)
        executor.shutdown(wait=True)


def _refuse(refusal: Refusal) -> web.Response:
    if refusal.status == 409 and refusal.size is not None:
        # Exactly this type, no charset parameter: clients compare it as tlog-witness spells it.
        body = f"{refusal.size}\n".encode()
        return web.Response(status=409, body=body, headers={"Content-Type": SIZE_TYPE})
    return web.Response(status=refusal.status, text=refusal.reason + "\n")


async def add_checkpoint(request: web.Request) -> web.Response:
    app = request.app
    data = await request.read()
    try:
        submission = parse_submission(data, app[CONFIG].log_keys)
        now = app[CLOCK]()
        loop = asyncio.get_running_loop()
        # Returns once the new size and root are committed; raises a 409/422 Refusal otherwise.
        await loop.run_in_executor(app[EXECUTOR], app[STATE].advance, submission, now)
    except Refusal as refusal:
        if refusal.status != 404:  # unknown origins are noise; the rest may matter
            _log.info("add-checkpoint %d: %s", refusal.status, refusal.reason)
        return _refuse(refusal)
    cosignature = app[SIGNER].cosign(submission.body, now)
    cp = submission.checkpoint
    _log.info("cosigned %s size %d (from %d)", cp.origin, cp.size, submission.old_size)
    return web.Response(text=cosignature.line(), content_type="text/plain")
