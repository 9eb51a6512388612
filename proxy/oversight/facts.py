"""Facts behind the log: what oversight filters and counts, derived after entries are durable.

The log table holds only what the verifier checks (proxy.audit.pg). Listings, reports and the
transparency pages read audit.entry_facts instead (sql/audit/006_lean_log.sql): one row per
entry, derived from its bytes by proxy.oversight.derived, the one definition of every fact.
:func:`catch_up` fills it in index order, in large chunks, off the request path; whoever reads
facts calls it first, so what they see is exact up to the moment they asked. It runs after each
checkpoint too (proxy.audit.checkpoint), so there is seldom much left to do.

Several processes may catch up at once (workers, hosts): each chunk is derived and committed
under one advisory lock and starts after the last fact committed, so the second finds the work
done, and facts are always a prefix of the log, as the report rollups need (audit.roll_up).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import asyncpg

from proxy.audit import postgres
from proxy.oversight.derived import Derived, derive_body

FACTS_LOCK = 0x66616374  # "fact": one catch-up at a time, across processes and hosts
CHUNK = 1_000  # entries per transaction: per-transaction costs (lock, commit) vanish
# Entries derived and COPYed at a time. Both are CPU work in the proxy's event loop (a COPY's
# rows are encoded in one go), so they go in slices short enough not to delay searches: with
# one COPY per 10,000 entries, the catch-up after each checkpoint put p99 at 1,000 searches/s
# from 7 ms to 79 ms; slices of 200 keep it near 10 ms.
SLICE = 100
# Entries per paced roll-up step (catch_up(paced=True)): about 50 ms of PostgreSQL CPU with the
# demo's data, where one roll-up of the 7,500 entries a busy proxy writes in a checkpoint
# interval took 300 ms at once.
ROLLUP_STEP = 1_000

COLUMNS = (
    "idx", "event", "request_id", "agency", "decision", "reason", "at", "subject", "purpose",
    "on_behalf_of", "plate", "reads_returned", "owners", "owner_reads", "concerns",
    "justification_key", "reviewed_index", "disposition", "review_by_oversight",
    "request_index", "exigent", "review_by_supervisor", "verdict",
)  # fmt: skip

_END = "SELECT coalesce(max(idx) + 1, 0) FROM audit.entry_facts"
_PROGRESS = f"SELECT ({_END}), (SELECT next_idx FROM audit.rollup_progress)"
_BODIES = "SELECT idx, body FROM audit.entries WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3"
_INT32 = 2**31
_INT64 = 2**63


def _text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL, which a client can put in any JSON string: facts get
    U+FFFD instead (the body keeps the value exactly). One such entry must not stop the
    catch-up, which would otherwise fail on it forever."""
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value


def _texts(values: Iterable[str]) -> list[str | None]:
    return [_text(v) for v in values]


def _int(value: int | None, bound: int) -> int | None:
    """The column's range, else NULL: as with NUL, no body may stop the catch-up."""
    return value if value is not None and -bound <= value < bound else None


def row(index: int, d: Derived) -> tuple[Any, ...]:
    """The audit.entry_facts row (COLUMNS) of entry ``index`` with facts ``d``."""
    owners, reads = _texts(d.owners), list(d.owner_reads)
    if any(not -_INT32 <= n < _INT32 for n in reads):  # a NULL count would fail the rollups
        kept = [(o, n) for o, n in zip(owners, reads, strict=True) if -_INT32 <= n < _INT32]
        owners, reads = [o for o, _ in kept], [n for _, n in kept]
    return (
        index, _text(d.event), _text(d.request_id), _text(d.agency), _text(d.decision),
        _text(d.reason), d.at, _text(d.subject), _text(d.purpose), _text(d.on_behalf_of),
        _text(d.plate), _int(d.reads_returned, _INT32), owners, reads, _texts(d.concerns),
        d.justification_key, _int(d.reviewed_index, _INT64), _text(d.disposition),
        d.review_by_oversight, _int(d.request_index, _INT64), d.exigent, d.review_by_supervisor,
        _text(d.verdict),
    )  # fmt: skip


async def derive_up_to(conn: asyncpg.Connection, size: int, *, chunk: int = CHUNK) -> int:
    """Facts for every entry below ``size``, a chunk per transaction; where facts end now."""
    while True:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", FACTS_LOCK)
            start = int(await conn.fetchval(_END))  # after the lock: whoever held it is done
            entries = await conn.fetch(_BODIES, start, size, chunk) if start < size else []
            if not entries:
                return start
            for lo in range(0, len(entries), SLICE):
                records = [
                    row(int(e["idx"]), derive_body(bytes(e["body"])))
                    for e in entries[lo : lo + SLICE]
                ]
                # Each COPY awaits the server: the event loop runs between slices.
                await conn.copy_records_to_table(
                    "entry_facts", schema_name="audit", records=records, columns=COLUMNS
                )


async def catch_up_facts(conn: asyncpg.Connection, *, chunk: int = CHUNK) -> int:
    """Facts for every entry committed before the call; the size they cover."""
    size = await postgres.size(conn)
    end = int(await conn.fetchval(_END))
    return end if end >= size else await derive_up_to(conn, size, chunk=chunk)


async def catch_up(conn: asyncpg.Connection, *, chunk: int = CHUNK, paced: bool = False) -> int:
    """Facts, then the report rollups (audit.roll_up), for every entry committed before the
    call; the size both cover. With nothing to do it takes no lock and writes nothing.

    ``paced`` (the background catch-up after each checkpoint): roll up ROLLUP_STEP entries at a
    time and pause as long as each step took. A report's catch-up is not paced: it waits for
    all of it, and is exact."""
    size = await postgres.size(conn)
    end, rolled = await conn.fetchrow(_PROGRESS)
    if end >= size and rolled >= size:
        return min(int(end), int(rolled))
    if end < size:
        await derive_up_to(conn, size, chunk=chunk)
    if not paced:
        return int(await conn.fetchval("SELECT audit.roll_up()"))
    while True:
        started = time.monotonic()
        covered = int(await conn.fetchval("SELECT audit.roll_up($1)", ROLLUP_STEP))
        if covered >= size:
            return covered
        # The step's own duration again: at most half of the audit database's time (and of a
        # core it may share with the proxy) goes to rollups, in bursts of tens of ms.
        await asyncio.sleep(time.monotonic() - started)


async def latest_of_event(conn: asyncpg.Connection, event: str) -> bytes | None:
    """The body of the latest entry of ``event`` committed before the call."""
    await catch_up_facts(conn)
    value = await conn.fetchval(
        "SELECT e.body FROM audit.entry_facts f JOIN audit.entries e ON e.idx = f.idx"
        " WHERE f.event = $1 ORDER BY f.idx DESC LIMIT 1",
        event,
    )
    return None if value is None else bytes(value)


async def after_checkpoint(conn: asyncpg.Connection) -> int:
    """The checkpointer's `after` hook (wired in app.py): keep the facts and the report rollups
    close behind the log, so a report's own catch-up (oversight.period.snapshot) has little to
    do; in paced steps, so that searches sharing the audit database's CPU are not kept waiting
    behind it."""
    return await catch_up(conn, paced=True)
