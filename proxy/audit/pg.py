"""The only SQL against the audit database: entries, stored tree hashes, checkpoints.

Sequencing: one transaction per batch takes a transaction-scoped advisory lock, reads the
current size, inserts the entries at size..size+k-1 with the tree hashes they complete, and
commits. Indexes are therefore gapless from 0 even with several server processes (the lock
serialises them, and a rolled-back batch consumes nothing). Callers learn their index only
after COMMIT returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from proxy.audit import tree
from proxy.audit.entry import Record

APPEND_LOCK = 0x6C6F6731  # "log1": the single audit sequence shared by every writer


async def size(conn: asyncpg.Connection) -> int:
    value = await conn.fetchval("SELECT coalesce(max(idx) + 1, 0) FROM audit.entries")
    return int(value)


async def read_hashes(conn: asyncpg.Connection, indexes: Iterable[int]) -> dict[int, bytes]:
    wanted = sorted(set(indexes))
    if not wanted:
        return {}
    rows = await conn.fetch(
        "SELECT idx, hash FROM audit.tree_hashes WHERE idx = ANY($1::bigint[])", wanted
    )
    found = {int(r["idx"]): bytes(r["hash"]) for r in rows}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise LookupError(f"audit tree is missing stored hashes {missing[:5]}")
    return found


async def append(conn: asyncpg.Connection, records: Sequence[Record]) -> int:
    """Append `records` in the caller's transaction; return the index of the first one."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK)
    start = await size(conn)
    bodies = [r.body for r in records]
    known = await read_hashes(conn, tree.append_batch_needed(start, len(bodies)))
    new_hashes = tree.append_batch(start, bodies, known)
    await conn.execute(
        "INSERT INTO audit.entries (idx, body, event, request_id, agency, decision, reason) "
        "SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::text[], $5::text[],"
        " $6::text[], $7::text[])",
        list(range(start, start + len(records))),
        bodies,
        [r.event for r in records],
        [r.request_id for r in records],
        [r.agency for r in records],
        [r.decision for r in records],
        [r.reason for r in records],
    )
    await conn.execute(
        "INSERT INTO audit.tree_hashes (idx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
        list(new_hashes.keys()),
        list(new_hashes.values()),
    )
    return start


async def latest_of_event(conn: asyncpg.Connection | asyncpg.Pool, event: str) -> bytes | None:
    value = await conn.fetchval(
        "SELECT body FROM audit.entries WHERE event = $1 ORDER BY idx DESC LIMIT 1", event
    )
    return None if value is None else bytes(value)


async def entry_body(conn: asyncpg.Connection | asyncpg.Pool, index: int) -> bytes | None:
    value = await conn.fetchval("SELECT body FROM audit.entries WHERE idx = $1", index)
    return None if value is None else bytes(value)
