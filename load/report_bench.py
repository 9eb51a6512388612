"""How fast are the oversight reports over a million audit entries?

    python -m load.report_bench [--entries 1000000] [--days 91] [--runs 5] [--dsn ADMIN_DSN]

Makes a scratch audit database (on an embedded PostgreSQL in a temporary directory, or on the
server of --dsn, a superuser), migrates it, and COPYs synthetic entries straight into
audit.entries: real canonical `search` entries built by proxy.audit.entry, with their stored
tree hashes. Their facts and the rollups are then brought up to date once, by the proxy's own
catch-up (proxy.oversight.facts, with the facts' indexes built after it), as the proxy does after
a checkpoint. Then it times each report, for oversight and for one agency's auditor, over the
whole range with UTC-midnight bounds and with local-time bounds (partial days read from the
entries), plus a few entry listings, and prints a markdown table: the median and the slowest
of --runs runs after one warm-up. Everything it made is dropped at the end.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from itertools import accumulate, islice
from pathlib import Path
from typing import Any

import asyncpg

from proxy import loops
from proxy.audit import tree
from proxy.audit.canonical import Record
from proxy.audit.entry import search_entry
from proxy.demo.embedded import EmbeddedPostgres
from proxy.migrate import migrate
from proxy.model import Principal
from proxy.oversight import facts
from proxy.oversight.entries import fetch_page, parse_query
from proxy.oversight.period import FlagOptions, Period, snapshot
from proxy.oversight.reports import REPORTS

AGENCIES = [f"CA00{n:05d}" for n in range(100, 112)]
PURPOSES = ["HOMICIDE", "ROBBERY", "KIDNAPPING", "AMBER_ALERT", "BURGLARY", "AUTO_THEFT"]
REASONS = ["justification_flagged", "lookback_exceeded", "purpose_prohibited", "unknown_agency"]
_SYLLABLES = ["ka", "ro", "mi", "te", "lu", "san", "vo", "ri", "del", "pa", "no", "cha"]
WORDS = [a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in ("", "n", "s")]
START = datetime(2026, 1, 1, tzinfo=UTC)
COLUMNS = ["idx", "body", "hashes"]


def synthetic(n: int, days: int, seed: int = 7) -> Iterator[tuple[int, bytes, bytes]]:
    """n search entries over `days` (see synthetic_records) as COPY rows of audit.entries
    (COLUMNS): a valid log, each entry with the stored tree hashes it completes."""
    records = synthetic_records(n, days, seed)
    size, edge = 0, list[bytes]()
    while bodies := [r.body for r in islice(records, 10_000)]:
        blobs, edge = tree.append_to_edge(size, bodies, edge)
        yield from zip(range(size, size + len(bodies)), bodies, blobs, strict=True)
        size += len(bodies)


def synthetic_records(n: int, days: int, seed: int = 7) -> Iterator[Record]:
    """n search entries over `days`: skewed users, refusals, on-behalf-of searches, reads
    disclosed by up to three owners, a quarter boilerplate justifications."""
    rnd = random.Random(seed)
    # Boilerplate: 40 stock texts, pasted with a case number (digits do not tell them apart).
    stock = [" ".join(rnd.choices(WORDS, k=8)) for _ in range(40)]
    users = [(f"user{u:04d}", AGENCIES[u % len(AGENCIES)]) for u in range(2000)]
    weights = list(accumulate(50 if u < 10 else 1 for u in range(len(users))))  # ten heavy
    span = days * 86400
    for i in range(n):
        sub, ori = rnd.choices(users, cum_weights=weights)[0]
        at = START + timedelta(seconds=span * i / n)
        refused = rnd.random() < 0.12
        reason = rnd.choice(REASONS) if refused else None
        query: dict[str, Any] = {
            "type": "plate",
            "plate": f"{rnd.randrange(10**6):06d}X",
            "purpose": rnd.choice(PURPOSES),
            "case_number": f"26-{rnd.randrange(10**5):05d}",
            "justification": f"{rnd.choice(stock)}, case {rnd.randrange(10**5)}"
            if rnd.random() < 0.25
            else " ".join(rnd.choices(WORDS, k=10)),
        }
        if rnd.random() < 0.05:
            query["on_behalf_of"] = {"ori": rnd.choice(AGENCIES), "person": "Det. X"}
        outcome = None
        if not refused:
            owners = {o: rnd.randint(1, 5) for o in rnd.sample(AGENCIES, rnd.randint(0, 3))}
            outcome = {
                "matched": sum(owners.values()) + 2,
                "returned": sum(owners.values()),
                "truncated": False,
                "withheld": {"retention": 0, "sensitive_location": 0, "sharing": 2},
                "disclosed_by_owner": owners,
            }
        yield search_entry(
            at=at,
            request_id=uuid.UUID(int=rnd.getrandbits(128)).hex,
            principal=Principal(sub, ori, frozenset({"investigator"}), 0),
            client="10.0.0.1",
            query=query,
            decision="refused" if refused else "allowed",
            reason=reason,
            policy_version="sha256:" + "0" * 64,
            outcome=outcome,
        )


async def catch_up_in_bulk(conn: asyncpg.Connection) -> int:
    """The proxy's catch-up (facts, then rollups) over a freshly loaded log, with the facts'
    secondary indexes dropped meanwhile and built again after, as a bulk load is done."""
    indexes = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'audit'"
        " AND tablename = 'entry_facts' AND indexname <> 'entry_facts_pkey'"
    )
    for name, _ in indexes:
        await conn.execute(f'DROP INDEX audit."{name}"')
    covered = await facts.catch_up_facts(conn, chunk=50_000)
    for _, indexdef in indexes:
        await conn.execute(indexdef)
    await conn.fetchval("SELECT audit.roll_up()")
    return covered


async def load(dsn: str, n: int, days: int, chunk: int = 100_000) -> float:
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        rows = synthetic(n, days)
        while batch := list(islice(rows, chunk)):
            await conn.copy_records_to_table(
                "entries", schema_name="audit", records=batch, columns=COLUMNS
            )
            print(f"  {batch[-1][0] + 1:,} entries", flush=True)
        print(f"  facts for {await catch_up_in_bulk(conn):,} entries", flush=True)
        for t in ("entries", "entry_facts", "daily_usage", "daily_disclosures", "daily_users"):
            await conn.execute(f"VACUUM ANALYZE audit.{t}")
        await conn.execute("VACUUM ANALYZE audit.justification_totals")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def timed(
    conn: asyncpg.Connection, runs: int, run: Callable[[], Awaitable[object]]
) -> tuple[float, float]:
    async with snapshot(conn):
        await run()  # warm-up
    seconds = []
    for _ in range(runs):
        t = time.perf_counter()
        async with snapshot(conn):
            await run()
        seconds.append(time.perf_counter() - t)
    return statistics.median(seconds), max(seconds)


async def measure(dsn: str, days: int, runs: int) -> list[tuple[str, str, float, float]]:
    conn = await asyncpg.connect(dsn)
    auditor = AGENCIES[0]
    pacific = timezone(timedelta(hours=-8))
    utc = Period(START, START + timedelta(days=days))
    local = Period(START.astimezone(pacific) + timedelta(hours=3), utc.to - timedelta(hours=5))
    opts = FlagOptions()
    results = []
    try:
        for scope in (None, auditor):
            who = "oversight" if scope is None else f"auditor {scope}"
            for label, p in (("UTC days", utc), ("local times", local)):
                for name, fn in (
                    ("usage", lambda p=p, s=scope: REPORTS["usage"].run(conn, p, s, FlagOptions())),
                    (
                        "disclosures",
                        lambda p=p, s=scope: REPORTS["disclosures"].run(conn, p, s, FlagOptions()),
                    ),
                    ("flags", lambda p=p, s=scope: REPORTS["flags"].run(conn, p, s, opts)),
                ):
                    med, worst = await timed(conn, runs, fn)
                    results.append((f"{name} ({label})", who, med, worst))
            for q in (
                {},
                {"agency": AGENCIES[3]},
                {"decision": "refused", "from": "2026-03-01T00:00:00Z"},
            ):
                query = parse_query({**q, "limit": "100"})
                med, worst = await timed(
                    conn, runs, lambda q=query, s=scope: fetch_page(conn, q, s)
                )
                results.append((f"entries page {q or 'unfiltered'}", who, med, worst))
    finally:
        await conn.close()
    return results


async def bench(admin_dsn: str, n: int, days: int, runs: int, keep: bool = False) -> None:
    name = f"alpr_report_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    try:
        await migrate(dsn, "audit")
        print(f"loading {n:,} entries over {days} days into {name}")
        seconds = await load(dsn, n, days)
        print(f"loaded in {seconds:.0f} s (generation, COPY, facts, roll-up, VACUUM ANALYZE)\n")
        results = await measure(dsn, days, runs)
        print(f"| report ({n:,} entries, {days} days) | scope | median ms | slowest ms |")
        print("|---|---|---:|---:|")
        for what, who, med, worst in results:
            print(f"| {what} | {who} | {med * 1000:.1f} | {worst * 1000:.1f} |")
    finally:
        if keep:
            print(f"kept {dsn}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def remeasure(dsn: str, days: int, runs: int) -> None:
    for what, who, med, worst in await measure(dsn, days, runs):
        print(f"| {what} | {who} | {med * 1000:.1f} | {worst * 1000:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=91)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dsn", default=None, help="a superuser DSN; default: embedded PostgreSQL")
    ap.add_argument("--keep", action="store_true", help="keep the database (with --dsn)")
    args = ap.parse_args()
    if args.dsn:
        loops.run(bench(args.dsn, args.entries, args.days, args.runs, args.keep))
        return
    work = Path(tempfile.mkdtemp(prefix="alpr-report-bench-"))
    pg = EmbeddedPostgres(work / "pg")
    pg.start()
    try:
        loops.run(bench(pg.dsn(), args.entries, args.days, args.runs))
    finally:
        pg.destroy()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
