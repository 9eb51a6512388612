"""load/soak.py's open loop, per-interval accounting and report, against a tiny local server."""

from __future__ import annotations

import os
from typing import Any

from aiohttp import web

from load.loadgen import Request, Target, encode_request
from load.soak import Sampler, markdown, soak_loop, summarize
from proxy.demo.embedded import free_port


async def test_soak_loop_buckets_by_due_time_and_counts_errors() -> None:
    calls = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=500 if calls % 10 == 0 else 200, text="ok")

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text="alpr_proxy_audit_queue_depth 3.0\n")

    app = web.Application()
    app.router.add_get("/x", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    # The gauges come from the metrics listener, a port of its own (SPEC §9a).
    listener = web.Application()
    listener.router.add_get("/metrics", metrics)
    metrics_runner = web.AppRunner(listener, access_log=None)
    await metrics_runner.setup()
    metrics_port = free_port()
    await web.TCPSite(metrics_runner, "127.0.0.1", metrics_port).start()
    try:
        target = Target("127.0.0.1", port)
        requests = [Request("hit", encode_request(target, "GET", "/x"), 200)]
        lines: list[tuple[int, int]] = []
        sampler = Sampler(os.getpid(), os.getpid(), f"http://127.0.0.1:{metrics_port}")

        def report(k: int, bucket: Any, resources: dict[str, Any]) -> None:
            lines.append((k, bucket.due))

        buckets, samples = await soak_loop(
            target, requests, rate=40, duration=1.5, interval=0.5, sampler=sampler, report=report
        )
    finally:
        await runner.cleanup()
        await metrics_runner.cleanup()
    assert [k for k, _ in lines] == [0, 1, 2]  # every interval reported once, in order
    assert [b.due for b in buckets] == [20, 20, 20]
    assert sum(b.answered for b in buckets) == 60 == calls
    assert sum(b.errors["status 500"] for b in buckets) == 6
    assert len(samples) == 3 and samples[0]["audit_queue"] == 3
    assert samples[0]["app_rss_mb"] > 0
    result = summarize(buckets, samples, 0.5, 1.5)
    assert result["overall"]["errors"] == 6 and result["overall"]["answered"] == 60
    assert [r["rps"] for r in result["intervals"]] == [40.0, 40.0, 40.0]
    report_md = markdown(
        {
            "started_at": "2026-01-01T00:00:00+00:00",
            "machine": {"nproc": 2, "loadavg_start": [0], "loadavg_end": [0], "pinning": "-"},
            "setup": {
                "reads": 1,
                "workers": 1,
                "users": 1,
                "mix": "hit 100%",
                "connections": 1,
                "calibrate_s": 0,
                "capacity_rps": 0,
                "rate": 40,
                "rate_note": "--rate",
                "duration_s": 1.5,
                "interval_s": 0.5,
            },
            "result": result,
            "audit_verify": "OK",
        }
    )
    assert report_md.count("\n| ") == 3 + 1  # header row and one per interval
