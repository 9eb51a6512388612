"""Witnessing on against witnessing off, the same proxy, the same run (issue 15).

    python -m load.witness_bench [--rounds 3] [--duration 8] [load.bench's options]

load.bench's setup (embedded PostgreSQL, seeded store, demo policy, tokens, request mix,
pinning), then two `alpr-proxy witness serve` processes on loopback (keys from
`alpr-proxy witness keygen`) and two proxies, each with its own audit database and
`checkpoint_interval_s = 1`: "off" (no witnesses) and "on" (`witness_quorum = 2`, both
witnesses). Closed-loop runs take turns, off/on then on/off, for --rounds rounds, so drifting
load from elsewhere hits both alike. Reports req/s, p50/p99 per run, the means and the ratio
on/off against the 0.95 target, and the cosignatures on the checkpoint the "on" proxy serves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from load import bench
from load.loadgen import SearchTemplate, search_specs, write_spec
from proxy.audit.note import Signer
from proxy.demo.embedded import EmbeddedPostgres, free_port
from proxy.migrate import migrate

TARGET = 0.95  # issue 15: throughput with witnessing within 5 % of without
SETTLE_S, NAMES = 2.0, ("oversight.bench.invalid/witness", "board.bench.invalid/witness")


def witness_toml(name: str, port: int, log_vkey: str) -> str:
    return (
        f'[witness]\nname = "{name}"\nsigning_key_file = "witness.key"\n'
        f'listen = "127.0.0.1:{port}"\nstate = "witness.db"\n\n'
        f'[[witness.logs]]\norigin = "{bench.ORIGIN}"\nkeys = ["{log_vkey}"]\n'
    )


def proxy_toml(base: str, witnesses: Sequence[tuple[str, str, str]]) -> str:
    """load.bench's config with a 1 s checkpoint interval; with `witnesses` (name, url, vkey)
    a quorum of all of them."""
    log = "checkpoint_interval_s = 1\n"
    if witnesses:
        log += f"witness_quorum = {len(witnesses)}\nmax_unwitnessed_s = 60\n"
    text = base.replace("checkpoint_interval_s = 5\n", log)
    for name, url, vkey in witnesses:
        text += f'\n[[log.witnesses]]\nname = "{name}"\nurl = "{url}"\nkey = "{vkey}"\n'
    return text


def cosignatures(note: str) -> int:
    """Signature lines on a served note beyond the log's own."""
    return max(0, sum(1 for line in note.splitlines() if line.startswith("\u2014 ")) - 1)


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"witness exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"witness on port {port} not listening after 30 s")


class WitnessBench(bench.Bench):
    def start_witnesses(self, log_vkey: str) -> list[tuple[str, str, str]]:
        out = []
        for i, name in enumerate(NAMES):
            d = self.work / f"witness{i}"
            d.mkdir()
            keygen = [sys.executable, "-m", "proxy", "witness", "keygen", "--name", name]
            keygen += ["--out", str(d / "witness.key")]
            vkey = subprocess.run(keygen, cwd=bench.REPO, check=True, capture_output=True)
            port = free_port()
            (d / "witness.toml").write_text(witness_toml(name, port, log_vkey))
            cmd = [sys.executable, "-m", "proxy", "witness", "serve", "--config"]
            proc = bench.start_process([*cmd, f"{d}/witness.toml"], d / "log", self.server_cpus)
            self.procs.append(proc)
            wait_port(port, proc, d / "log")
            out.append((name, f"http://127.0.0.1:{port}", vkey.stdout.decode().strip()))
        return out

    def start_proxy(self, label: str, audit_db: str, witnesses: Any) -> tuple[str, int]:
        assert self.pg is not None
        a, port = self.args, free_port()
        base = bench.write_config(self.pg, port, a.workers, a.pool, audit_db=audit_db)
        config = self.work / f"proxy-{label}.toml"
        config.write_text(proxy_toml(base, witnesses))
        log = self.work / f"proxy-{label}.log"
        cmd = [sys.executable, "-m", "proxy", "serve", "--config", str(config)]
        proc = bench.start_process(cmd, log, self.server_cpus)
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        bench.wait_ready(f"proxy ({label})", url + "/readyz", proc, log)
        return url, proc.pid

    def setup(self) -> tuple[dict[str, tuple[str, int]], Path, list[tuple[str, str, str]]]:
        a = self.args
        self.pin()
        self.pg = EmbeddedPostgres(self.work / "pg")
        self.pg.start()
        now = datetime.now(UTC)
        workload = asyncio.run(bench.prepare_databases(self.pg, self.work, a, now))
        for db in ("alpr_audit_off", "alpr_audit_on"):  # alike: made the same way, in turn
            asyncio.run(add_audit_database(self.pg, db))
        print(f"store: {workload.seed_summary}", flush=True)
        key = (self.work / "log-signing.key").read_text(encoding="utf-8").strip()
        vkey = Signer.from_private_key(key).verifier_key
        witnesses = [] if a.control else self.start_witnesses(vkey)  # --control: A/A, none
        servers = {
            "off": self.start_proxy("off", "alpr_audit_off", []),
            "on": self.start_proxy("on", "alpr_audit_on", witnesses),
        }
        template = SearchTemplate(**bench.TEMPLATE_BASE, window=timedelta(days=a.window_days))
        spec = self.work / "spec.json"
        tokens = bench.make_tokens(self.work, a.users)
        specs = search_specs(
            hits=workload.hits, misses=workload.misses, tokens=tokens, mix=a.mix,
            template=template, now=now, count=a.requests, seed=11, refused_status=403,
        )  # fmt: skip
        write_spec(spec, specs)
        return servers, spec, witnesses

    def profiles(self, servers: dict[str, tuple[str, int]], spec: Path) -> dict[str, Any]:
        """--profile: one more closed loop per setting with py-spy attached (not measured)."""
        out = {}
        for label, (url, pid) in servers.items():
            time.sleep(SETTLE_S)
            sampler = self.start_profile(label, pid)
            sampled = self.loadgen(f"profile-{label}", url, spec, pid, "closed", None)
            out[label] = self.finish_profile(label, sampler, sampled)
        return out

    def run(self) -> dict[str, Any]:
        a = self.args
        started_at, load_start = datetime.now(UTC), os.getloadavg()
        servers, spec, witnesses = self.setup()
        runs: list[dict[str, Any]] = []
        for r in range(a.rounds):
            for label in ("off", "on") if r % 2 == 0 else ("on", "off"):
                time.sleep(SETTLE_S)
                url, pid = servers[label]
                res = self.loadgen(f"witness-{label}", url, spec, pid, "closed", None)
                runs.append({"round": r + 1, "witnessing": label, **brief(res)})
                print(f"  round {r + 1} {label:3} {runs[-1]['rps']:8.1f} req/s", flush=True)
        status, note = bench.http_get(servers["on"][0] + "/v1/log/checkpoint")
        report = summarize(runs)
        report["profiles"] = self.profiles(servers, spec) if a.profile else {}
        report.update(
            started_at=started_at.isoformat(),
            machine={
                "nproc": os.cpu_count(), "cpu_model": bench.cpu_model_name(),
                "loadavg_start": [round(x, 2) for x in load_start],
                "loadavg_end": [round(x, 2) for x in os.getloadavg()], "pinning": self.pinning,
            },
            setup={
                "reads": a.reads, "duration_s": a.duration, "warmup_s": a.warmup,
                "rounds": a.rounds, "workers": a.workers, "connections": a.connections,
                "checkpoint_interval_s": 1, "witness_quorum": len(witnesses),
                "witnesses": [w[1] for w in witnesses],
            },
            served_checkpoint={"status": status, "cosignatures": cosignatures(note.decode())},
        )  # fmt: skip
        return report


async def add_audit_database(pg: EmbeddedPostgres, name: str) -> None:
    conn = await asyncpg.connect(pg.dsn())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    await migrate(pg.dsn(name), "audit")


def brief(result: dict[str, Any]) -> dict[str, Any]:
    lat, cpu = result["latency_ms"], result["cpu_ms_per_request"]
    return {
        "rps": round(result["throughput_rps"], 1),
        "p50_ms": round(lat["p50"], 2),
        "p99_ms": round(lat["p99"], 2),
        "errors": sum(result["errors"].values()),
        "app_cpu_ms": cpu.get("app", 0.0),
        "pg_cpu_ms": cpu.get("postgres", 0.0),
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per setting: mean req/s, median p50/p99 over its runs; the ratio of the means."""
    means: dict[str, dict[str, float]] = {}
    for label in ("off", "on"):
        mine = [r for r in runs if r["witnessing"] == label]
        means[label] = {
            "rps": round(statistics.fmean(r["rps"] for r in mine), 1),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in mine), 2),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in mine), 2),
            "errors": sum(r["errors"] for r in mine),
            "app_cpu_ms": round(statistics.fmean(r["app_cpu_ms"] for r in mine), 3),
        }
    off = means["off"]["rps"]
    ratio = round(means["on"]["rps"] / off, 3) if off else 0.0
    return {"runs": runs, "means": means, "ratio": ratio, "meets_target": ratio >= TARGET}


def markdown(report: dict[str, Any]) -> str:
    m, s, means = report["machine"], report["setup"], report["means"]
    lines = [
        f"### Witnessing on vs off, run of {report['started_at'][:19]}Z",
        "",
        f"- Machine: {m['nproc']} CPUs ({m['cpu_model']}); pinning {m['pinning']}; load "
        f"average {m['loadavg_start']} at start, {m['loadavg_end']} at end.",
        f"- {s['reads']} reads, {s['workers']} worker(s), closed loop, {s['connections']} "
        f"connections, {s['warmup_s']:g} s warm-up + {s['duration_s']:g} s per run, "
        f"{s['rounds']} rounds; checkpoint_interval_s = 1 for both; on: witness_quorum = "
        f"{s['witness_quorum']} ({', '.join(s['witnesses'])}).",
        f"- Served checkpoint (on) after the runs: HTTP {report['served_checkpoint']['status']}, "
        f"{report['served_checkpoint']['cosignatures']} cosignature(s).",
        "",
        "| round | witnessing | req/s | p50 ms | p99 ms | errors | app CPU ms/req "
        "| PostgreSQL CPU ms/req |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['round']} | {r['witnessing']} | {r['rps']:.1f} | {r['p50_ms']} "
            f"| {r['p99_ms']} | {r['errors']} | {r['app_cpu_ms']} | {r['pg_cpu_ms']} |"
        )
    for label in ("off", "on"):
        x = means[label]
        lines.append(
            f"| all | **{label}** | **{x['rps']:.1f}** (mean) | {x['p50_ms']} (median) "
            f"| {x['p99_ms']} (median) | {x['errors']} | {x['app_cpu_ms']} | |"
        )
    verdict = "meets" if report["meets_target"] else "misses"
    lines += ["", f"Throughput ratio on / off: **{report['ratio']}** ({verdict} >= {TARGET})"]
    for label, prof in report.get("profiles", {}).items():
        lines += ["", f"#### Profile, witnessing {label} (py-spy, an extra run)", ""]
        lines.append(prof.get("markdown") or f"Not recorded: {prof.get('error')}")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--rounds", type=int, default=3, help="closed-loop runs per setting")
    p.add_argument("--control", action="store_true", help="A/A: no witnesses for 'on' either")
    own, rest = p.parse_known_args(argv)
    args = bench.parse_args(rest)
    if own.rounds < 1:
        raise SystemExit("--rounds must be >= 1")
    args.rounds, args.control = own.rounds, own.control
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="alpr-wbench-"))
    wb = WitnessBench(args, work)
    previous = signal.signal(signal.SIGTERM, bench.on_sigterm)
    try:
        report = wb.run()
    except (KeyboardInterrupt, bench.Interrupted):
        return 130
    except (RuntimeError, OSError, subprocess.SubprocessError, asyncpg.PostgresError) as exc:
        print(f"load.witness_bench: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        wb.cleanup()
        shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    base = bench.write_report(args.out, "witness", args.workers, report, markdown(report))
    print(markdown(report))
    print(f"report: {base}.md, {base}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
