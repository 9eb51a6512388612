"""One command: the proxy against the bare baseline, on one machine, in one run.

    python -m load.bench [--reads 200000] [--duration 10] [--rates 500,1000,1500] [--workers 1]
                         [--out load/results]

Starts an embedded PostgreSQL in a temporary directory, creates, migrates and seeds the store
(proxy.demo.seed) and the audit database, writes keys, the demo policy and a config, starts
`python -m proxy serve` and `python -m load.baseline` on two ports (same workers, same pool
size), mints tokens, builds one request mix for both, then runs the load generator
(load/loadgen.py, its own process) closed-loop against each and open-loop at each rate against
each. Writes markdown + JSON to --out and prints a summary. Every process it started and the
temporary database are removed at the end, also on Ctrl-C, SIGTERM or an error.

With two or more CPUs the generator runs on the last one and everything under test (both
servers and PostgreSQL) on the others, so the generator does not steal the servers' CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import orjson
import psutil

from load import profile
from load.loadgen import Mix, SearchTemplate, search_specs, write_spec
from proxy.audit.note import generate_signer_key
from proxy.auth.tokens import generate_dev_keypair, mint_token
from proxy.cli.credentials import write_secret
from proxy.demo import policy as demo
from proxy.demo.city import ALAMEDA_SO, CHP, OAKLAND_PD, PIEDMONT_PD
from proxy.demo.embedded import EmbeddedPostgres, free_port
from proxy.demo.seed import seed_reads
from proxy.migrate import migrate

REPO = Path(__file__).resolve().parent.parent
ISSUER = "https://idp.bench.alpr-proxy.invalid"
AUDIENCE = "alpr-proxy"
ORIGIN = "bench.alpr-proxy.invalid/audit"
# Requesters: California agencies the demo policy lets search (their own and shared reads).
USER_AGENCIES = (OAKLAND_PD, ALAMEDA_SO, PIEDMONT_PD, CHP)
TEMPLATE_BASE = {
    "purpose": demo.DEMO_PURPOSE,
    "case_number": demo.DEMO_CASE_NUMBER,
    "justification": demo.DEMO_JUSTIFICATION,
    "refused_purpose": "CIVIL_IMMIGRATION",  # prohibited in the demo policy: 403
    "refused_justification": "Locate vehicle of subject with an administrative warrant",
}
_READY_TIMEOUT_S = 90.0
_SETTLE_S = 2.0  # between runs: let the previous run's stragglers and commits finish


class Interrupted(Exception):
    pass


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(f"signal {signum}")


# ---------------------------------------------------------------------------------------------
# Setup


def write_config(
    pg: EmbeddedPostgres,
    port: int,
    workers: int,
    pool: int,
    store_db: str = "alpr_store",
    audit_db: str = "alpr_audit",
    max_batch: int | None = None,
    *,
    metrics_port: int = 0,
) -> str:
    # max_batch = 1 is the naive variant: one audit transaction per request, no group commit.
    # The metrics listener (SPEC §9a) is on its own port: 0 picks a free one (not scraped).
    batch = "" if max_batch is None else f"max_batch = {max_batch}\n"
    return f"""# Written by load/bench.py for one benchmark run.
[server]
host = "127.0.0.1"
port = {port}
workers = {workers}

[database]
store_dsn = "{pg.dsn(store_db, "alpr_proxy_store")}"
audit_dsn = "{pg.dsn(audit_db, "alpr_proxy_audit")}"
migrate_store_dsn = "{pg.dsn(store_db)}"
migrate_audit_dsn = "{pg.dsn(audit_db)}"
store_pool_size = {pool}

[auth]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
public_key_file = "dev-jwt.pub"
algorithms = ["EdDSA"]
dev_private_key_file = "dev-jwt.key"

[policy]
file = "policy.toml"

[log]
origin = "{ORIGIN}"
signing_key_file = "log-signing.key"
checkpoint_interval_s = 5
{batch}
[metrics]
listen = "127.0.0.1:{metrics_port}"
"""


@dataclass
class Workload:
    hits: list[str]  # plates sampled from reads in the window: repeated as often as read
    misses: list[str]
    reads_per_hit: float  # mean rows an exact search for a sampled hit matches
    distinct_hits: int
    seed_summary: str


def write_secrets(work: Path, now: datetime) -> None:
    """Token keys, the log's signing key and the demo policy, in `work`."""
    private, public = generate_dev_keypair()
    write_secret(work / "dev-jwt.key", private)
    (work / "dev-jwt.pub").write_bytes(public)
    skey, _ = generate_signer_key(ORIGIN)
    write_secret(work / "log-signing.key", (skey + "\n").encode())
    (work / "policy.toml").write_text(demo.demo_policy_toml(now))


async def sample_miss_plates(store: asyncpg.Connection) -> list[str]:
    rng = random.Random(3)
    # The seed never uses Q (California skips it), so these are well formed and absent.
    candidates = sorted(
        {"Q" + "".join(rng.choices("0123456789ABCDEFGHJKLMNPRSTUVWXYZ", k=6)) for _ in range(1000)}
    )
    found = {
        str(r["plate"])
        for r in await store.fetch(
            "SELECT DISTINCT plate FROM alpr.reads WHERE plate = ANY($1::text[])", candidates
        )
    }
    return [p for p in candidates if p not in found]


async def prepare_databases(
    pg: EmbeddedPostgres, work: Path, args: argparse.Namespace, now: datetime
) -> Workload:
    conn = await asyncpg.connect(pg.dsn())
    try:
        for name in ("alpr_store", "alpr_audit"):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    await migrate(pg.dsn("alpr_store"), "store")
    await migrate(pg.dsn("alpr_audit"), "audit")
    write_secrets(work, now)

    store = await asyncpg.connect(pg.dsn("alpr_store"))
    try:
        summary = await seed_reads(store, count=args.reads, now=now)
        # Seeded after the migration's GRANT ... ON ALL TABLES; re-grant for a fresh table.
        await store.execute("GRANT SELECT ON ALL TABLES IN SCHEMA alpr TO alpr_proxy_store")
        since = now - timedelta(days=args.window_days) + timedelta(days=1)
        # Reads sampled uniformly: a plate comes up as often as it was read (the store's skew).
        hits = [
            str(r["plate"])
            for r in await store.fetch(
                "SELECT plate FROM alpr.reads WHERE observed_at >= $1 ORDER BY random() LIMIT $2",
                since,
                args.sample,
            )
        ]
        counts = {
            str(r["plate"]): int(r["n"])
            for r in await store.fetch(
                "SELECT plate, count(*) AS n FROM alpr.reads"
                " WHERE plate = ANY($1::text[]) AND observed_at >= $2 GROUP BY plate",
                sorted(set(hits)),
                now - timedelta(days=args.window_days),
            )
        }
        misses = await sample_miss_plates(store)
    finally:
        await store.close()
    admin = await asyncpg.connect(pg.dsn())
    try:
        await admin.execute("CHECKPOINT")  # not in the middle of a measured run
    finally:
        await admin.close()
    if not hits:
        raise RuntimeError("no reads in the search window: nothing to search for")
    return Workload(
        hits=hits,
        misses=misses,
        reads_per_hit=sum(counts.get(p, 0) for p in hits) / len(hits),
        distinct_hits=len(counts),
        seed_summary=summary.describe(),
    )


def make_tokens(work: Path, users: int) -> list[str]:
    key = (work / "dev-jwt.key").read_bytes()
    return [
        mint_token(
            key,
            issuer=ISSUER,
            audience=AUDIENCE,
            sub=f"load.user{i:05d}",
            ori=USER_AGENCIES[i % len(USER_AGENCIES)],
            roles=["investigator"],
            ttl_s=4 * 3600,
        )
        for i in range(users)
    ]


# ---------------------------------------------------------------------------------------------
# Processes


def start_process(cmd: list[str], log: Path, cpus: set[int] | None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C goes to us, we stop it
        )
    if cpus:
        os.sched_setaffinity(proc.pid, cpus)  # inherited by its workers (spawned later)
    return proc


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - http://127.0.0.1
            return int(r.status), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(name: str, url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError):
            if http_get(url)[0] == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{name} not ready after {_READY_TIMEOUT_S:.0f} s:\n{_tail(log)}")


def scrape_metrics(metrics_url: str) -> dict[str, float]:
    """The samples this report uses (audit batch size, per-stage time) from the proxy's metrics
    listener (`metrics_url`: its http://host:port, not the API's)."""
    out: dict[str, float] = {}
    status, text = http_get(metrics_url + "/metrics")
    if status != 200:
        raise RuntimeError(f"{metrics_url}/metrics answered {status}: is it the metrics listener?")
    for line in text.decode().splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith(("alpr_proxy_audit_batch_size_", "alpr_proxy_stage_seconds_")) and (
            name.endswith(("_sum", "_count")) or "_sum{" in name or "_count{" in name
        ):
            out[name] = float(value)
    return out


def metrics_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    d = {k: v - before.get(k, 0.0) for k, v in after.items()}
    count = d.get("alpr_proxy_audit_batch_size_count", 0.0)
    stages = {}
    for key, total in d.items():
        if key.startswith("alpr_proxy_stage_seconds_sum{"):
            stage = key.split('"')[1]
            n = d.get(f'alpr_proxy_stage_seconds_count{{stage="{stage}"}}', 0.0)
            stages[stage] = round(total * 1000 / n, 3) if n else 0.0
    return {
        "mean_batch": round(d.get("alpr_proxy_audit_batch_size_sum", 0.0) / count, 2)
        if count
        else 0.0,
        "stage_mean_ms": stages,
    }


async def _audit_size(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT coalesce(max(idx) + 1, 0) FROM audit.entries"))
    finally:
        await conn.close()


async def _audit_batches_from_db(dsn: str, lo: int, hi: int) -> dict[str, float]:
    """Batch sizes from the log itself: a batch is one transaction, so one xmin."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS batches, coalesce(sum(n), 0) AS entries,"
            " coalesce(max(n), 0) AS largest FROM (SELECT count(*) AS n FROM audit.entries"
            " WHERE idx >= $1 AND idx < $2 GROUP BY xmin::text) AS b",
            lo,
            hi,
        )
    finally:
        await conn.close()
    batches, entries = int(row["batches"]), int(row["entries"])
    return {
        "entries": entries,
        "batches": batches,
        "mean": round(entries / batches, 2) if batches else 0.0,
        "max": int(row["largest"]),
    }


# ---------------------------------------------------------------------------------------------
# The benchmark


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pg: EmbeddedPostgres | None = None
        self.pinning: dict[str, Any] = {}
        self.server_cpus: set[int] | None = None
        self.generator_cpu: int | None = None
        self.runs = 0

    def pin(self) -> None:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if self.args.no_pin or len(cpus) < 2:
            why = "--no-pin" if self.args.no_pin else f"{len(cpus)} CPU available"
            self.pinning = {"pinned": False, "why": why, "cpus": cpus}
            return
        self.generator_cpu = cpus[-1]
        self.server_cpus = set(cpus[:-1])
        # This process first: PostgreSQL (started next) and the servers inherit it.
        os.sched_setaffinity(0, self.server_cpus)
        self.pinning = {
            "pinned": True,
            "generator_cpu": self.generator_cpu,
            "servers_and_postgres_cpus": sorted(self.server_cpus),
        }

    def loadgen(
        self, name: str, url: str, spec: Path, pid: int, mode: str, rate: float | None
    ) -> dict[str, Any]:
        a = self.args
        self.runs += 1
        out = self.work / f"run-{self.runs:02d}-{name}-{mode}.json"
        assert self.pg is not None
        pg_pid = int((self.pg.data_dir / "postmaster.pid").read_text().split()[0])
        cmd = [
            sys.executable,
            "-m",
            "load.loadgen",
            "--url",
            url,
            "--spec",
            str(spec),
            "--mode",
            mode,
            "--duration",
            str(a.duration),
            "--warmup",
            str(a.warmup),
            "--out",
            str(out),
            "--watch",
            f"app={pid}",
            "--watch",
            f"postgres={pg_pid}",
        ]
        if mode == "closed":
            cmd += ["--connections", str(a.connections)]
        else:
            cmd += ["--rate", str(rate), "--max-connections", str(a.max_connections)]
            cmd += ["--drain", str(a.drain)]
        cmd += ["--no-pin"] if self.generator_cpu is None else ["--cpu", str(self.generator_cpu)]
        budget = a.warmup + a.duration + a.drain + 30 + 60
        subprocess.run(cmd, cwd=REPO, check=True, timeout=budget, stdin=subprocess.DEVNULL)
        result: dict[str, Any] = orjson.loads(out.read_bytes())
        n = max(1, result["answered_in_window"])  # per response delivered in the window
        result["cpu_ms_per_request"] = {
            k: round(v * 1000 / n, 3) for k, v in result["cpu_s"].items()
        }
        return result

    def move_postgres(self, cpus: set[int]) -> bool:
        """Pin the postmaster and every backend to ``cpus`` (new backends inherit it)."""
        assert self.pg is not None
        postmaster = psutil.Process(
            int((self.pg.data_dir / "postmaster.pid").read_text().split()[0])
        )
        for proc in [postmaster, *postmaster.children(recursive=True)]:
            with contextlib.suppress(psutil.Error, OSError):
                os.sched_setaffinity(proc.pid, cpus)
        return True

    def start_profile(self, name: str, pid: int) -> subprocess.Popen[bytes]:
        """py-spy on the server's processes over a run's window (after the warm-up), on the
        generator's CPU so the sampler does not take the server's."""
        a = self.args
        proc = profile.record(
            pid, a.duration - 0.5, self.work / f"profile-{name}.raw", delay_s=a.warmup + 0.25
        )
        if self.generator_cpu is not None:
            os.sched_setaffinity(proc.pid, {self.generator_cpu})
        return proc

    def finish_profile(
        self, name: str, proc: subprocess.Popen[bytes], result: dict[str, Any]
    ) -> dict[str, Any]:
        _, err = proc.communicate(timeout=60)
        raw = self.work / f"profile-{name}.raw"
        if proc.returncode != 0 or not raw.exists():
            return {"error": err.decode(errors="replace").strip()[-500:] or "py-spy failed"}
        summary = profile.summarize(raw.read_text())
        app_ms = result["cpu_ms_per_request"].get("app")
        return {
            "throughput_rps_while_sampled": result["throughput_rps"],
            "app_cpu_ms_per_request": app_ms,
            "samples": summary.samples,
            "inclusive": summary.inclusive_top,
            "self": summary.self_top,
            "project": summary.project,
            "markdown": profile.markdown(summary, app_ms),
        }

    def run(self) -> dict[str, Any]:
        a = self.args
        started_at = datetime.now(UTC)
        load_start = os.getloadavg()
        self.pin()
        self.pg = EmbeddedPostgres(self.work / "pg")
        print(f"starting embedded PostgreSQL in {self.pg.data_dir} ...", flush=True)
        self.pg.start()
        now = datetime.now(UTC)
        t = time.monotonic()
        workload = asyncio.run(prepare_databases(self.pg, self.work, a, now))
        print(f"store: {workload.seed_summary} ({time.monotonic() - t:.0f} s)", flush=True)

        proxy_port, base_port, naive_port = free_port(), free_port(), free_port()
        # Each server's metrics listener, by name (the baseline has none).
        scrape_ports = {"proxy": free_port(), "naive": free_port()}
        config = self.work / "alpr-proxy.toml"
        config.write_text(
            write_config(self.pg, proxy_port, a.workers, a.pool, metrics_port=scrape_ports["proxy"])
        )
        naive_config = self.work / "alpr-proxy-naive.toml"
        naive_config.write_text(
            write_config(
                self.pg,
                naive_port,
                a.workers,
                a.pool,
                max_batch=1,
                metrics_port=scrape_ports["naive"],
            )
        )
        proxy_log, base_log = self.work / "proxy.log", self.work / "baseline.log"
        proxy = start_process(
            [sys.executable, "-m", "proxy", "serve", "--config", str(config)],
            proxy_log,
            self.server_cpus,
        )
        self.procs.append(proxy)
        naive_log = self.work / "naive.log"
        naive = start_process(
            [sys.executable, "-m", "proxy", "serve", "--config", str(naive_config)],
            naive_log,
            self.server_cpus,
        )
        self.procs.append(naive)
        base_cmd = [sys.executable, "-m", "load.baseline", "--dsn"]
        base_cmd += [self.pg.dsn("alpr_store", "alpr_proxy_store"), "--port", str(base_port)]
        base_cmd += ["--workers", str(a.workers), "--pool", str(a.pool)]
        baseline = start_process(base_cmd, base_log, self.server_cpus)
        self.procs.append(baseline)
        proxy_url, base_url = f"http://127.0.0.1:{proxy_port}", f"http://127.0.0.1:{base_port}"
        wait_ready("proxy", proxy_url + "/readyz", proxy, proxy_log)
        wait_ready("baseline", base_url + "/healthz", baseline, base_log)
        naive_url = f"http://127.0.0.1:{naive_port}"
        wait_ready("naive", naive_url + "/readyz", naive, naive_log)
        print(f"proxy on {proxy_url}, baseline on {base_url}", flush=True)

        tokens = make_tokens(self.work, a.users)
        template = SearchTemplate(**TEMPLATE_BASE, window=timedelta(days=a.window_days))
        common = {
            "hits": workload.hits,
            "misses": workload.misses,
            "tokens": tokens,
            "mix": a.mix,
            "template": template,
            "now": now,
            "count": a.requests,
            "seed": 11,
        }
        proxy_spec, base_spec = self.work / "proxy-spec.json", self.work / "baseline-spec.json"
        write_spec(proxy_spec, search_specs(**common, refused_status=403))
        write_spec(base_spec, search_specs(**common, refused_status=200))
        audit_dsn = self.pg.dsn("alpr_audit")
        servers = (
            ("baseline", base_url, base_spec, baseline.pid),
            ("proxy", proxy_url, proxy_spec, proxy.pid),
        )

        def one(name: str, url: str, spec: Path, pid: int, mode: str, rate: float | None) -> Any:
            time.sleep(_SETTLE_S)
            if name != "baseline":
                metrics_url = f"http://127.0.0.1:{scrape_ports[name]}"
                before = scrape_metrics(metrics_url)
                lo = asyncio.run(_audit_size(audit_dsn))
            result = self.loadgen(name, url, spec, pid, mode, rate)
            if name != "baseline":
                time.sleep(0.5)  # the last batches commit
                delta = metrics_delta(before, scrape_metrics(metrics_url))
                hi = asyncio.run(_audit_size(audit_dsn))
                result["audit_batch"] = {
                    "metrics_mean": delta["mean_batch"],
                    "db": asyncio.run(_audit_batches_from_db(audit_dsn, lo, hi)),
                }
                result["proxy_metrics"] = {
                    # The listener adds up every worker's metrics (multiprocess mode).
                    "scope": "all",
                    "stage_mean_ms": delta["stage_mean_ms"],
                }
            lat = result["latency_ms"]
            print(
                f"  {mode:6} {rate or '':>6} {name:8} {result['throughput_rps']:8.0f} req/s"
                f"  p50 {lat['p50']:7.2f}  p99 {lat['p99']:8.2f}  p99.9 {lat['p99_9']:8.2f} ms"
                f"  errors {sum(result['errors'].values())}",
                flush=True,
            )
            return result

        print(f"closed loop: {a.connections} connections, {a.duration:g} s", flush=True)
        closed = {
            name: one(name, url, spec, pid, "closed", None) for name, url, spec, pid in servers
        }
        # Same proxy, same requests, but each request's entry committed on its own.
        closed["naive"] = one("naive", naive_url, proxy_spec, naive.pid, "closed", None)
        open_runs = []
        for rate in a.rates:
            row: dict[str, Any] = {"rate": rate}
            for name, url, spec, pid in servers:
                row[name] = one(name, url, spec, pid, "open", rate)
            open_runs.append(row)
        if a.profile:
            # Extra closed-loop runs with the sampler attached, after the measured ones: py-spy
            # pauses the server for each sample, which must not touch the figures above. When
            # PostgreSQL shares the servers' CPU it moves to the generator's meanwhile: a server
            # preempted by it would be sampled, waiting, at whatever line it was preempted.
            print("profiles: closed loop with py-spy attached", flush=True)
            moved = self.move_postgres({self.generator_cpu}) if self.generator_cpu else False
            for name, url, spec, pid in servers:
                time.sleep(_SETTLE_S)
                sampler = self.start_profile(name, pid)
                sampled = self.loadgen(name, url, spec, pid, "closed", None)
                closed[name]["profile"] = self.finish_profile(name, sampler, sampled)
                closed[name]["profile"]["postgres_on_generator_cpu"] = moved
            if moved and self.server_cpus:
                self.move_postgres(self.server_cpus)

        base_rps = closed["baseline"]["throughput_rps"]
        return {
            "started_at": started_at.isoformat(),
            "machine": {
                "nproc": os.cpu_count(),
                "cpu_model": cpu_model_name(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "loadavg_start": [round(x, 2) for x in load_start],
                "loadavg_end": [round(x, 2) for x in os.getloadavg()],
                "pinning": self.pinning,
            },
            "setup": {
                "reads": a.reads,
                "duration_s": a.duration,
                "warmup_s": a.warmup,
                "rates": a.rates,
                "workers": a.workers,
                "pool": a.pool,
                "connections": a.connections,
                "max_connections": a.max_connections,
                "mix": a.mix.describe(),
                "window_days": a.window_days,
                "users": a.users,
                "requests_in_mix": a.requests,
                "hit_plates_sampled": len(workload.hits),
                "distinct_hit_plates": workload.distinct_hits,
                "mean_reads_per_hit": round(workload.reads_per_hit, 1),
                "miss_plates": len(workload.misses),
            },
            "closed": {
                **closed,
                "throughput_ratio": (
                    round(closed["proxy"]["throughput_rps"] / base_rps, 3) if base_rps else None
                ),
                "naive_ratio": round(
                    closed["proxy"]["throughput_rps"]
                    / max(closed["naive"]["throughput_rps"], 1e-9),
                    3,
                ),
            },
            "open": open_runs,
        }

    def cleanup(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                stop_process(proc)
        if self.pg is not None:
            with contextlib.suppress(Exception):
                self.pg.destroy()


def cpu_model_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


# ---------------------------------------------------------------------------------------------
# Report


def _ms(x: float) -> str:
    return f"{x:.2f}"


def _cpu(result: dict[str, Any], key: str) -> str:
    return f"{result['cpu_ms_per_request'].get(key, 0.0):.3f}"


_LABELS = {
    "baseline": "baseline",
    "proxy": "proxy",
    "naive": "proxy, naive audit (max_batch = 1)",
}


def markdown(report: dict[str, Any]) -> str:
    m, s, c = report["machine"], report["setup"], report["closed"]
    pin = m["pinning"]
    pin_text = (
        f"generator on CPU {pin['generator_cpu']}, servers and PostgreSQL on CPU(s) "
        f"{', '.join(map(str, pin['servers_and_postgres_cpus']))}"
        if pin["pinned"]
        else f"not pinned ({pin['why']})"
    )
    la0, la1 = m["loadavg_start"], m["loadavg_end"]
    busy = max(la0[0], la1[0]) > 0.5 * m["nproc"]
    lines = [
        f"### Run of {report['started_at'][:19]}Z",
        "",
        f"- Machine: {m['nproc']} CPUs ({m['cpu_model']}), Python {m['python']}; {pin_text}.",
        f"- Load average (1/5/15 min): {la0[0]} {la0[1]} {la0[2]} at start, "
        f"{la1[0]} {la1[1]} {la1[2]} at end."
        + (
            " **The machine was busy with other work: expect noise, compare ratios only.**"
            if busy
            else ""
        ),
        f"- Store: {s['reads']} reads; searches over the last {s['window_days']} days; mix "
        f"{s['mix']}; hits drawn from {s['hit_plates_sampled']} sampled reads "
        f"({s['distinct_hit_plates']} plates, {s['mean_reads_per_hit']} reads per hit on "
        f"average); {s['users']} users.",
        f"- Servers: {s['workers']} worker(s) each, store pool {s['pool']}; "
        f"{s['warmup_s']:g} s warm-up, {s['duration_s']:g} s measured per run.",
        "",
        f"#### Closed loop ({s['connections']} connections)",
        "",
        "| server | req/s | p50 ms | p99 ms | p99.9 ms | max ms | errors "
        "| app CPU ms/req | PostgreSQL CPU ms/req | generator CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("baseline", "proxy", "naive"):
        if name not in c:
            continue
        r = c[name]
        lat = r["latency_ms"]
        lines.append(
            f"| {_LABELS[name]} | {r['throughput_rps']:.0f} | {_ms(lat['p50'])} "
            f"| {_ms(lat['p99'])} | {_ms(lat['p99_9'])} | {_ms(lat['max'])} "
            f"| {sum(r['errors'].values())} "
            f"| {_cpu(r, 'app')} | {_cpu(r, 'postgres')} | {r['generator_cpu_util']:.0%} |"
        )
    lines += [
        "",
        f"Throughput ratio proxy / baseline: **{c['throughput_ratio']}**",
        *(
            [
                f"Throughput ratio proxy / naive (one audit commit per request): "
                f"**{c['naive_ratio']}**"
            ]
            if "naive" in c
            else []
        ),
        "",
        f"#### Open loop (fixed rate, latency from the intended send time; at most "
        f"{s['max_connections']} connections)",
        "",
        "| rate | server | achieved req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms "
        "| errors | app CPU ms/req | PostgreSQL CPU ms/req |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["open"]:
        for name in ("baseline", "proxy"):
            r = row[name]
            lat = r["latency_ms"]
            lines.append(
                f"| {row['rate']:g} | {name} | {r['throughput_rps']:.0f} | {_ms(lat['p50'])} "
                f"| {_ms(lat['p90'])} | {_ms(lat['p99'])} | {_ms(lat['p99_9'])} "
                f"| {_ms(lat['max'])} | {sum(r['errors'].values())} | {_cpu(r, 'app')} "
                f"| {_cpu(r, 'postgres')} |"
            )
    lines += [
        "",
        "#### Audit group commit and stage times (proxy runs)",
        "",
        "| run | entries | batches | mean batch (metrics) | mean batch (log) | largest "
        "| mean ms per stage (metrics) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    proxy_runs = [("closed", c["proxy"])]
    proxy_runs += [("closed, naive", c["naive"])] if "naive" in c else []
    proxy_runs += [(f"open {r['rate']:g}/s", r["proxy"]) for r in report["open"]]
    for label, r in proxy_runs:
        b = r["audit_batch"]
        stages = ", ".join(f"{k} {v}" for k, v in r["proxy_metrics"]["stage_mean_ms"].items())
        lines.append(
            f"| {label} | {b['db']['entries']} | {b['db']['batches']} | {b['metrics_mean']} "
            f"| {b['db']['mean']} | {b['db']['max']} | {stages} |"
        )
    for name in ("baseline", "proxy"):
        prof = c[name].get("profile")
        if prof is None:
            continue
        where = (
            ", PostgreSQL moved to the generator's CPU"
            if prof.get("postgres_on_generator_cpu")
            else ""
        )
        lines += ["", f"#### Profile of the {name}, closed loop (py-spy, an extra run{where})", ""]
        lines.append(prof.get("markdown") or f"Not recorded: {prof.get('error')}")
    errors = []
    for label, row in [("closed", c), *[(f"open {r['rate']:g}/s", r) for r in report["open"]]]:
        for name in ("baseline", "proxy"):
            if row[name]["errors"]:
                errors.append(f"{label} {name}: {row[name]['errors']}")
    scope = c["proxy"].get("proxy_metrics", {}).get("scope")
    if s["workers"] > 1 and scope != "all":  # reports made before the metrics listener
        lines += [
            "",
            "With several workers, /metrics shows one worker's registry: the metrics columns",
            "describe that worker; the log column counts every batch (one transaction each).",
        ]
    if errors:
        lines += ["", "Errors (transport failures, unexpected statuses, unanswered):", ""]
        lines += [f"- {e}" for e in errors]
    return "\n".join(lines) + "\n"


def summary(report: dict[str, Any]) -> str:
    m, c = report["machine"], report["closed"]
    out = [
        "",
        f"machine: {m['nproc']} CPUs, load average {m['loadavg_start']} -> {m['loadavg_end']}, "
        f"pinning: {m['pinning']}",
        f"closed loop: baseline {c['baseline']['throughput_rps']:.0f} req/s, "
        f"proxy {c['proxy']['throughput_rps']:.0f} req/s, ratio {c['throughput_ratio']}"
        + (
            f"; naive {c['naive']['throughput_rps']:.0f} req/s, proxy/naive {c['naive_ratio']}"
            if "naive" in c
            else ""
        ),
        f"{'rate':>6} {'server':9} {'req/s':>7} {'p50':>8} {'p99':>8} {'p99.9':>8} {'errors':>7}"
        f" {'app ms/req':>10} {'pg ms/req':>9} {'audit batch':>11}",
    ]
    rows = [("max", c)] + [(f"{r['rate']:g}", r) for r in report["open"]]
    for label, row in rows:
        for name in ("baseline", "proxy"):
            r = row[name]
            lat = r["latency_ms"]
            batch = r["audit_batch"]["db"]["mean"] if "audit_batch" in r else ""
            out.append(
                f"{label:>6} {name:9} {r['throughput_rps']:7.0f} {lat['p50']:8.2f} "
                f"{lat['p99']:8.2f} {lat['p99_9']:8.2f} {sum(r['errors'].values()):7d} "
                f"{_cpu(r, 'app'):>10} {_cpu(r, 'postgres'):>9} {batch!s:>11}"
            )
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Command line


def _rates(text: str) -> list[float]:
    try:
        rates = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"rates must be numbers: {text!r}") from None
    if any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError("rates must be positive")
    return rates


def _mix(text: str) -> Mix:
    try:
        return Mix.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def write_report(out: Path, name: str, workers: int, report: dict[str, Any], text: str) -> Path:
    """``out``/``name``-<start time>-w<workers>.{json,md}; returns the path without suffix."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    stamp = report["started_at"][:19].replace(":", "").replace("-", "")
    base = out / f"{name}-{stamp}-w{workers}"
    base.with_suffix(".json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    base.with_suffix(".md").write_text(text)
    return base


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m load.bench", description=__doc__.split("\n")[0])
    p.add_argument("--reads", type=int, default=200_000, help="reads to seed")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=2.0, help="unrecorded seconds before each")
    p.add_argument("--rates", type=_rates, default=[500.0, 1000.0, 1500.0], help="open loop")
    p.add_argument("--workers", type=int, default=1, help="processes per server")
    p.add_argument("--pool", type=int, default=10, help="store connections per worker")
    p.add_argument("--connections", type=int, default=32, help="closed-loop concurrency")
    p.add_argument("--max-connections", type=int, default=256, help="open-loop cap")
    p.add_argument("--drain", type=float, default=10.0, help="open loop: wait after the last")
    p.add_argument("--mix", type=_mix, default=Mix(), help="e.g. hit=0.85,miss=0.1,refused=0.05")
    p.add_argument("--window-days", type=int, default=30, help="each search's time window")
    p.add_argument("--users", type=int, default=2000, help="distinct tokens (rate limit: 60/min)")
    p.add_argument("--sample", type=int, default=5000, help="reads sampled for hit plates")
    p.add_argument("--requests", type=int, default=20_000, help="distinct requests in the mix")
    p.add_argument("--no-pin", action="store_true", help="do not pin generator and servers")
    p.add_argument(
        "--profile",
        action="store_true",
        help="then one more closed loop per server with py-spy attached: where the CPU goes",
    )
    p.add_argument("--out", type=Path, default=Path("load/results"))
    args = p.parse_args(argv)
    if args.profile and not profile.available():
        p.error("--profile needs py-spy (pip install -e '.[load]')")
    if args.workers < 1 or args.pool < 1 or args.users < 1 or args.reads < 1000:
        p.error("--workers, --pool, --users must be >= 1 and --reads >= 1000")
    if not 1 <= args.window_days <= 365:
        p.error("--window-days must be within the demo purpose's lookback (1..365)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="alpr-bench-"))
    bench = Bench(args, work)
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        report = bench.run()
    except (KeyboardInterrupt, Interrupted):
        print("\ninterrupted: stopping servers and removing the database", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, subprocess.SubprocessError, asyncpg.PostgresError) as exc:
        print(f"load.bench: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # no second interruption mid-cleanup
        bench.cleanup()
        shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    base = write_report(args.out, "bench", args.workers, report, markdown(report))
    print(summary(report))
    print(f"\nreport: {base}.md, {base}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
