"""Store growth: exact-plate latency through the proxy as the store grows.

    python -m load.growth --sizes 1000000,10000000[,100000000] [--data-dir DIR] [--rate 200]
                          [--duration 10] [--rounds 3] [--indexes exact]

One embedded PostgreSQL in --data-dir (default /var/tmp/alpr-proxy-growth) holds a store
database per size (reads_1m, reads_10m, ...), filled by load.datagen and kept between runs:
a size is generated only when its database is missing, or was generated with another size,
seed or index mode, or not to the end. Then one full proxy per store (load/bench.py's config,
keys, demo policy and tokens; each with a fresh audit log) is started, and an open loop at a
fixed modest --rate sends load/bench.py's request mix to each in turn, --rounds times
(1m, 10m, 1m, 10m, ...: drifting load from other work hits every size alike). Hit plates are
sampled from each store's own reads (a hit at 100M is as realistic as one at 1M), and the
search window ends at the store's last read. Writes growth-<time>.md and .json to --out with
p50/p90/p99 per size (all rounds together), the mean reads per hit, the proxy's mean store
stage, and p50(largest) / p50(smallest): the project's target is 1.2 at 100M against 1M.

Pinning as in load/bench.py (generator on the last CPU, proxy and PostgreSQL on the others),
but only once every store is generated, so data generation has the whole machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
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

import asyncpg
import orjson
import psutil
from hdrh.histogram import HdrHistogram

from load.bench import (
    TEMPLATE_BASE,
    Interrupted,
    make_tokens,
    metrics_delta,
    on_sigterm,
    sample_miss_plates,
    scrape_metrics,
    start_process,
    stop_process,
    wait_ready,
    write_config,
    write_secrets,
)
from load.datagen import generate, sample_hit_plates
from load.loadgen import (
    PERCENTILES,
    Mix,
    Request,
    SearchTemplate,
    Target,
    load_spec,
    run_loop,
    run_open,
    search_specs,
    write_spec,
)
from proxy.demo.embedded import EmbeddedPostgres, free_port
from proxy.migrate import migrate

TARGET_RATIO = 1.2  # p50 at the largest store within 1.2x of the smallest


def label(size: int) -> str:
    if size % 1_000_000 == 0:
        return f"{size // 1_000_000}m"
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def _size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1000, "m": 1_000_000}.get(text[-1:], 1)
    return int(text.rstrip("km")) * scale


async def _stored(pg: EmbeddedPostgres, db: str, size: int, args: argparse.Namespace) -> bool:
    """Whether `db` holds a finished datagen run of this size, seed and index mode."""
    admin = await asyncpg.connect(pg.dsn())
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db):
            await admin.execute(f'CREATE DATABASE "{db}"')
            await migrate(pg.dsn(db), "store")
            return False
    finally:
        await admin.close()
    conn = await asyncpg.connect(pg.dsn(db))
    try:
        comment = await conn.fetchval("SELECT obj_description('alpr.reads'::regclass, 'pg_class')")
        made = json.loads(comment).get("datagen", {}) if (comment or "").startswith("{") else {}
        top = await conn.fetchval("SELECT max(id) FROM alpr.reads")
    finally:
        await conn.close()
    want = {"reads": size, "seed": args.seed, "indexes": args.indexes}
    return all(made.get(k) == v for k, v in want.items()) and top == size


@dataclass
class Store:
    db: str
    size: int
    now: datetime  # the store's last read: searches cover the window before it
    hits: list[str]
    misses: list[str]
    reads_per_hit: float
    sizes_mb: dict[str, float]


async def _sample(pg: EmbeddedPostgres, db: str, size: int, args: argparse.Namespace) -> Store:
    conn = await asyncpg.connect(pg.dsn(db))
    try:
        # ids follow time in datagen's stores: the last id is the last read.
        now = await conn.fetchval("SELECT observed_at FROM alpr.reads ORDER BY id DESC LIMIT 1")
        since = now - timedelta(days=args.window_days)
        hits = await sample_hit_plates(conn, since + timedelta(days=1), args.sample, seed=7)
        counts = dict(
            await conn.fetch(
                "SELECT plate, count(*) FROM alpr.reads"
                " WHERE plate = ANY($1::text[]) AND observed_at >= $2 GROUP BY plate",
                sorted(set(hits)),
                since,
            )
        )
        sizes = {
            str(r["relname"]): round(int(r["bytes"]) / 2**20, 1)
            for r in await conn.fetch(
                "SELECT c.relname, pg_relation_size(c.oid) AS bytes FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'alpr'"
                " AND c.relkind IN ('r', 'i') ORDER BY c.relname"
            )
        }
        misses = await sample_miss_plates(conn)
    finally:
        await conn.close()
    if not hits:
        raise RuntimeError(f"{db}: no reads in the search window")
    if datetime.now(UTC) - now > timedelta(days=365 - args.window_days - 5):
        # The demo purpose looks back 365 days from the real now: older windows are refused.
        raise RuntimeError(f"{db}: its reads end {now:%Y-%m-%d}; drop it to regenerate")
    per_hit = sum(counts.get(p, 0) for p in hits) / len(hits)
    return Store(db, size, now, hits, misses, per_hit, sizes)


async def _checkpoint(pg: EmbeddedPostgres, drop: Sequence[str] = ()) -> None:
    admin = await asyncpg.connect(pg.dsn())
    try:
        for db in drop:
            await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.execute("CHECKPOINT")
    finally:
        await admin.close()


def _pin_tree(pid: int, cpus: set[int]) -> None:
    """PostgreSQL was started unpinned (datagen wants both cores); its new backends fork from
    the postmaster and inherit this."""
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error, OSError):
            os.sched_setaffinity(proc.pid, cpus)


@dataclass
class Started:
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pg: EmbeddedPostgres | None = None

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(Exception):
                stop_process(proc)
        if self.pg is not None:  # stopped, not removed: the stores are kept for the next run
            with contextlib.suppress(Exception):
                self.pg.stop()


@dataclass
class Proxy:
    store: Store
    proc: subprocess.Popen[bytes]
    url: str
    metrics_url: str  # the metrics listener (SPEC §9a), not the API
    requests: list[Request]
    before: dict[str, float] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)


async def _fresh_audit(pg: EmbeddedPostgres, db: str) -> None:
    admin = await asyncpg.connect(pg.dsn())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{db}"')
    finally:
        await admin.close()
    await migrate(pg.dsn(db), "audit")


def _start_proxy(
    args: argparse.Namespace, work: Path, pg: EmbeddedPostgres, store: Store, started: Started
) -> Proxy:
    audit_db = f"growth_audit_{store.db}"
    asyncio.run(_fresh_audit(pg, audit_db))
    port, metrics_port = free_port(), free_port()
    config = work / f"alpr-proxy-{store.db}.toml"
    config.write_text(
        write_config(
            pg, port, args.workers, args.pool, store.db, audit_db, metrics_port=metrics_port
        )
    )
    log = work / f"proxy-{store.db}.log"
    cmd = [sys.executable, "-m", "proxy", "serve", "--config", str(config)]
    proc = start_process(cmd, log, args.server_cpus)
    started.procs.append(proc)
    url = f"http://127.0.0.1:{port}"
    wait_ready("proxy", url + "/readyz", proc, log)
    specs = search_specs(
        hits=store.hits,
        misses=store.misses,
        tokens=args.tokens,
        mix=args.mix,
        template=SearchTemplate(**TEMPLATE_BASE, window=timedelta(days=args.window_days)),
        now=store.now,
        count=args.requests,
        seed=11,
    )
    spec = work / f"spec-{store.db}.json"
    write_spec(spec, specs)
    metrics_url = f"http://127.0.0.1:{metrics_port}"
    return Proxy(store, proc, url, metrics_url, load_spec(spec, Target.from_url(url)))


def _round(args: argparse.Namespace, proxy: Proxy, pg_pid: int) -> dict[str, Any]:
    time.sleep(2)  # the previous run's stragglers and commits finish
    result: dict[str, Any] = run_loop(
        lambda: run_open(
            Target.from_url(proxy.url),
            proxy.requests,
            rate=args.rate,
            duration=args.duration,
            warmup=args.warmup,
            drain=args.drain,
            watch={"app": proxy.proc.pid, "postgres": pg_pid},
            keep_samples=True,
        )
    ).to_json()
    proxy.runs.append(result)
    return result


def _summary(proxy: Proxy) -> dict[str, Any]:
    """All rounds of one size together: one histogram, summed counts and CPU."""
    hist = HdrHistogram(1, 3600 * 1_000_000, 3)
    errors: Counter[str] = Counter()
    cpu: Counter[str] = Counter()
    answered = in_window = 0
    elapsed = 0.0
    for r in proxy.runs:
        for _, seconds in r["samples"]:
            hist.record_value(min(3600 * 1_000_000, max(1, round(seconds * 1e6))))
        errors.update(r["errors"])
        cpu.update(r["cpu_s"])
        answered += r["answered"]
        in_window += r["answered_in_window"]
        elapsed += r["elapsed_s"]
    pct = {k: hist.get_value_at_percentile(p) / 1000 for k, p in PERCENTILES}
    store = proxy.store
    return {
        "size": store.size,
        "db": store.db,
        "data_end": store.now.isoformat(),
        "relation_mb": store.sizes_mb,
        "hit_plates_sampled": len(store.hits),
        "distinct_hit_plates": len(set(store.hits)),
        "mean_reads_per_hit": round(store.reads_per_hit, 1),
        "latency_ms": pct | {"max": hist.get_max_value() / 1000},
        "round_p50_ms": [r["latency_ms"]["p50"] for r in proxy.runs],
        "requests": hist.get_total_count(),
        "throughput_rps": round(answered / elapsed, 1) if elapsed else 0.0,
        "errors": dict(errors),
        "stage_mean_ms": metrics_delta(proxy.before, scrape_metrics(proxy.metrics_url))[
            "stage_mean_ms"
        ],
        "cpu_ms_per_request": {k: round(v * 1000 / max(1, in_window), 3) for k, v in cpu.items()},
        "runs": [{k: v for k, v in r.items() if k != "samples"} for r in proxy.runs],
    }


def run(args: argparse.Namespace, work: Path, started: Started) -> dict[str, Any]:
    started_at = datetime.now(UTC)
    load_start = [round(x, 2) for x in os.getloadavg()]
    pg = started.pg = EmbeddedPostgres(args.data_dir / "pg")
    print(f"starting embedded PostgreSQL in {pg.data_dir} ...", flush=True)
    pg.start()
    generated: dict[str, Any] = {}
    for size in args.sizes:
        db = f"reads_{label(size)}"
        if asyncio.run(_stored(pg, db, size, args)):
            print(f"{db}: {size} reads already there", flush=True)
            continue
        print(f"{db}: generating {size} reads ({args.indexes} indexes)", flush=True)
        result = asyncio.run(
            generate(
                pg.dsn(db), size, seed=args.seed, indexes=args.indexes, jobs=args.jobs, report=print
            )
        )
        print(f"{db}: {result.describe()}", flush=True)
        generated[db] = {"seconds": result.seconds, "rows_per_s": round(result.rows_per_s)}

    cpus = sorted(os.sched_getaffinity(0))
    args.server_cpus = None
    pinning = f"not pinned ({'--no-pin' if args.no_pin else f'{len(cpus)} CPU'})"
    if not args.no_pin and len(cpus) >= 2:
        args.server_cpus = set(cpus[:-1])
        _pin_tree(int((pg.data_dir / "postmaster.pid").read_text().split()[0]), args.server_cpus)
        os.sched_setaffinity(0, {cpus[-1]})
        pinning = f"generator on CPU {cpus[-1]}, proxy and PostgreSQL on {cpus[:-1]}"
    write_secrets(work, datetime.now(UTC))
    args.tokens = make_tokens(work, args.users)
    pg_pid = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    proxies = []
    for size in args.sizes:
        store = asyncio.run(_sample(pg, f"reads_{label(size)}", size, args))
        proxies.append(_start_proxy(args, work, pg, store, started))
    asyncio.run(_checkpoint(pg))  # not in the middle of a measured run
    for proxy in proxies:
        proxy.before = scrape_metrics(proxy.metrics_url)
    # Sizes take turns, round after round: drifting load from other work hits them all alike.
    for k in range(args.rounds):
        for proxy in proxies:
            lat = _round(args, proxy, pg_pid)["latency_ms"]
            print(
                f"  round {k + 1} {proxy.store.db:10} p50 {lat['p50']:7.2f}  "
                f"p90 {lat['p90']:7.2f}  p99 {lat['p99']:8.2f} ms",
                flush=True,
            )
    rows = [_summary(p) for p in proxies]
    for proxy in proxies:
        stop_process(proxy.proc)
    asyncio.run(_checkpoint(pg, [f"growth_audit_{p.store.db}" for p in proxies]))
    for r in rows:
        lat = r["latency_ms"]
        print(
            f"{r['db']:10} {r['mean_reads_per_hit']:6.1f} reads/hit  {r['requests']} requests  "
            f"p50 {lat['p50']:7.2f}  p90 {lat['p90']:7.2f}  p99 {lat['p99']:8.2f} ms  "
            f"errors {sum(r['errors'].values())}",
            flush=True,
        )
    p50 = [r["latency_ms"]["p50"] for r in rows]
    store_ms = [r["stage_mean_ms"].get("store", 0.0) for r in rows]
    return {
        "started_at": started_at.isoformat(),
        "machine": {
            "nproc": os.cpu_count(),
            "loadavg_start": load_start,
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "pinning": pinning,
        },
        "setup": {
            "sizes": args.sizes,
            "indexes": args.indexes,
            "seed": args.seed,
            "rate": args.rate,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "workers": args.workers,
            "pool": args.pool,
            "mix": args.mix.describe(),
            "window_days": args.window_days,
            "users": args.users,
            "data_dir": str(args.data_dir),
        },
        "generated": generated,
        "sizes": rows,
        "p50_ratio": round(p50[-1] / p50[0], 3) if len(p50) > 1 and p50[0] else None,
        # The store query alone (the proxy's own stage timer): the part that can grow.
        "store_stage_ratio": (
            round(store_ms[-1] / store_ms[0], 3) if len(rows) > 1 and store_ms[0] else None
        ),
    }


def markdown(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["setup"]
    lines = [
        f"### Store growth run of {report['started_at'][:19]}Z",
        "",
        f"- Machine: {m['nproc']} CPUs; load average {m['loadavg_start']} at start, "
        f"{m['loadavg_end']} at end; {m['pinning']}.",
        f"- Stores: load.datagen, seed {s['seed']}, `--indexes {s['indexes']}`; searches over "
        f"the {s['window_days']} days before each store's last read; mix {s['mix']}; hits "
        f"sampled from each store's reads; {s['users']} users.",
        f"- Open loop at {s['rate']:g} req/s; {s['rounds']} rounds, each size in turn with "
        f"{s['warmup_s']:g} s warm-up and {s['duration_s']:g} s measured; one proxy per store "
        f"({s['workers']} worker(s), store pool {s['pool']}), all running throughout.",
        "",
        "| store | reads | heap MB | exact index MB | reads per hit | requests | p50 ms "
        "| p90 ms | p99 ms | p99.9 ms | max ms | errors | p50 per round | store stage ms "
        "| app CPU ms/req | PG CPU ms/req |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in report["sizes"]:
        lat, cpu, rel = r["latency_ms"], r["cpu_ms_per_request"], r["relation_mb"]
        lines.append(
            f"| {r['db']} | {r['size']:,} | {rel.get('reads', 0):,.0f} "
            f"| {rel.get('reads_plate_observed_idx', 0):,.0f} | {r['mean_reads_per_hit']} "
            f"| {r['requests']} | {lat['p50']:.2f} | {lat['p90']:.2f} | {lat['p99']:.2f} "
            f"| {lat['p99_9']:.2f} | {lat['max']:.2f} | {sum(r['errors'].values())} "
            f"| {', '.join(f'{x:.2f}' for x in r['round_p50_ms'])} "
            f"| {r['stage_mean_ms'].get('store', '')} | {cpu.get('app', 0):.3f} "
            f"| {cpu.get('postgres', 0):.3f} |"
        )
    ratio = report["p50_ratio"]
    if ratio is not None:
        verdict = "within" if ratio <= TARGET_RATIO else "**above**"
        lines += [
            "",
            f"p50 {report['sizes'][-1]['db']} / p50 {report['sizes'][0]['db']}: **{ratio}** "
            f"({verdict} the {TARGET_RATIO}x target); mean store stage "
            f"{report['store_stage_ratio']}x.",
        ]
    for db, g in report["generated"].items():
        phases = ", ".join(f"{k} {v:g} s" for k, v in g["seconds"].items())
        lines.append(f"\nGenerated {db} in this run: {g['rows_per_s']:,} rows/s ({phases}).")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m load.growth", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1000000,10000000", help="comma-separated; 1m, 100m ok")
    # Under /var/tmp: kept across reboots, unlike /tmp, so the 100M store survives.
    p.add_argument("--data-dir", type=Path, default=Path("/var/tmp/alpr-proxy-growth"))  # noqa: S108
    p.add_argument("--indexes", choices=("all", "exact"), default="exact", help="see datagen")
    p.add_argument("--seed", type=int, default=1, help="datagen seed")
    p.add_argument("--jobs", type=int, default=2, help="datagen connections")
    p.add_argument("--rate", type=float, default=200.0, help="open loop, req/s")
    p.add_argument("--duration", type=float, default=10.0, help="measured s per size and round")
    p.add_argument("--warmup", type=float, default=3.0, help="unrecorded s before each")
    p.add_argument("--rounds", type=int, default=3, help="sizes take turns this many times")
    p.add_argument("--drain", type=float, default=10.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--pool", type=int, default=10)
    p.add_argument("--mix", type=Mix.parse, default=Mix())
    p.add_argument("--window-days", type=int, default=30)
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--sample", type=int, default=5000, help="reads sampled for hit plates")
    p.add_argument("--requests", type=int, default=20_000, help="distinct requests in the mix")
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--out", type=Path, default=Path("load/results"))
    args = p.parse_args(argv)
    try:
        args.sizes = sorted({_size(x) for x in args.sizes.split(",") if x.strip()})
    except ValueError:
        p.error(f"--sizes: numbers, optionally with k or m: {args.sizes!r}")
    if not args.sizes or min(args.sizes) < 1000 or args.rate <= 0 or args.duration <= 0:
        p.error("--sizes >= 1000 each, --rate and --duration > 0")
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    if not 1 <= args.window_days <= 365:
        p.error("--window-days must be within the demo purpose's lookback (1..365)")
    args.data_dir = args.data_dir.resolve()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="alpr-growth-"))
    started = Started()
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        report = run(args, work, started)
    except (KeyboardInterrupt, Interrupted):
        print("\ninterrupted: stopping the proxy and PostgreSQL (stores kept)", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, subprocess.SubprocessError, asyncpg.PostgresError) as exc:
        print(f"load.growth: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        started.stop()
        shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    stamp = report["started_at"][:19].replace(":", "").replace("-", "")
    base = out / f"growth-{stamp}"
    base.with_suffix(".json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    base.with_suffix(".md").write_text(markdown(report))
    print(f"\np50 ratio largest / smallest: {report['p50_ratio']}\nreport: {base}.md, {base}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
