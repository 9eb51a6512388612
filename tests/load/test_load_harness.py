"""The load harness's pieces, checked fast against tiny local servers (no timing claims)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from load.baseline import create_baseline_app
from load.loadgen import (
    Mix,
    Request,
    SearchTemplate,
    Target,
    encode_request,
    load_spec,
    run_closed,
    run_open,
    search_specs,
    write_spec,
)
from proxy.app import create_app
from proxy.demo.embedded import free_port
from proxy.settings import load_settings
from tests.conftest import AUDIENCE, ISSUER, LOG_ORIGIN
from tests.pg import Databases, fresh_store


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Any]]:
    """Start an app on 127.0.0.1 (a real socket, as the load generator needs one)."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> Target:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return Target("127.0.0.1", port)

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_open_loop_measures_latency_from_the_intended_send_time(serve: Any) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", slow)
    target = await serve(app)
    req = Request("slow", encode_request(target, "GET", "/"), 200)
    # 50 req/s against a server that needs 50 ms each, through one connection: request i is
    # due at 20 ms * i but answered near 50 ms * (i + 1), so its latency grows by ~30 ms a step.
    result = await run_open(
        target, [req], rate=50, duration=0.6, max_connections=1, drain=5, keep_samples=True
    )
    assert result.requests == result.ok == result.answered == result.answered_in_window == 30
    assert result.connections == 1
    assert result.errors == {}
    samples = sorted(result.samples or [])
    assert [n for n, _ in samples] == list(range(30))
    latencies = [s for _, s in samples]
    assert 0.045 <= latencies[0] < 0.5
    assert all(b > a for a, b in itertools.pairwise(latencies))
    # A generator that timed from the actual send would see ~50 ms throughout.
    assert latencies[-1] > 0.6
    assert result.latency_ms["max"] > 600
    assert result.send_lag_ms["max"] > 500  # requests waited in the generator, and it counted


async def test_closed_loop_counts_requests_and_errors(serve: Any) -> None:
    seen: dict[str, int] = {"ok": 0, "bad": 0}

    async def ok(request: web.Request) -> web.Response:
        seen["ok"] += 1
        return web.Response(text="fine")

    async def bad(request: web.Request) -> web.Response:
        seen["bad"] += 1
        await request.read()
        return web.json_response({"error": "nope"}, status=503)

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_post("/bad", bad)
    target = await serve(app)
    reqs = [
        Request("good", encode_request(target, "GET", "/ok"), 200),
        Request("good", encode_request(target, "GET", "/ok"), 200),
        Request("good", encode_request(target, "GET", "/ok"), 200),
        Request("broken", encode_request(target, "POST", "/bad", b'{"x": 1}'), 200),
    ]
    result = await run_closed(target, reqs, connections=4, duration=0.4)
    total = seen["ok"] + seen["bad"]
    assert total > 20
    # No warm-up: every request is measured.
    assert result.sent == result.requests == result.answered == result.answered_in_window == total
    assert result.statuses == {"200": seen["ok"], "503": seen["bad"]}
    assert seen["bad"] == sum(1 for n in range(total) if n % 4 == 3)
    assert result.ok == seen["ok"]
    assert result.errors == {"status 503": seen["bad"]}
    assert result.by_kind == {"broken": {"503": seen["bad"]}, "good": {"200": seen["ok"]}}
    assert result.throughput_rps > 0
    assert 0 < result.latency_ms["p50"] <= result.latency_ms["p99"] <= result.latency_ms["max"]


async def test_closed_loop_does_not_record_the_warm_up(serve: Any) -> None:
    hits = 0

    async def ok(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        await asyncio.sleep(0.005)
        return web.Response(text="fine")

    app = web.Application()
    app.router.add_get("/", ok)
    target = await serve(app)
    req = Request("x", encode_request(target, "GET", "/"), 200)
    result = await run_closed(target, [req], connections=2, duration=0.3, warmup=0.3)
    assert result.sent == hits
    assert 0 < result.requests < result.sent  # the warm-up's requests were sent, not recorded
    assert result.requests == result.ok
    assert result.answered_in_window >= result.requests
    assert result.warmup_s == 0.3


async def test_closed_loop_counts_refused_connections_and_stops() -> None:
    target = Target("127.0.0.1", free_port())  # nothing listens there
    req = Request("x", encode_request(target, "GET", "/"), 200)
    result = await run_closed(target, [req], connections=2, duration=0.2)
    assert result.requests > 0
    assert result.ok == 0
    assert set(result.errors) == {"ConnectionRefusedError"}
    assert sum(result.errors.values()) == result.requests


POLICY = """
[settings]
retention_days = 365
max_results = 5000
justification_min_chars = 20
prohibited_terms = ["immigration", "ICE", "deportation"]
rate_limit_per_minute = 1000

[[agencies]]
ori = "CA0010900"
name = "Oakland Police Department"
kind = "local"
state = "CA"

[[purposes]]
code = "HOMICIDE"
description = "Homicide investigation"
max_lookback_days = 365
case_number = "required"
query_types = ["plate"]

[[purposes]]
code = "CIVIL_IMMIGRATION"
description = "Civil immigration enforcement"
prohibited = true
"""

TEMPLATE = SearchTemplate(
    purpose="HOMICIDE",
    case_number="26-004211",
    justification="Vehicle seen leaving scene of 1/14 homicide, witness statement",
    refused_purpose="CIVIL_IMMIGRATION",
    refused_justification="Locate vehicle of subject with an administrative warrant",
    window=timedelta(days=30),
)


async def test_baseline_answers_what_the_proxy_answers(
    dbs: Databases,
    dev_keys: tuple[Path, Path],
    log_keys: tuple[Path, str],
    make_token: Any,
    tmp_path: Path,
) -> None:
    now = datetime.now(UTC)
    store_admin, store_ro = await fresh_store(dbs)
    conn = await asyncpg.connect(store_admin)
    try:
        await conn.copy_records_to_table(
            "reads",
            schema_name="alpr",
            records=[
                (1, "7LOD001", "CA", now - timedelta(days=1), 37.81, -122.26, "OAK-1", "CA0010900"),
                (2, "7LOD001", None, now - timedelta(days=2), 37.82, -122.27, "OAK-2", "CA0010900"),
                (3, "7LOD001", "CA", now - timedelta(days=40), 37.8, -122.2, "OAK-1", "CA0010900"),
                (4, "5XYZ999", "NV", now - timedelta(days=1), 37.8, -122.2, "OAK-3", "CA0010900"),
            ],
        )
    finally:
        await conn.close()
    _, audit = await dbs.fresh_audit()
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    settings = load_settings(
        env={},
        overrides={
            "database": {"store_dsn": store_ro, "audit_dsn": audit},
            "auth": {
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "public_key_file": str(dev_keys[1]),
                "algorithms": ["EdDSA"],
            },
            "policy": {"file": str(policy)},
            "log": {"origin": LOG_ORIGIN, "signing_key_file": str(log_keys[0])},
        },
    )
    specs = search_specs(
        hits=["7LOD001"],
        misses=["Q000000"],
        tokens=[make_token()],
        mix=Mix(hit=1, miss=1, refused=1),
        template=TEMPLATE,
        now=now,
        count=30,
    )
    by_kind = {s["kind"]: s for s in specs}
    assert set(by_kind) == {"hit", "miss", "refused"}
    assert by_kind["refused"]["expect"] == 403
    assert by_kind["hit"]["body"]["plate"] == "7LOD001"
    # The spec file round-trips to raw requests that name the target.
    write_spec(tmp_path / "spec.json", specs)
    raw = load_spec(tmp_path / "spec.json", Target("127.0.0.1", 9))
    assert [r.kind for r in raw] == [s["kind"] for s in specs]
    assert raw[0].raw.startswith(b"POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")

    proxy = TestClient(TestServer(create_app(settings)))
    baseline = TestClient(TestServer(create_baseline_app(store_ro, 2)))
    await proxy.start_server()
    await baseline.start_server()
    try:
        answers = {}
        for kind in ("hit", "miss", "refused"):
            spec = by_kind[kind]
            for name, client in (("proxy", proxy), ("baseline", baseline)):
                r = await client.post("/v1/search", json=spec["body"], headers=spec["headers"])
                answers[name, kind] = (r.status, await r.json())
        assert (await baseline.get("/healthz")).status == 200
    finally:
        await proxy.close()
        await baseline.close()

    p_status, p_body = answers["proxy", "hit"]
    b_status, b_body = answers["baseline", "hit"]
    assert p_status == b_status == 200
    assert set(b_body) <= set(p_body)
    assert b_body["truncated"] is p_body["truncated"] is False
    assert b_body["reads"] == p_body["reads"]  # same rows, order, field names and encodings
    assert [r["id"] for r in b_body["reads"]] == [1, 2]
    assert set(b_body["reads"][0]) == {
        "id",
        "plate",
        "plate_state",
        "observed_at",
        "lat",
        "lon",
        "camera_id",
        "agency",
    }
    assert answers["proxy", "miss"] == (200, {**answers["proxy", "miss"][1], "reads": []})
    assert answers["baseline", "miss"] == (200, {"reads": [], "truncated": False})
    # The baseline has no policy: it runs the refused search; the proxy refuses it.
    assert answers["proxy", "refused"][0] == 403
    assert answers["proxy", "refused"][1]["error"]["code"] == "purpose_prohibited"
    assert answers["baseline", "refused"][0] == 200


@pytest.mark.parametrize("max_batch", [None, 1])
def test_bench_config_loads_and_naive_variant_commits_one_entry_per_batch(
    tmp_path: Path, max_batch: int | None
) -> None:
    from load.bench import write_config
    from proxy.demo.embedded import EmbeddedPostgres
    from proxy.settings import LogSettings, load_settings

    path = tmp_path / "alpr-proxy.toml"
    pg = EmbeddedPostgres(tmp_path / "pg")  # only its DSNs are used: nothing is started
    path.write_text(write_config(pg, 8080, 2, 10, max_batch=max_batch, metrics_port=9555))
    settings = load_settings(path, env={})
    assert settings.server.workers == 2
    assert settings.metrics.address == ("127.0.0.1", 9555)  # where bench scrapes, not 8080
    assert settings.log.max_batch == (max_batch or LogSettings().max_batch)
