"""`serve` with two workers supervises them: kill -9 one under load, and searches go on on the
other, a replacement starts on the same port, the restart is counted in
`alpr_proxy_worker_restarts_total`, every answered search is in the log, and the log verifies."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from proxy.demo.embedded import free_port
from tests.faults.harness import (
    ALAMEDA,
    CHP,
    OAKLAND,
    Keys,
    Load,
    ProxyProcess,
    User,
    audit_verify,
    check_against_log,
    seed_rows,
    seed_store,
    write_config,
)
from tests.pg import Databases, fresh_store

RESTARTS = "alpr_proxy_worker_restarts_total"


def worker_pids(server: ProxyProcess) -> set[int]:
    return {int(x["pid"]) for x in server.log_lines() if x.get("message") == "started"}


def searched_by(server: ProxyProcess) -> set[int]:
    return {int(x["pid"]) for x in server.log_lines() if x.get("route") == "/v1/search"}


async def scrape(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as r:
        assert r.status == 200
        text = await r.text()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


async def until(check: Any, what: str, wait_s: float = 60.0) -> None:
    deadline = time.monotonic() + wait_s
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def test_a_killed_worker_is_replaced_while_searches_go_on(
    tmp_path: Path, dbs: Databases, dev_keys: tuple[Path, Path], log_keys: tuple[Path, str]
) -> None:
    keys = Keys(dev_keys[0], dev_keys[1], log_keys[0], log_keys[1])
    store_admin, store = await fresh_store(dbs)
    await seed_store(store_admin, seed_rows(datetime.now(UTC)))
    admin_dsn, audit = await dbs.fresh_audit()
    config, port = write_config(
        tmp_path, keys, store_dsn=store, audit_dsn=audit, verify_dsn=admin_dsn, workers=2
    )
    metrics_url = f"http://127.0.0.1:{free_port()}"
    env = {
        "ALPR_PROXY_METRICS_LISTEN": metrics_url.removeprefix("http://"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    server = ProxyProcess(config, port, tmp_path / "serve.log", env, workers=2)
    people = [("det.a", OAKLAND), ("det.b", ALAMEDA), ("sgt.c", CHP)]
    users = [User(sub, ori, keys.token(sub, ori)) for sub, ori in people]
    try:
        await server.start()
        first = worker_pids(server)
        assert len(first) == 2, server.tail()
        assert (await scrape(metrics_url)).get(RESTARTS) == 0
        # A SIGHUP reaches every worker (a reload) and leaves the supervision on.
        os.kill(server.pid, signal.SIGHUP)

        async def reloaded() -> bool:
            return sum(x.get("trigger") == "sighup" for x in server.log_lines()) >= 2

        await until(reloaded, f"SIGHUP reloaded no worker:\n{server.tail()}")
        async with Load(server.url, users, concurrency=4) as load:
            load.start()
            await until(lambda: _answered(load, 20), "no load before the kill")
            victim = min(first)
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()

            async def replaced() -> bool:
                return len(worker_pids(server) - first) == 1

            await until(replaced, f"no replacement worker:\n{server.tail()}")
            await load.wait_for_success(killed_at)
            (new,) = worker_pids(server) - first

            async def new_one_serves() -> bool:
                # New connections, so that some reach the replacement (SO_REUSEPORT).
                await load.burst(8)
                return new in searched_by(server)

            await until(new_one_serves, f"the replacement serves no search:\n{server.tail()}")
            await load.stop()

        lines = server.log_lines()
        exits = [x["message"] for x in lines if "exited" in str(x.get("message"))]
        assert len(exits) == 1 and f"(pid {victim}) exited (killed by SIGKILL)" in exits[0], exits
        restarted = [x["message"] for x in lines if "restarted as" in str(x.get("message"))]
        assert restarted == [f"worker {exits[0].split()[1]} restarted as pid {new}"], restarted
        assert (await scrape(metrics_url)).get(RESTARTS) == 1
        # Searches fail only at transport level (on connections the killed worker held): the
        # others are answered, allowed ones with 200, refused ones with their refusal.
        failed = [ex for ex in load.records if ex.error is None and ex.kind == "allowed"]
        assert all(ex.status == 200 for ex in failed), [(ex.status, ex.answer) for ex in failed]
        assert sum(ex.error is not None for ex in load.records) < len(load.records) // 2
        assert (first - {victim}) <= searched_by(server)
        assert await server.terminate() == 0, server.tail()
        totals = await check_against_log(load.records, admin_dsn)
        assert totals.responses_checked > 40 and totals.log_size > totals.responses_checked
        rc, out = audit_verify(config, keys.log_verifier)
        assert rc == 0, out
    finally:
        await server.close()


async def _answered(load: Load, n: int) -> bool:
    return sum(ex.status is not None for ex in load.records) >= n
