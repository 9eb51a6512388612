"""`alpr-proxy serve` as an operator starts it: a start that cannot succeed says why in one line
naming the database or setting at fault, exits 2, claims nothing and records nothing; a start
that succeeds serves the API and, on its own listener, the metrics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg
import orjson
import pytest

from proxy.demo.embedded import free_port
from tests.conftest import AUDIENCE, ISSUER, LOG_ORIGIN
from tests.http.conftest import policy_text
from tests.pg import Databases, with_db

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "alpr-proxy serve: "


def _env() -> dict[str, str]:
    # The session sets a throw-away metrics address for every other test's server; these
    # tests choose their own.
    drop = {"PROMETHEUS_MULTIPROC_DIR", "ALPR_PROXY_METRICS_LISTEN"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = str(ROOT)
    return env


def write_config(
    tmp: Path,
    keys: tuple[Path, Path],
    log_key: Path,
    *,
    store_dsn: str,
    audit_dsn: str,
    port: int,
    metrics_port: int,
    token_file: str = "",
    workers: int = 1,
) -> Path:
    (tmp / "policy.toml").write_text(policy_text())
    config = tmp / "config.toml"
    config.write_text(
        f"""
[server]
host = "127.0.0.1"
port = {port}
workers = {workers}
[database]
store_dsn = "{store_dsn}"
audit_dsn = "{audit_dsn}"
connect_timeout_s = 5
[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
public_key_file = "{keys[1]}"
algorithms = ["EdDSA"]
[policy]
file = "policy.toml"
[log]
origin = "{LOG_ORIGIN}"
signing_key_file = "{log_key}"
[metrics]
listen = "127.0.0.1:{metrics_port}"
bearer_token_file = "{token_file}"
"""
    )
    return config


def serve(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", "serve", "--config", str(config)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def messages(stderr: str) -> list[str]:
    out = []
    for line in stderr.splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            out.append(str(orjson.loads(line).get("message")))
    return out


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The failed start's one error line; nothing else but log lines, nothing claims to serve."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [x for x in result.stderr.splitlines() if x.startswith(PREFIX)]
    assert len(errors) == 1, result.stderr
    others = [x for x in result.stderr.splitlines() if not x.startswith(PREFIX)]
    assert len(messages("\n".join(others))) == len(others), result.stderr  # only JSON log lines
    assert not {"started", "serving"} & set(messages(result.stderr)), result.stderr
    assert "serving on" not in result.stderr
    return errors[0]


async def policy_loaded(admin_dsn: str) -> int:
    conn = await asyncpg.connect(admin_dsn)
    try:
        n = await conn.fetchval(
            "SELECT count(*) FROM audit.entries WHERE convert_from(body, 'UTF8') LIKE $1",
            '%"event":"policy_loaded"%',
        )
    finally:
        await conn.close()
    return int(n)


def closed_port_dsn(dsn: str) -> str:
    parts = dsn.split("@", 1)
    host = parts[1].split("/", 1)
    return f"{parts[0]}@127.0.0.1:{free_port()}/{host[1]}"


@pytest.mark.parametrize(
    ("which", "fault", "expected"),
    [
        (
            "store",
            "database",
            ("store database", "database.store_dsn", "unknown database", "nope_db"),
        ),
        (
            "audit",
            "database",
            ("audit database", "database.audit_dsn", "unknown database", "nope_db"),
        ),
        ("store", "role", ("store database", "authentication or role", "no_such_role")),
        ("audit", "role", ("audit database", "authentication or role", "no_such_role")),
        ("store", "port", ("store database", "connection refused", "127.0.0.1")),
        ("audit", "port", ("audit database", "connection refused", "127.0.0.1")),
    ],
)
async def test_a_database_fault_is_one_line_naming_the_database(
    tmp_path: Path,
    dbs: Databases,
    dev_keys: tuple[Path, Path],
    log_keys: tuple[Path, str],
    which: str,
    fault: str,
    expected: tuple[str, ...],
):
    admin_dsn, audit_dsn = await dbs.fresh_audit()
    dsns = {"store": dbs.store, "audit": audit_dsn}
    good = dsns[which]
    db_name = good.rsplit("/", 1)[1]
    dsns[which] = {
        "database": with_db(good, "nope_db"),
        "role": with_db(good, db_name, "no_such_role"),
        "port": closed_port_dsn(good),
    }[fault]
    config = write_config(
        tmp_path,
        dev_keys,
        log_keys[0],
        store_dsn=dsns["store"],
        audit_dsn=dsns["audit"],
        port=free_port(),
        metrics_port=free_port(),
    )
    result = await asyncio.to_thread(serve, config)
    line = one_line_error(result)
    for fragment in expected:
        assert fragment in line, line
    assert "CHANGE_ME" not in line
    assert await policy_loaded(admin_dsn) == 0


async def test_with_workers_a_database_fault_is_one_line_before_any_worker_starts(
    tmp_path: Path, dbs: Databases, dev_keys: tuple[Path, Path], log_keys: tuple[Path, str]
):
    admin_dsn, audit_dsn = await dbs.fresh_audit()
    config = write_config(
        tmp_path,
        dev_keys,
        log_keys[0],
        store_dsn=dbs.store,
        audit_dsn=with_db(audit_dsn, "nope_db"),
        port=free_port(),
        metrics_port=free_port(),
        workers=2,
    )
    result = await asyncio.to_thread(serve, config)
    line = one_line_error(result)
    assert "audit database (database.audit_dsn" in line and "unknown database" in line, line
    assert "starting 2 workers" not in result.stderr  # it failed before spawning any
    assert await policy_loaded(admin_dsn) == 0


@pytest.mark.parametrize("busy", ["api", "metrics"])
async def test_a_port_in_use_is_one_line_and_records_no_startup(
    tmp_path: Path,
    dbs: Databases,
    dev_keys: tuple[Path, Path],
    log_keys: tuple[Path, str],
    busy: str,
):
    admin_dsn, audit_dsn = await dbs.fresh_audit()
    occupier = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    occupier.bind(("127.0.0.1", 0))
    occupier.listen(1)
    taken = occupier.getsockname()[1]
    ports = {"api": free_port(), "metrics": free_port()} | {busy: taken}
    config = write_config(
        tmp_path,
        dev_keys,
        log_keys[0],
        store_dsn=dbs.store,
        audit_dsn=audit_dsn,
        port=ports["api"],
        metrics_port=ports["metrics"],
    )
    try:
        result = await asyncio.to_thread(serve, config)
    finally:
        occupier.close()
    line = one_line_error(result)
    setting = {"api": "server.port", "metrics": "metrics.listen"}[busy]
    assert f"127.0.0.1:{taken}" in line and setting in line and "in use" in line, line
    assert await policy_loaded(admin_dsn) == 0


async def test_a_good_start_serves_metrics_on_their_own_listener_only(
    tmp_path: Path, dbs: Databases, dev_keys: tuple[Path, Path], log_keys: tuple[Path, str]
):
    admin_dsn, audit_dsn = await dbs.fresh_audit()
    (tmp_path / "metrics-token").write_text("scrape-me\n")
    port, metrics_port = free_port(), free_port()
    config = write_config(
        tmp_path,
        dev_keys,
        log_keys[0],
        store_dsn=dbs.store,
        audit_dsn=audit_dsn,
        port=port,
        metrics_port=metrics_port,
        token_file="metrics-token",
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "proxy", "serve", "--config", str(config)),
            env=_env(),
            stderr=err,
            stdout=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 60
        while "started" not in messages(log.read_text()):
            assert proc.returncode is None and time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
        assert await policy_loaded(admin_dsn) == 1
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as r:
                assert r.status == 404
                assert (await r.json())["error"]["code"] == "not_found"
            async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            async with session.get(metrics_url) as r:
                assert r.status == 401
            auth = {"Authorization": "Bearer scrape-me"}
            async with session.get(metrics_url, headers=auth) as r:
                assert r.status == 200
                assert "alpr_proxy_ready 1.0" in await r.text()
            # The served runner answers what aiohttp cannot parse with the envelope, audited.
            huge = {"X-Padding": "x" * 20_000}
            async with session.get(f"http://127.0.0.1:{port}/healthz", headers=huge) as r:
                assert r.status == 400
                assert (await r.json())["error"]["code"] == "invalid_request"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0, log.read_text()
