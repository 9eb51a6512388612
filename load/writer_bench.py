"""How many durable audit entries per second does the writer alone make?

    python -m load.writer_bench [--entries 200000] [--appenders 4000] [--max-batch 2000]
                                [--naive-entries 5000] [--dsn ADMIN_DSN] [--json FILE]

Makes a scratch audit database (embedded PostgreSQL in a temporary directory, or on the server
of --dsn, a superuser), migrates it, builds --entries realistic `search` records up front
(load.report_bench's generator: the same canonical bytes the proxy writes; building them is the
request path's work, not the writer's), then:

1. **group commit**: --appenders concurrent tasks each await `AuditWriter.append` for one
   record after another, as request handlers do; entries/s = entries / wall time, every one
   committed (synchronous_commit on) before its caller learns its index. Twice as many
   appenders as --max-batch keep the next batch queued while one commits, as requests keep
   arriving at a loaded proxy; with as many appenders as the batch holds, every appender
   waits for the same commit and the writer idles while they all wake and append again, so
   the figure would be the writer and its clients' Python taking turns (29,000-47,000 against
   57,000-67,000 entries/s on a 2-vCPU AMD EPYC VM);
2. **catch-up**: the facts of all of them derived and stored (`facts.catch_up_facts`, chunks
   of facts.CHUNK, every index in place), then one `audit.roll_up()` folding them into the report
   rollups: what the proxy does after each checkpoint, off the append path;
3. **naive**: the same records, one transaction per entry (`postgres.append` in its own
   transaction on a pool of --pool connections): what an audit log without group commit costs.

Then it checks the result is one gapless tree: the stored root equals the root recomputed from
the entries. Prints a markdown table; --json writes the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from load.report_bench import synthetic_records
from proxy import loops
from proxy.audit import postgres, tree
from proxy.audit.canonical import Record
from proxy.audit.writer import AuditWriter
from proxy.demo.embedded import EmbeddedPostgres
from proxy.migrate import migrate
from proxy.oversight import facts


async def _fresh(admin_dsn: str) -> tuple[str, str]:
    name = f"alpr_writer_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    await migrate(dsn, "audit")
    return name, dsn


async def _check_tree(dsn: str, expected: int) -> None:
    """The log holds exactly `expected` entries and its stored root is the entries' root."""
    conn = await asyncpg.connect(dsn)
    try:
        size = await postgres.size(conn)
        if size != expected:
            raise SystemExit(f"log has {size} entries, expected {expected}")
        leaves = [
            bytes(r[0]) for r in await conn.fetch("SELECT body FROM audit.entries ORDER BY idx")
        ]
        stored = tree.tree_hash(size, await postgres.read_hashes(conn, tree.tree_hash_needed(size)))
    finally:
        await conn.close()
    if tree.tree_hash(len(leaves), tree.append_batch(0, leaves, {})) != stored:
        raise SystemExit("stored tree root differs from the entries' root")


async def group_commit(
    dsn: str, records: list[Record], appenders: int, max_batch: int
) -> dict[str, Any]:
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=2)
    writer = AuditWriter(pool, max_batch=max_batch, max_queue=len(records) + appenders)
    await writer.start()
    feed = iter(records)

    async def appender() -> None:
        for record in feed:  # one shared iterator: each record is appended once
            await writer.append(record)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(appender() for _ in range(appenders)))
        seconds = time.perf_counter() - started
        stats = writer.stats
    finally:
        await writer.close()
        await pool.close()
    return {
        "entries": len(records),
        "seconds": seconds,
        "entries_per_s": len(records) / seconds,
        "batches": stats.batches,
        "mean_batch": len(records) / max(stats.batches, 1),
        "appenders": appenders,
        "max_batch": max_batch,
    }


async def catch_up(dsn: str, entries: int) -> dict[str, Any]:
    """The facts' and the report rollups' share, done after the appends as the proxy does
    after a checkpoint (proxy.oversight.facts)."""
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        derived = await facts.catch_up_facts(conn)
        middle = time.perf_counter()
        covered = await conn.fetchval("SELECT audit.roll_up()")
        done = time.perf_counter()
    finally:
        await conn.close()
    if derived != entries or covered != entries:
        raise SystemExit(f"catch-up covered {derived}/{covered} entries, expected {entries}")
    return {
        "facts": {"entries": entries, "seconds": middle - started,
                  "entries_per_s": entries / (middle - started)},
        "roll_up": {"entries": entries, "seconds": done - middle,
                    "entries_per_s": entries / (done - middle)},
    }  # fmt: skip


async def naive(dsn: str, records: list[Record], connections: int) -> dict[str, Any]:
    pool = await asyncpg.create_pool(dsn, min_size=connections, max_size=connections)
    feed = iter(records)

    async def appender() -> None:
        for record in feed:
            async with pool.acquire() as conn, conn.transaction():
                await postgres.append(conn, [record])

    try:
        started = time.perf_counter()
        await asyncio.gather(*(appender() for _ in range(connections)))
        seconds = time.perf_counter() - started
    finally:
        await pool.close()
    return {
        "entries": len(records),
        "seconds": seconds,
        "entries_per_s": len(records) / seconds,
        "connections": connections,
    }


async def run(admin_dsn: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"building {args.entries:,} records")
    records = list(synthetic_records(args.entries, days=30))
    report: dict[str, Any] = {"mean_entry_bytes": sum(len(r.body) for r in records) / len(records)}
    names = []
    try:
        name, dsn = await _fresh(admin_dsn)
        names.append(name)
        report["group_commit"] = await group_commit(dsn, records, args.appenders, args.max_batch)
        await _check_tree(dsn, len(records))
        report |= await catch_up(dsn, len(records))
        name, dsn = await _fresh(admin_dsn)
        names.append(name)
        few = list(itertools.islice(records, args.naive_entries))
        report["naive"] = await naive(dsn, few, args.pool)
        await _check_tree(dsn, len(few))
    finally:
        admin = await asyncpg.connect(admin_dsn)
        try:
            for name in names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    report["ratio_group_to_naive"] = (
        report["group_commit"]["entries_per_s"] / report["naive"]["entries_per_s"]
    )
    return report


def markdown(report: dict[str, Any]) -> str:
    g, n = report["group_commit"], report["naive"]
    return "\n".join(
        [
            f"| audit writer (mean entry {report['mean_entry_bytes']:.0f} B) | entries | "
            "entries/s | mean batch |",
            "|---|---:|---:|---:|",
            f"| group commit, {g['appenders']} appenders, max batch {g['max_batch']} | "
            f"{g['entries']:,} | {g['entries_per_s']:,.0f} | {g['mean_batch']:.0f} |",
            f"| facts afterwards (`facts.catch_up_facts`, chunks of {facts.CHUNK:,}) | "
            f"{report['facts']['entries']:,} | {report['facts']['entries_per_s']:,.0f} | |",
            f"| report rollups afterwards (`audit.roll_up()`, one call) | "
            f"{report['roll_up']['entries']:,} | {report['roll_up']['entries_per_s']:,.0f} | |",
            f"| naive: one transaction per entry, {n['connections']} connections | "
            f"{n['entries']:,} | {n['entries_per_s']:,.0f} | 1 |",
            f"| ratio group commit / naive | | {report['ratio_group_to_naive']:.1f} x | |",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--appenders", type=int, default=4000)
    ap.add_argument("--max-batch", type=int, default=2000)
    ap.add_argument("--naive-entries", type=int, default=5000)
    ap.add_argument("--pool", type=int, default=8, help="connections of the naive variant")
    ap.add_argument("--dsn", default=None, help="a superuser DSN; default: embedded PostgreSQL")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    work: Path | None = None
    embedded: EmbeddedPostgres | None = None
    if args.dsn is None:
        work = Path(tempfile.mkdtemp(prefix="alpr-writer-bench-"))
        embedded = EmbeddedPostgres(work / "pg")
        embedded.start()
    try:
        report = loops.run(run(args.dsn or embedded.dsn(), args))  # type: ignore[union-attr]
    finally:
        if embedded is not None:
            embedded.destroy()
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    print(markdown(report))
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
