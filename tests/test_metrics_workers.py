"""Several worker processes: their metrics add up in one scrape (prometheus-client's
multiprocess mode), both for processes writing the directory directly and for `serve`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg
import orjson
from prometheus_client import multiprocess
from prometheus_client.parser import text_string_to_metric_families

from proxy import metrics
from proxy.cli.serve import prepare_metrics_dir
from proxy.demo.embedded import free_port
from proxy.metrics_dir import MULTIPROC_ENV
from tests.conftest import AUDIENCE, ISSUER, LOG_ORIGIN
from tests.http.conftest import policy_text
from tests.pg import Databases

ROOT = Path(__file__).resolve().parents[1]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


_CHILD = """
import sys
from proxy import metrics
searches, queue, size, ready = (int(a) for a in sys.argv[1:])
metrics.child(metrics.SEARCHES, "allowed", "none").inc(searches)  # buffered, as served
metrics.AUTH_FAILURES.inc()
metrics.child(metrics.STAGE_SECONDS, "store").observe(0.003)
metrics.flush()
metrics.AUDIT_QUEUE_DEPTH.set(queue)
metrics.AUDIT_LOG_ENTRIES.set(size)
metrics.READY.set(ready)
metrics.set_policy_version("v-" + sys.argv[1])
print(__import__("os").getpid())
"""


def _child(tmp: Path, *args: int) -> int:
    env = {**os.environ, MULTIPROC_ENV: str(tmp), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(done.stdout)


def test_two_processes_add_up_in_one_scrape(tmp_path: Path):
    first = _child(tmp_path, 3, 5, 100, 1)
    second = _child(tmp_path, 4, 7, 120, 0)
    s = parse(metrics.exposition(str(tmp_path)).decode())
    assert value(s, "alpr_proxy_searches_total", decision="allowed", reason="none") == 7
    assert value(s, "alpr_proxy_auth_failures_total") == 2
    assert value(s, "alpr_proxy_stage_seconds_count", stage="store") == 2
    assert value(s, "alpr_proxy_stage_seconds_bucket", stage="store", le="0.005") == 2
    assert value(s, "alpr_proxy_audit_queue_depth") == 12  # livesum
    assert value(s, "alpr_proxy_audit_log_entries") == 120  # max
    assert value(s, "alpr_proxy_ready") == 0  # livemin: one worker is not ready
    assert value(s, "alpr_proxy_policy_info", version="v-3") == 1
    assert value(s, "alpr_proxy_policy_info", version="v-4") == 1

    multiprocess.mark_process_dead(second, str(tmp_path))  # as `serve` does when one exits
    s = parse(metrics.exposition(str(tmp_path)).decode())
    assert value(s, "alpr_proxy_searches_total", decision="allowed", reason="none") == 7
    assert value(s, "alpr_proxy_audit_queue_depth") == 5
    assert value(s, "alpr_proxy_ready") == 1
    assert ("alpr_proxy_policy_info", frozenset({("version", "v-4")})) not in s
    assert first != second


def test_serve_prepares_an_empty_metrics_directory(tmp_path: Path, monkeypatch):
    stale = tmp_path / "counter_999999.db"
    stale.write_bytes(b"old")
    keep = tmp_path / "notes.txt"
    keep.write_text("not ours")
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    assert prepare_metrics_dir() == (tmp_path, False)
    assert not stale.exists() and keep.exists()

    monkeypatch.delenv(MULTIPROC_ENV)
    made, created = prepare_metrics_dir()
    try:
        assert created and made.is_dir() and not any(made.iterdir())
        assert os.environ[MULTIPROC_ENV] == str(made)
    finally:
        made.rmdir()


def _config(tmp: Path, dbs: Databases, audit_dsn: str, keys: tuple[Path, Path], log_key: Path):
    port, metrics_port = free_port(), free_port()
    (tmp / "policy.toml").write_text(policy_text())
    (tmp / "config.toml").write_text(
        f"""
[server]
host = "127.0.0.1"
port = {port}
workers = 2
[database]
store_dsn = "{dbs.store}"
audit_dsn = "{audit_dsn}"
[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
public_key_file = "{keys[1]}"
algorithms = ["EdDSA"]
[policy]
file = "{tmp / "policy.toml"}"
[log]
origin = "{LOG_ORIGIN}"
signing_key_file = "{log_key}"
checkpoint_interval_s = 0.5
[metrics]
listen = "127.0.0.1:{metrics_port}"
"""
    )
    return tmp / "config.toml", f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}"


def _lines(path: Path) -> list[dict[str, object]]:
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            out.append(orjson.loads(line))
    return out


def _metrics_dir(log: Path) -> Path:
    (path,) = [x["metrics_dir"] for x in _lines(log) if "metrics_dir" in x]
    return Path(str(path))


async def test_serve_with_two_workers_aggregates_their_metrics(
    tmp_path: Path, dbs: Databases, dev_keys: tuple[Path, Path], log_keys: tuple[Path, str]
):
    admin_dsn, audit_dsn = await dbs.fresh_audit()
    config, url, metrics_url = _config(tmp_path, dbs, audit_dsn, dev_keys, log_keys[0])
    drop = {MULTIPROC_ENV, "ALPR_PROXY_METRICS_LISTEN"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = str(ROOT)
    stderr = tmp_path / "serve.log"
    with stderr.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "proxy", "serve", "--config", str(config)),
            env=env,
            stderr=err,
            stdout=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 60
        while sum(x["message"] == "started" for x in _lines(stderr)) < 2:
            assert proc.returncode is None and time.monotonic() < deadline, _lines(stderr)
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # both have bound the port once their startup line is out
        metrics_dir = _metrics_dir(stderr)
        assert metrics_dir.is_dir()

        n = 40
        search = {"route": "/v1/search", "method": "POST", "status": "401"}
        connector = aiohttp.TCPConnector(force_close=True)  # a new connection each: both workers
        async with aiohttp.ClientSession(connector=connector) as session:
            for _ in range(n):
                headers = {"Authorization": "Bearer x"}
                async with session.post(url + "/v1/search", json={}, headers=headers) as r:
                    assert r.status == 401
            async with session.get(url + "/metrics") as r:
                assert r.status == 404  # SPEC §9a: never on the API port
            # One listener, in the parent, reads every worker's files; each worker folds its
            # buffered request metrics into them within metrics.FLUSH_INTERVAL_S.
            deadline = time.monotonic() + 10 * metrics.FLUSH_INTERVAL_S
            while True:
                async with session.get(metrics_url + "/metrics") as r:
                    s = parse(await r.text())
                if value(s, "alpr_proxy_http_requests_total", **search) >= n:
                    break
                assert time.monotonic() < deadline, s
                await asyncio.sleep(0.2)

        served = {x["pid"] for x in _lines(stderr) if x.get("route") == "/v1/search"}
        assert len(served) == 2, "SO_REUSEPORT sent every connection to one worker"
        assert value(s, "alpr_proxy_auth_failures_total") == n
        assert value(s, "alpr_proxy_http_requests_total", **search) == n
        assert value(s, "alpr_proxy_ready") == 1
        conn = await asyncpg.connect(admin_dsn)
        try:
            size = await conn.fetchval("SELECT count(*) FROM audit.entries")
        finally:
            await conn.close()
        assert value(s, "alpr_proxy_audit_log_entries") == size
        assert value(s, "alpr_proxy_audit_checkpoint_age_seconds") < 2.5
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0, _lines(stderr)
    assert not metrics_dir.exists()
    assert [x["message"] for x in _lines(stderr)].count("stopped") == 3  # workers, then parent
