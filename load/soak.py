"""Soak run: the proxy at a steady fraction of its capacity for a long time, on loopback.

    python -m load.soak --duration 1800            # 30 minutes at 70 % of measured capacity
    python -m load.soak --duration 120 --interval 10 --reads 50000    # a short check

Sets up like load/bench.py (embedded PostgreSQL in a temporary directory, the demo policy,
`--reads` synthetic reads, `python -m proxy serve` on 127.0.0.1), measures capacity with a
closed loop (`--calibrate` seconds at `--connections`), then sends an open loop at
`--fraction` of it (or at `--rate`) for `--duration` seconds and reports, per `--interval`:
throughput, latency percentiles measured from each request's intended send time (coordinated
omission corrected), errors (transport failures, unexpected statuses, requests unanswered
`--drain` s after the end), the RSS and open files of the server's process tree and the RSS of
PostgreSQL, and the audit queue depth and log size from /metrics (on the metrics listener's own
port). At the end it runs `alpr-proxy audit verify` on the log the run wrote.

Bounded: at most --max-duration (4 h) of load, everything on 127.0.0.1, every process it
started and the database removed at the end, also on Ctrl-C, SIGTERM or an error. Writes
soak-<time>.md and .json to --out (default load/results) and exits 1 if any error occurred
or the log did not verify.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psutil
from hdrh.histogram import HdrHistogram

from load.bench import (
    REPO,
    TEMPLATE_BASE,
    Interrupted,
    http_get,
    make_tokens,
    on_sigterm,
    prepare_databases,
    start_process,
    stop_process,
    wait_ready,
    write_config,
)
from load.loadgen import (
    TRANSPORT_ERRORS,
    HttpConnection,
    Mix,
    Request,
    SearchTemplate,
    Target,
    load_spec,
    run_closed,
    search_specs,
    write_spec,
)
from proxy.demo.embedded import EmbeddedPostgres, free_port

_HIST_MAX_US = 3600 * 1_000_000
_clock = time.perf_counter
MAX_DURATION_S = 4 * 3600.0


# ---------------------------------------------------------------------------------------------
# Per-interval recording


@dataclass
class Bucket:
    """The requests *due* in one interval, wherever their answers fell."""

    latency: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, _HIST_MAX_US, 3))
    due: int = 0
    answered: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def record(self, seconds: float) -> None:
        self.latency.record_value(min(_HIST_MAX_US, max(1, round(seconds * 1e6))))

    def _ms(self, percentile: float) -> float:
        if not self.latency.get_total_count():
            return 0.0
        return round(float(self.latency.get_value_at_percentile(percentile)) / 1000, 2)

    def summary(self) -> dict[str, Any]:
        return {
            "due": self.due,
            "answered": self.answered,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "statuses": dict(self.statuses),
            "p50_ms": self._ms(50),
            "p90_ms": self._ms(90),
            "p99_ms": self._ms(99),
            "p99_9_ms": self._ms(99.9),
            "max_ms": self._ms(100),
        }


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _memory_mb(pid: int, *, proportional: bool = False) -> float:
    """RSS of a process tree; with `proportional`, PSS (shared pages divided among the
    processes sharing them), which is what PostgreSQL's backends really add up to: their RSS
    counts the shared buffers each has touched again and again."""
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(psutil.Error, AttributeError):
            total += p.memory_full_info().pss if proportional else p.memory_info().rss
    return round(total / 2**20, 1)


def _open_files(pid: int) -> int:
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(psutil.Error):
            total += p.num_fds()
    return total


def _gauges(metrics_url: str) -> dict[str, float]:
    out: dict[str, float] = {}
    wanted = ("alpr_proxy_audit_queue_depth", "alpr_proxy_audit_log_entries")
    with contextlib.suppress(OSError):
        for line in http_get(metrics_url + "/metrics", timeout=5)[1].decode().splitlines():
            name, _, value = line.partition(" ")
            if name in wanted:
                out[name] = float(value)
    return out


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


@dataclass
class Sampler:
    """Resource use over time: the server's process tree, PostgreSQL, the audit gauges."""

    app_pid: int
    pg_pid: int
    metrics_url: str  # the metrics listener's http://host:port (SPEC §9a), not the API's
    samples: list[dict[str, Any]] = field(default_factory=list)

    async def sample(self, t: float) -> dict[str, Any]:
        gauges = await asyncio.to_thread(_gauges, self.metrics_url)
        s = {
            "t_s": round(t, 1),
            "app_rss_mb": _memory_mb(self.app_pid),
            "app_open_files": _open_files(self.app_pid),
            "postgres_pss_mb": _memory_mb(self.pg_pid, proportional=True),
            "audit_queue": _int(gauges.get("alpr_proxy_audit_queue_depth")),
            "audit_log_entries": _int(gauges.get("alpr_proxy_audit_log_entries")),
        }
        self.samples.append(s)
        return s


# ---------------------------------------------------------------------------------------------
# The open loop


async def soak_loop(
    target: Target,
    requests: Sequence[Request],
    *,
    rate: float,
    duration: float,
    interval: float,
    max_connections: int = 256,
    request_timeout: float = 30.0,
    drain: float = 10.0,
    sampler: Sampler | None = None,
    report: Any = print,
) -> tuple[list[Bucket], list[dict[str, Any]]]:
    """Request i is due at t0 + i/rate; its latency runs from then. Buckets by due time, one
    per `interval`; each is reported (with the resources sampled then) one interval after it
    closes, or at the end, and all are final once every request is answered or `drain` has
    passed. Returns the buckets and the resource samples, one per bucket."""
    if rate <= 0 or duration <= 0 or interval <= 0:
        raise ValueError("need rate, duration and interval > 0")
    total = max(1, round(rate * duration))
    n_buckets = max(1, int(-(-duration // interval)))
    buckets = [Bucket() for _ in range(n_buckets)]
    queue: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    inflight: dict[int, float] = {}
    workers: list[asyncio.Task[None]] = []
    idle = 0
    remaining = total
    done_event = asyncio.Event()
    t0 = _clock() + 0.01

    def bucket_of(due: float) -> Bucket:
        return buckets[min(n_buckets - 1, int((due - t0) // interval))]

    async def worker() -> None:
        nonlocal idle, remaining
        conn = HttpConnection(target)
        try:
            while True:
                idle += 1
                try:
                    number, due = await queue.get()
                finally:
                    idle -= 1
                inflight[number] = due
                req = requests[number % len(requests)]
                b = bucket_of(due)
                try:
                    async with asyncio.timeout(request_timeout):
                        status = await conn.roundtrip(req.raw)
                except TRANSPORT_ERRORS as exc:
                    conn.close()
                    b.errors[type(exc).__name__] += 1
                    b.record(_clock() - due)
                else:
                    b.answered += 1
                    b.statuses[str(status)] += 1
                    if status != req.expect and not (req.expect == 0 and 200 <= status < 300):
                        b.errors[f"status {status}"] += 1
                    b.record(_clock() - due)
                del inflight[number]
                remaining -= 1
                if remaining == 0:
                    done_event.set()
        finally:
            conn.close()

    reported = 0

    async def report_next() -> None:
        nonlocal reported
        resources = await sampler.sample(_clock() - t0) if sampler else {}
        report(reported, buckets[reported], resources)
        reported += 1

    async def reporter() -> None:
        while reported < n_buckets - 1:  # the last one is reported at the end
            await asyncio.sleep(max(0.0, t0 + (reported + 2) * interval - _clock()))
            await report_next()

    reporting = asyncio.create_task(reporter())
    try:
        number = 0
        while number < total:
            due_now = min(total, int((_clock() - t0) * rate) + 1)
            while number < due_now:
                due = t0 + number / rate
                queue.put_nowait((number, due))
                bucket_of(due).due += 1
                number += 1
                if queue.qsize() > idle and len(workers) < max_connections:
                    workers.append(asyncio.create_task(worker()))
            if number < total:
                await asyncio.sleep(max(0.0, t0 + number / rate - _clock()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done_event.wait(), drain)
        cutoff = _clock()
        while not queue.empty():
            number, due = queue.get_nowait()
            inflight[number] = due
        for due in inflight.values():
            b = bucket_of(due)
            b.errors["incomplete"] += 1
            b.record(cutoff - due)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        reporting.cancel()
        await asyncio.gather(reporting, return_exceptions=True)
    while reported < n_buckets:
        await report_next()
    return buckets, list(sampler.samples) if sampler else []


# ---------------------------------------------------------------------------------------------
# Report


def _slope_mb_per_hour(samples: Sequence[dict[str, Any]], key: str) -> float | None:
    """Least-squares slope of `key` over time, leaving out the first fifth (warm-up)."""
    points = [(s["t_s"], s[key]) for s in samples if s.get(key) is not None]
    points = points[len(points) // 5 :]
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if var == 0:
        return None
    slope = float(sum((t - mx) * (v - my) for t, v in points) / var)
    return round(slope * 3600, 1)


def summarize(
    buckets: Sequence[Bucket], samples: Sequence[dict[str, Any]], interval: float, duration: float
) -> dict[str, Any]:
    total = Bucket()
    for b in buckets:
        total.latency.add(b.latency)
        total.due += b.due
        total.answered += b.answered
        total.statuses.update(b.statuses)
        total.errors.update(b.errors)
    rows = []
    for k, b in enumerate(buckets):
        s = b.summary()
        s["interval"] = k
        s["from_s"] = round(k * interval, 1)
        s["rps"] = round(b.answered / min(interval, duration - k * interval), 1)
        rows.append(s)
    rss = [s["app_rss_mb"] for s in samples]
    return {
        "overall": total.summary(),
        "intervals": rows,
        "resources": list(samples),
        "app_rss_mb": {
            "first": rss[0] if rss else None,
            "last": rss[-1] if rss else None,
            "max": max(rss) if rss else None,
            "slope_mb_per_hour": _slope_mb_per_hour(samples, "app_rss_mb"),
        },
        "postgres_pss_mb_slope_per_hour": _slope_mb_per_hour(samples, "postgres_pss_mb"),
    }


def markdown(report: dict[str, Any]) -> str:
    s, m, o = report["setup"], report["machine"], report["result"]["overall"]
    rss = report["result"]["app_rss_mb"]
    lines = [
        f"### Soak run of {report['started_at'][:19]}Z",
        "",
        f"- Machine: {m['nproc']} CPUs, load average {m['loadavg_start']} at start, "
        f"{m['loadavg_end']} at end; {m['pinning']}.",
        f"- Store: {s['reads']} reads; {s['workers']} worker(s); mix {s['mix']}; "
        f"{s['users']} users.",
        f"- Capacity (closed loop, {s['connections']} connections, {s['calibrate_s']:g} s): "
        f"**{s['capacity_rps']:.0f} req/s**; soak rate **{s['rate']:.0f} req/s** "
        f"({s['rate_note']}) for {s['duration_s']:g} s, intervals of {s['interval_s']:g} s.",
        f"- Overall: {o['due']} requests, {o['answered']} answered, **{o['errors']} errors** "
        f"{o['error_kinds'] or ''}; latency p50 {o['p50_ms']} ms, p99 {o['p99_ms']} ms, "
        f"p99.9 {o['p99_9_ms']} ms, max {o['max_ms']} ms.",
        f"- Server RSS: {rss['first']} MB first sample, {rss['last']} MB last, max "
        f"{rss['max']} MB; trend after the first fifth {rss['slope_mb_per_hour']} MB/h "
        f"(meaningful over long runs only). PostgreSQL PSS trend "
        f"{report['result']['postgres_pss_mb_slope_per_hour']} MB/h.",
        f"- Audit log: {report['audit_verify']}",
        "",
        "| from s | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors "
        "| app RSS MB | app files | PG PSS MB | audit queue | log entries |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    samples = report["result"]["resources"]
    for row in report["result"]["intervals"]:
        r = samples[row["interval"]] if row["interval"] < len(samples) else {}
        lines.append(
            f"| {row['from_s']:g} | {row['rps']} | {row['p50_ms']} | {row['p90_ms']} "
            f"| {row['p99_ms']} | {row['p99_9_ms']} | {row['max_ms']} | {row['errors']} "
            f"| {r.get('app_rss_mb', '')} | {r.get('app_open_files', '')} "
            f"| {r.get('postgres_pss_mb', '')} | {r.get('audit_queue', '')} "
            f"| {r.get('audit_log_entries', '')} |"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m load.soak", description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=1800.0, help="seconds of soak load")
    p.add_argument("--fraction", type=float, default=0.7, help="of the measured capacity")
    p.add_argument("--rate", type=float, default=0.0, help="req/s; skips the calibration")
    p.add_argument("--calibrate", type=float, default=15.0, help="closed-loop seconds")
    p.add_argument("--connections", type=int, default=32, help="closed-loop concurrency")
    p.add_argument("--interval", type=float, default=60.0, help="seconds per report row")
    p.add_argument("--reads", type=int, default=200_000, help="reads to seed")
    p.add_argument("--workers", type=int, default=1, help="server processes")
    p.add_argument("--pool", type=int, default=10, help="store connections per worker")
    p.add_argument("--users", type=int, default=2000, help="distinct tokens")
    p.add_argument("--mix", type=Mix.parse, default=Mix(), help="hit=,miss=,refused=")
    p.add_argument("--window-days", type=int, default=30)
    p.add_argument("--sample", type=int, default=5000, help="reads sampled for hit plates")
    p.add_argument("--max-connections", type=int, default=256)
    p.add_argument("--drain", type=float, default=10.0)
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--out", type=Path, default=Path("load/results"))
    args = p.parse_args(argv)
    if not 0 < args.duration <= MAX_DURATION_S:
        p.error(f"--duration must be within (0, {MAX_DURATION_S:.0f}] seconds")
    if not 0 < args.fraction <= 1.5 or args.rate < 0 or args.interval <= 0:
        p.error("--fraction must be in (0, 1.5], --rate >= 0, --interval > 0")
    if args.reads < 1000 or args.workers < 1 or args.users < 1:
        p.error("--reads >= 1000, --workers and --users >= 1")
    return args


def _pin(no_pin: bool) -> tuple[str, int | None]:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if no_pin or len(cpus) < 2:
        return f"not pinned ({'--no-pin' if no_pin else f'{len(cpus)} CPU'})", None
    os.sched_setaffinity(0, set(cpus[:-1]))  # PostgreSQL and the server inherit this
    return f"generator on CPU {cpus[-1]}, server and PostgreSQL on {cpus[:-1]}", cpus[-1]


@dataclass
class Started:
    """What `run` started, for main to stop whatever happens."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    postgres: EmbeddedPostgres | None = None

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(Exception):
                stop_process(proc)
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                self.postgres.destroy()


def run(args: argparse.Namespace, work: Path, started: Started) -> dict[str, Any]:
    started_at = datetime.now(UTC)
    load_start = [round(x, 2) for x in os.getloadavg()]
    pinning, generator_cpu = _pin(args.no_pin)
    pg = started.postgres = EmbeddedPostgres(work / "pg")
    print(f"starting embedded PostgreSQL in {pg.data_dir} ...", flush=True)
    pg.start()
    now = datetime.now(UTC)
    workload = asyncio.run(prepare_databases(pg, work, args, now))
    print(f"store: {workload.seed_summary}", flush=True)
    port, metrics_port = free_port(), free_port()
    config = work / "alpr-proxy.toml"
    config.write_text(write_config(pg, port, args.workers, args.pool, metrics_port=metrics_port))
    log = work / "proxy.log"
    proxy = start_process(
        [sys.executable, "-m", "proxy", "serve", "--config", str(config)], log, None
    )
    started.procs.append(proxy)
    url = f"http://127.0.0.1:{port}"
    wait_ready("proxy", url + "/readyz", proxy, log)
    if generator_cpu is not None:
        os.sched_setaffinity(0, {generator_cpu})
    template = SearchTemplate(**TEMPLATE_BASE, window=timedelta(days=args.window_days))
    specs = search_specs(
        hits=workload.hits,
        misses=workload.misses,
        tokens=make_tokens(work, args.users),
        mix=args.mix,
        template=template,
        now=now,
        count=20_000,
        seed=13,
    )
    spec = work / "spec.json"
    write_spec(spec, specs)
    target = Target.from_url(url)
    requests = load_spec(spec, target)

    capacity = 0.0
    if args.rate > 0:
        rate, note = args.rate, "--rate"
    else:
        print(f"calibrating: closed loop, {args.connections} connections, {args.calibrate:g} s")
        closed = asyncio.run(
            run_closed(
                target, requests, connections=args.connections, duration=args.calibrate, warmup=2
            )
        )
        capacity = closed.throughput_rps
        if closed.errors:
            raise RuntimeError(f"errors while calibrating: {closed.errors}")
        rate, note = capacity * args.fraction, f"{args.fraction:.0%} of capacity"
        time.sleep(2)
    print(f"soak: {rate:.0f} req/s ({note}) for {args.duration:g} s", flush=True)
    pg_pid = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    sampler = Sampler(proxy.pid, pg_pid, f"http://127.0.0.1:{metrics_port}")

    def line(k: int, b: Bucket, r: dict[str, Any]) -> None:
        s = b.summary()
        print(
            f"  {k * args.interval:7.0f} s  {b.answered / args.interval:7.1f} req/s  "
            f"p50 {s['p50_ms']:7.2f}  p99 {s['p99_ms']:8.2f}  max {s['max_ms']:8.2f} ms  "
            f"errors {s['errors']:4d}  app RSS {r.get('app_rss_mb')} MB  "
            f"files {r.get('app_open_files')}  PG PSS {r.get('postgres_pss_mb')} MB  "
            f"queue {r.get('audit_queue')}",
            flush=True,
        )

    buckets, samples = asyncio.run(
        soak_loop(
            target,
            requests,
            rate=rate,
            duration=args.duration,
            interval=args.interval,
            max_connections=args.max_connections,
            drain=args.drain,
            sampler=sampler,
            report=line,
        )
    )
    result = summarize(buckets, samples, args.interval, args.duration)
    stop_process(proxy)  # graceful: the final checkpoint covers the whole log
    verify = subprocess.run(
        [sys.executable, "-m", "proxy", "audit", "verify", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    ok_line = next((x for x in verify.stdout.splitlines() if x.startswith("OK:")), None)
    return {
        "started_at": started_at.isoformat(),
        "machine": {
            "nproc": os.cpu_count(),
            "loadavg_start": load_start,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "pinning": pinning,
        },
        "setup": {
            "reads": args.reads,
            "workers": args.workers,
            "users": args.users,
            "mix": args.mix.describe(),
            "connections": args.connections,
            "calibrate_s": args.calibrate,
            "capacity_rps": capacity,
            "rate": rate,
            "rate_note": note,
            "duration_s": args.duration,
            "interval_s": args.interval,
        },
        "result": result,
        "audit_verify": ok_line or f"FAILED (exit {verify.returncode}): {verify.stdout[-500:]}",
        "audit_verify_ok": verify.returncode == 0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="alpr-soak-"))
    started = Started()
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        report = run(args, work, started)
    except (KeyboardInterrupt, Interrupted):
        print("\ninterrupted: stopping the server and removing the database", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"load.soak: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        started.stop()
        shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    stamp = report["started_at"][:19].replace(":", "").replace("-", "")
    base = out / f"soak-{stamp}-w{args.workers}"
    base.with_suffix(".json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    base.with_suffix(".md").write_text(markdown(report))
    o = report["result"]["overall"]
    print(
        f"\n{o['due']} requests, {o['answered']} answered, {o['errors']} errors; "
        f"p99 {o['p99_ms']} ms; RSS {report['result']['app_rss_mb']}; "
        f"audit: {report['audit_verify']}\nreport: {base}.md, {base}.json"
    )
    return 0 if o["errors"] == 0 and report["audit_verify_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
