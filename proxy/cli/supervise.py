"""`serve`'s worker supervision (`server.workers > 1`): a worker that exits while the server is
not stopping is replaced on the same port, after a backoff, so searches on the others go on.

The backoff per worker slot starts at INITIAL_BACKOFF_S and doubles with each exit up to
MAX_BACKOFF_S; a worker that stayed up STABLE_AFTER_S resets it. A replacement that dies at
start, over and over, is thus restarted at most every MAX_BACKOFF_S, and each exit says whether
it had become ready. A worker of the first start that fails before it is ready stops the server
(`serve` exits with its code): a start that cannot succeed is reported, not retried. The
replacement counts itself in `alpr_proxy_worker_restarts_total` as it starts (serve.py), so the
count lives in the workers' metrics files that the parent's listener reads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

from prometheus_client import multiprocess

INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0

_log = logging.getLogger("alpr_proxy")


@dataclass
class Backoff:
    """The wait before one slot's next replacement."""

    next_s: float = INITIAL_BACKOFF_S

    def after_exit(self, uptime_s: float) -> float:
        if uptime_s >= STABLE_AFTER_S:
            self.next_s = INITIAL_BACKOFF_S
        delay = self.next_s
        self.next_s = min(delay * 2, MAX_BACKOFF_S)
        return delay


@dataclass(frozen=True)
class Started:
    """A worker process as spawned, and whether it has said it is serving."""

    process: BaseProcess
    is_ready: Callable[[], bool]


# (slot, whether it replaces one that exited) -> the started worker
Spawn = Callable[[int, bool], Started]


def describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class Workers:
    """`n` worker slots, each kept filled until stop()."""

    def __init__(
        self,
        spawn: Spawn,
        n: int,
        metrics_dir: Path,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._spawn = spawn
        self._n = n
        self._metrics_dir = str(metrics_dir)
        self._clock = clock
        self._live: dict[int, tuple[Started, float, bool]] = {}
        self._backoff = [Backoff() for _ in range(n)]
        self._pending: dict[int, asyncio.TimerHandle] = {}
        self._stopping = False
        self._exitcodes: list[int] = []
        self._done = asyncio.Event()

    def start(self) -> None:
        for slot in range(self._n):
            self._start(slot, replacement=False)

    def pids(self) -> list[int | None]:
        return [started.process.pid for started, _, _ in self._live.values()]

    def _start(self, slot: int, replacement: bool) -> None:
        self._pending.pop(slot, None)
        if self._stopping:
            return
        try:
            started = self._spawn(slot, replacement)
        except OSError as exc:  # no process to watch: try again after the backoff
            delay = self._backoff[slot].after_exit(0.0)
            _log.error("worker %d could not start (%s): retrying in %.1f s", slot, exc, delay)
            self._later(slot, delay)
            return
        self._live[slot] = (started, self._clock(), replacement)
        loop = asyncio.get_running_loop()
        loop.add_reader(started.process.sentinel, self._exited, slot)
        if replacement:
            _log.info("worker %d restarted as pid %s", slot, started.process.pid)

    def _later(self, slot: int, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._pending[slot] = loop.call_later(delay, self._start, slot, True)

    def _exited(self, slot: int) -> None:
        started, since, replacement = self._live.pop(slot)
        proc = started.process
        asyncio.get_running_loop().remove_reader(proc.sentinel)
        proc.join()
        if proc.pid is not None:
            # Drop its live gauges (queue depth, readiness) from the aggregate.
            multiprocess.mark_process_dead(proc.pid, self._metrics_dir)  # type: ignore[no-untyped-call]
        if not self._stopping and not replacement and not started.is_ready():
            # A failed first start (it said why in one line) ends the server, as it always
            # did: only a server that was serving is kept up by replacements.
            _log.error(
                "worker %d (pid %s) failed to start (%s): stopping the others",
                *(slot, proc.pid, describe_exit(proc.exitcode)),
            )
            self.stop(signal.SIGTERM)
        if self._stopping:
            self._exitcodes.append(proc.exitcode or 0)
            if not self._live:
                self._done.set()
            return
        delay = self._backoff[slot].after_exit(self._clock() - since)
        state = "" if started.is_ready() else " before it was ready"
        _log.error(
            "worker %d (pid %s) exited%s (%s): restarting in %.1f s",
            *(slot, proc.pid, state, describe_exit(proc.exitcode), delay),
        )
        self._later(slot, delay)

    def stop(self, signum: int) -> None:
        """No more replacements; the live workers get `signum` and stop gracefully."""
        self._stopping = True
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        self.forward(signum)
        if not self._live:
            self._done.set()

    def forward(self, signum: int) -> None:
        """`signum` to every live worker (SIGHUP: each reloads its policy)."""
        for started, _, _ in self._live.values():
            proc = started.process
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signum)

    async def wait(self) -> int:
        """Until stop() and every worker has exited: the highest exit code."""
        await self._done.wait()
        return max(self._exitcodes, default=0)
