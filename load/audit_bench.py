"""The audit log at scale: fill a valid log of N entries once, then time proofs and verification.

    python -m load.audit_bench fill --entries 10000000 [--data-dir DIR] [--checkpoint-every K]
    python -m load.audit_bench proofs [--data-dir DIR] [--count 1000] [--no-http]
    python -m load.audit_bench verify [--data-dir DIR] [--runs 1]
    python -m load.audit_bench verify-url [--data-dir DIR] [--runs 1]

`fill` makes an embedded PostgreSQL in DIR (default /var/tmp/alpr-proxy-audit10m, kept: it is
made once), migrates an audit database and COPYs load.report_bench's synthetic search entries
(real canonical bodies, each with the stored tree hashes it completes, the right edge carried
from chunk to chunk), a signed checkpoint every K entries and at the end, then derives their
facts and rollups with the proxy's own catch-up. It records the roots at 1000 random sizes,
computed from the entries as it goes, so that every timed proof is verified against a root the
database did not supply. `proofs` times inclusion proofs at the full size and consistency
proofs from random sizes to it: as the proof handlers (proxy/http/log_api.py) compute them, through
an asyncpg pool, then over HTTP against `alpr-proxy serve` (which appends its policy_loaded
entry and a checkpoint). `verify` times `alpr-proxy audit verify` in a fresh process; `verify-url`
times `alpr-proxy audit verify --url` (no database credentials: the entries stream through
`GET /v1/log/entries`) against `alpr-proxy serve` on the same log, and records the verifier's
peak RSS, which must not grow with the log.
Results: load/results/audit-<time>-<command>.{md,json}.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections import ChainMap
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from load import bench
from load.report_bench import COLUMNS, catch_up_in_bulk, synthetic
from proxy import loops
from proxy.audit import postgres, tree, verify
from proxy.audit.note import Signer, generate_signer_key, sign_checkpoint
from proxy.auth.tokens import generate_dev_keypair, mint_token
from proxy.cli.credentials import write_secret
from proxy.demo import policy as demo
from proxy.demo.embedded import EmbeddedPostgres, free_port
from proxy.migrate import migrate

DEFAULT_DIR = Path("/var/tmp/alpr-proxy-audit10m")  # noqa: S108 - kept across runs
RESULTS = Path(__file__).resolve().parent / "results"
ORIGIN = bench.ORIGIN  # bench.write_config's [log] origin, so that `proofs` can serve this log
Roots = dict[int, bytes]  # tree size -> root, computed from the entries by the fill
Chunk = tuple[list[tuple[int, bytes, bytes]], Roots]
Case = tuple[str, int, int]  # ("inclusion", index, size) or ("consistency", old, size)
GetProof = Callable[[str, int, int], Awaitable[list[bytes]]]


def _stored(rows: Sequence[tuple[int, bytes, bytes]]) -> dict[int, bytes]:
    """The stored hashes the rows carry, by stored-hash index."""
    return {
        tree.stored_hash_index(0, n) + j: blob[32 * j : 32 * j + 32]
        for n, _, blob in rows
        for j in range(len(blob) // 32)
    }


def _chunks(n: int, chunk: int, stops: set[int], want: set[int]) -> Iterator[Chunk]:
    """COPY rows and the roots at the wanted sizes, chunk by chunk, a chunk ending at each of
    `stops`. The old tree's right edge is all a chunk needs."""
    rows, carry, size, ends = synthetic(n, 91), dict[int, bytes](), 0, sorted(stops)
    while size < n:
        end = min(size + chunk, next((s for s in ends if s > size), n))
        batch = list(islice(rows, end - size))
        both = ChainMap(_stored(batch), carry)
        roots = {s: tree.tree_hash(s, both) for s in range(size + 1, end + 1) if s in want}
        carry, size = {i: both[i] for i in tree.tree_hash_needed(end)}, end
        yield batch, roots


async def fill(
    dsn: str, n: int, signer: Signer, *, origin: str = ORIGIN, chunk: int = 50_000,
    checkpoint_every: int = 100_000, samples: int = 1000,
) -> dict[str, Any]:  # fmt: skip
    """Bulk-load a valid log of n entries into the migrated, empty audit database at `dsn`
    (a superuser); then its facts and rollups (the facts' indexes are built after them)."""
    started = time.perf_counter()
    cps = {*range(checkpoint_every, n, checkpoint_every), n} - {0}
    sampled = set(random.Random(7).sample(range(1, n + 1), min(samples, n)))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off; SET maintenance_work_mem = '512MB'")
        gen, roots = _chunks(n, chunk, cps, cps | sampled), Roots()
        # The next chunk is generated (Python) while this one is copied (the server's CPU).
        step = asyncio.ensure_future(asyncio.to_thread(next, gen, None))
        while (got := await step) is not None:
            batch, new_roots = got
            step = asyncio.ensure_future(asyncio.to_thread(next, gen, None))
            await conn.copy_records_to_table("entries", schema_name="audit", records=batch,
                                             columns=COLUMNS)  # fmt: skip
            roots |= new_roots
            for s in sorted(cps & new_roots.keys()):
                note = sign_checkpoint(origin, s, roots[s], signer).decode()
                sql = "INSERT INTO audit.checkpoints (size, root, note) VALUES ($1, $2, $3)"
                await conn.execute(sql, s, roots[s], note)
            if (end := batch[-1][0] + 1) % 1_000_000 == 0 or end == n:
                print(f"  {end:,} entries, {time.perf_counter() - started:.0f} s", flush=True)
        await catch_up_in_bulk(conn)  # the facts and report rollups, as the proxy makes them
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    b64 = {s: base64.b64encode(r).decode() for s, r in sorted(roots.items())}
    return {"entries": n, "checkpoints": len(cps), "root": b64[n], "roots": b64,
            "fill_seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def merkle_roots(meta: dict[str, Any]) -> Roots:
    return {int(s): base64.b64decode(r) for s, r in meta["roots"].items()}


# --- proofs ------------------------------------------------------------------------------------


def cases(roots: Roots, count: int, seed: int = 11) -> list[Case]:
    """`count` inclusion proofs in the full tree, `count` consistency proofs from a random
    size whose root is known to the full tree."""
    rnd, n = random.Random(seed), max(roots)
    olds = [s for s in roots if s < n] or [n]
    return [("inclusion", rnd.randrange(n), n) for _ in range(count)] + [
        ("consistency", rnd.choice(olds), n) for _ in range(count)
    ]


def server_proofs(pool: asyncpg.Pool) -> GetProof:
    """What the proof handlers (proxy/http/log_api.py) do: on a pooled connection, the log's size,
    then one read of the proof's stored hashes; then the proof from them."""

    async def get(kind: str, a: int, size: int) -> list[bytes]:
        inclusion = kind == "inclusion"
        need = (tree.inclusion_proof_needed(size, a) if inclusion
                else tree.consistency_proof_needed(a, size))  # fmt: skip
        async with pool.acquire() as conn:
            if await postgres.size(conn) < size:
                raise ValueError(f"size {size} exceeds the log")
            hashes = await postgres.read_hashes(conn, need)
        if inclusion:
            return tree.inclusion_proof(size, a, hashes)
        return tree.consistency_proof(a, size, hashes)

    return get


def http_proofs(session: aiohttp.ClientSession, base: str) -> GetProof:
    async def get(kind: str, a: int, size: int) -> list[bytes]:
        arg = "index" if kind == "inclusion" else "old"
        async with session.get(f"{base}/v1/log/proof/{kind}?{arg}={a}&size={size}") as r:
            body = await r.read()
            if r.status != 200:
                raise RuntimeError(f"{kind} {a} {size}: HTTP {r.status} {body[:200]!r}")
        if kind == "inclusion":
            return list(verify.parse_inclusion_proof(body).hashes)
        return list(verify.parse_consistency_proof(body).hashes)

    return get


async def leaf_hashes(conn: asyncpg.Connection, indexes: Sequence[int]) -> dict[int, bytes]:
    sql = "SELECT idx, body FROM audit.entries WHERE idx = ANY($1::bigint[])"
    return {i: verify.hash_leaf(body) for i, body in await conn.fetch(sql, sorted(set(indexes)))}


async def time_proofs(
    get: GetProof, todo: Sequence[Case], roots: Roots, leaves: dict[int, bytes]
) -> dict[str, dict[str, float]]:
    """Time each proof, then verify it (untimed) against the fill's roots: a wrong proof raises
    verify.VerificationError instead of looking fast."""
    for kind, a, size in todo[:: max(1, len(todo) // 20)]:  # warm-up: connections, code paths
        await get(kind, a, size)
    seconds: dict[str, list[float]] = {"inclusion": [], "consistency": []}
    for kind, a, size in todo:
        t = time.perf_counter()
        proof = await get(kind, a, size)
        seconds[kind].append((time.perf_counter() - t) * 1000)
        if kind == "inclusion":
            verify.verify_inclusion(leaves[a], a, size, proof, roots[size])
        else:
            verify.verify_consistency(a, size, roots[a], roots[size], proof)
    return {k: _stats(sorted(ms)) for k, ms in seconds.items() if ms}


def _stats(ms: list[float]) -> dict[str, float]:
    p50, p99 = (round(ms[min(len(ms) - 1, int(q * len(ms)))], 3) for q in (0.5, 0.99))
    return {"n": len(ms), "p50_ms": p50, "p99_ms": p99, "max_ms": round(ms[-1], 3),
            "mean_ms": round(sum(ms) / len(ms), 3)}  # fmt: skip


def _serve(d: Path, server: EmbeddedPostgres) -> tuple[subprocess.Popen[bytes], str]:
    """`alpr-proxy serve` on the filled log (and an empty store), with bench's config."""

    loops.run(_database(server, "alpr_store", "store"))
    loops.run(_database(server, "alpr_audit", "audit"))  # the proxy's SQL may be newer
    if not (d / "dev-jwt.key").exists():
        private, public = generate_dev_keypair()
        write_secret(d / "dev-jwt.key", private)
        (d / "dev-jwt.pub").write_bytes(public)
    (d / "policy.toml").write_text(demo.demo_policy_toml(datetime.now(UTC)))
    port = free_port()
    (d / "proxy.toml").write_text(bench.write_config(server, port, 1, 4))
    cmd = [sys.executable, "-m", "proxy", "serve", "--config", str(d / "proxy.toml")]
    proc = bench.start_process(cmd, d / "proxy.log", None)
    try:
        bench.wait_ready("proxy", f"http://127.0.0.1:{port}/readyz", proc, d / "proxy.log")
    except BaseException:
        bench.stop_process(proc)
        raise
    return proc, f"http://127.0.0.1:{port}"


async def _proofs(dsn: str, url: str | None, meta: dict[str, Any], count: int) -> Any:
    roots, out = merkle_roots(meta), {}
    todo = cases(roots, count)
    async with asyncpg.create_pool(dsn, min_size=1, max_size=4) as pool:
        async with pool.acquire() as conn:
            leaves = await leaf_hashes(conn, [a for k, a, _ in todo if k == "inclusion"])
        out["server"] = await time_proofs(server_proofs(pool), todo, roots, leaves)
    if url is not None:
        async with aiohttp.ClientSession() as session:
            out["http"] = await time_proofs(http_proofs(session, url), todo, roots, leaves)
    return out


# --- commands ----------------------------------------------------------------------------------


async def _database(server: EmbeddedPostgres, name: str, component: Any) -> None:
    """Create (if need be) and migrate a database."""
    conn = await asyncpg.connect(server.dsn())
    with contextlib.suppress(asyncpg.DuplicateDatabaseError):
        await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    await migrate(server.dsn(name), component)


@contextlib.contextmanager
def _postgres(d: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(d / "pg")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _meta(d: Path) -> dict[str, Any]:
    if not (d / "fill.json").exists():
        sys.exit(f"no filled log in {d}: run `python -m load.audit_bench fill` first")
    meta: dict[str, Any] = json.loads((d / "fill.json").read_text())
    return meta


def cmd_fill(a: argparse.Namespace) -> dict[str, Any]:
    d: Path = a.data_dir
    if not (d / "fill.json").exists():
        if (d / "pg").exists():  # an interrupted fill
            EmbeddedPostgres(d / "pg").destroy()
        d.mkdir(parents=True, exist_ok=True)
        skey, vkey = generate_signer_key(ORIGIN)
        write_secret(d / "log-signing.key", (skey + "\n").encode())
        with _postgres(d) as server:
            loops.run(_database(server, "alpr_audit", "audit"))
            signer = Signer.from_private_key(skey)
            kw = {"checkpoint_every": a.checkpoint_every}
            meta = loops.run(fill(server.dsn("alpr_audit"), a.entries, signer, **kw))
        meta |= {"verifier_key": vkey, "origin": ORIGIN}
        (d / "fill.json").write_text(json.dumps(meta, indent=1))
    print(f"{d} holds a filled log of {_meta(d)['entries']:,} entries")
    return {k: v for k, v in _meta(d).items() if k != "roots"}


def cmd_proofs(a: argparse.Namespace) -> dict[str, Any]:
    meta = _meta(a.data_dir)
    with _postgres(a.data_dir) as server:
        proc, url = _serve(a.data_dir, server) if a.http else (None, None)
        try:
            dsn = server.dsn("alpr_audit", "alpr_proxy_audit")
            out = loops.run(_proofs(dsn, url, meta, a.count))
        finally:
            if proc is not None:
                bench.stop_process(proc)
    return {"entries": meta["entries"], **out}


def cmd_verify(a: argparse.Namespace) -> dict[str, Any]:
    meta, d, runs = _meta(a.data_dir), a.data_dir, []
    with _postgres(d) as server:
        audit_dsn = server.dsn("alpr_audit", "alpr_proxy_audit")
        origin = meta["origin"]  # the CLI checks every checkpoint's origin
        (d / "verify.toml").write_text(
            f'[database]\naudit_dsn = "{audit_dsn}"\n[log]\norigin = "{origin}"\n'
        )
        cmd = [sys.executable, "-m", "proxy", "audit", "verify", "--config", str(d / "verify.toml")]
        cmd += ["--key", meta["verifier_key"]]
        for _ in range(a.runs):
            load, before = os.getloadavg()[0], resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            print(done.stdout, done.stderr, sep="", end="", flush=True)
            if done.returncode != 0:
                sys.exit(f"audit verify exited with {done.returncode}")
            entries = int(done.stdout.split("OK: ", 1)[1].split()[0])
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            runs.append({"entries": entries, "seconds": round(seconds, 2),
                         "entries_per_s": round(entries / seconds),
                         "verifier_cpu_s": round(cpu, 2), "load_avg_1m": load})  # fmt: skip
    return {"entries": meta["entries"], "runs": runs}


def _verify_url_once(cmd: list[str], out: Path) -> dict[str, Any]:
    """One `audit verify --url` in a fresh process: wall time, CPU and peak RSS of that process
    alone (wait4 on its pid), not of the server beside it."""
    load = os.getloadavg()[0]
    t = time.perf_counter()
    with out.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = out.read_text()
    print(text, end="", flush=True)
    if proc.returncode != 0:
        sys.exit(f"audit verify --url exited with {proc.returncode}")
    entries = int(text.split("OK: ", 1)[1].split()[0])
    return {"entries": entries, "seconds": round(seconds, 2),
            "entries_per_s": round(entries / seconds),
            "verifier_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "verifier_max_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "load_avg_1m": load}  # fmt: skip


def cmd_verify_url(a: argparse.Namespace) -> dict[str, Any]:
    meta, d, runs = _meta(a.data_dir), a.data_dir, []
    with _postgres(a.data_dir) as server:
        proc, url = _serve(d, server)
        try:
            key = (d / "dev-jwt.key").read_bytes()
            token = mint_token(key, issuer=bench.ISSUER, audience=bench.AUDIENCE,
                               sub="load.oversight", ori=bench.USER_AGENCIES[0],
                               roles=["oversight"], ttl_s=4 * 3600)  # fmt: skip
            write_secret(d / "oversight.token", token.encode())
            cmd = [sys.executable, "-m", "proxy", "audit", "verify", "--url", url, "--key",
                   meta["verifier_key"], "--token-file", str(d / "oversight.token")]  # fmt: skip
            runs = [_verify_url_once(cmd, d / "verify-url.out") for _ in range(a.runs)]
        finally:
            bench.stop_process(proc)
    return {"entries": meta["entries"], "runs": runs}


def _markdown(command: str, r: dict[str, Any]) -> str:
    lines = [f"# audit_bench {command}: {r['entries']:,} entries", "", f"`{' '.join(sys.argv)}`"]
    for mode in [m for m in ("server", "http") if m in r]:
        lines += [
            "",
            f"| proofs ({mode}) | n | p50 ms | p99 ms | max ms |",
            "|---|---|---|---|---|",
        ]
        for kind, x in r[mode].items():
            lines.append(f"| {kind} | {x['n']} | {x['p50_ms']} | {x['p99_ms']} | {x['max_ms']} |")
    for x in r.get("runs", []):
        rss = f", peak RSS {x['verifier_max_rss_mib']} MiB" if "verifier_max_rss_mib" in x else ""
        lines.append(f"- {x['entries']:,} entries in {x['seconds']} s, {x['entries_per_s']:,} "
                     f"entries/s (verifier CPU {x['verifier_cpu_s']} s{rss}, load average "
                     f"{x['load_avg_1m']:.1f})")  # fmt: skip
    if command == "fill":
        lines.append(f"- filled in {r['fill_seconds']} s, {r['checkpoints']} checkpoints")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["fill", "proofs", "verify", "verify-url"])
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--entries", type=int, default=10_000_000, help="fill: log size")
    ap.add_argument("--checkpoint-every", type=int, default=100_000, help="fill")
    ap.add_argument("--count", type=int, default=1000, help="proofs: of each kind")
    ap.add_argument("--no-http", dest="http", action="store_false", help="proofs: server only")
    ap.add_argument("--runs", type=int, default=1, help="verify")
    a = ap.parse_args(argv)
    commands = {"fill": cmd_fill, "proofs": cmd_proofs, "verify": cmd_verify,
                "verify-url": cmd_verify_url}  # fmt: skip
    result = commands[a.command](a)
    result["machine"] = {"cpus": os.cpu_count(), "cpu": bench.cpu_model_name()}
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"audit-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{a.command}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    stem.with_suffix(".md").write_text(md := _markdown(a.command, result))
    print(md, f"written to {stem}.{{md,json}}", sep="\n")


if __name__ == "__main__":
    main()
