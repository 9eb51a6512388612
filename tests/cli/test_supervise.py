"""Worker supervision (proxy.cli.supervise): the backoff, and a worker that never gets ready
is replaced at a bounded rate until stop(), which ends the replacements."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import sys
import time
from pathlib import Path

import pytest

from proxy.cli.supervise import (
    INITIAL_BACKOFF_S,
    MAX_BACKOFF_S,
    STABLE_AFTER_S,
    Backoff,
    Started,
    Workers,
    describe_exit,
)


def test_the_backoff_doubles_up_to_the_cap_and_resets_after_a_stable_run() -> None:
    backoff = Backoff()
    delays = [backoff.after_exit(uptime_s=0.1) for _ in range(9)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert delays[0] == INITIAL_BACKOFF_S and max(delays) == MAX_BACKOFF_S
    assert backoff.after_exit(uptime_s=STABLE_AFTER_S - 1) == MAX_BACKOFF_S
    assert backoff.after_exit(uptime_s=STABLE_AFTER_S) == INITIAL_BACKOFF_S
    assert backoff.after_exit(uptime_s=0.0) == 2 * INITIAL_BACKOFF_S


def test_an_exit_is_described_by_its_code_or_signal() -> None:
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(2) == "exit code 2"
    assert describe_exit(-200) == "killed by signal 200"


async def test_a_worker_that_never_gets_ready_is_replaced_with_backoff_until_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = multiprocessing.get_context("spawn")
    spawned: list[tuple[int, bool]] = []

    def spawn(slot: int, replacement: bool) -> Started:
        spawned.append((slot, replacement))
        proc = ctx.Process(target=sys.exit, args=(3,))  # dies at once, every time
        proc.start()
        return Started(proc, lambda: not replacement)  # the first one had served

    caplog.set_level(logging.INFO, logger="alpr_proxy")
    workers = Workers(spawn, 1, tmp_path)
    workers.start()
    deadline = time.monotonic() + 60
    while len(spawned) < 3:
        assert time.monotonic() < deadline, caplog.messages
        await asyncio.sleep(0.05)
    workers.stop(signal.SIGTERM)
    assert await asyncio.wait_for(workers.wait(), 60) in (0, 3, -signal.SIGTERM)
    count = len(spawned)
    await asyncio.sleep(2 * INITIAL_BACKOFF_S)  # a pending replacement would have started
    assert len(spawned) == count
    assert spawned[:3] == [(0, False), (0, True), (0, True)]
    exits = [m for m in caplog.messages if "exited" in m]
    assert "exited (exit code 3): restarting in 0.5 s" in exits[0]
    assert "exited before it was ready (exit code 3): restarting in 1.0 s" in exits[1]


async def test_a_failed_first_start_stops_the_others_and_is_not_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = multiprocessing.get_context("spawn")
    spawned: list[tuple[int, bool]] = []

    def spawn(slot: int, replacement: bool) -> Started:
        spawned.append((slot, replacement))
        # Slot 0 fails its start (exit 2, as `serve` reports one); slot 1 would serve.
        proc = (
            ctx.Process(target=sys.exit, args=(2,))
            if slot == 0
            else ctx.Process(target=time.sleep, args=(60,))
        )
        proc.start()
        return Started(proc, lambda: slot == 1)

    workers = Workers(spawn, 2, tmp_path)
    workers.start()
    assert await asyncio.wait_for(workers.wait(), 60) == 2
    assert spawned == [(0, False), (1, False)]
    assert any("failed to start (exit code 2): stopping the others" in m for m in caplog.messages)
