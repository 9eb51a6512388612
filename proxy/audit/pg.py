"""The only SQL against the audit database: entries, stored tree hashes, checkpoints.

Sequencing: each batch is appended under a transaction-scoped advisory lock, at the log's
current size, with the tree hashes it completes, and committed. Indexes are therefore gapless
from 0 even with several server processes (the lock serialises them, and a rolled-back batch
consumes nothing). Callers learn their index only after COMMIT returns.

A writer remembers the right edge it last committed (:class:`RightEdge`), so while it is the
only writer a batch is one statement and one round trip (audit.append_entries, sql/audit/
004_append.sql); when another writer appended meanwhile, the function writes nothing and the
batch is appended again with the edge read under the lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from proxy.audit import tree
from proxy.audit.derived import derive_body
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


@dataclass(frozen=True, slots=True)
class RightEdge:
    """The log as one writer last committed it: its size and the stored hashes of the complete
    subtrees on its right edge (tree.tree_hash_needed), which is all the next append reads."""

    size: int
    hashes: Mapping[int, bytes]

    def after(self, new_hashes: Mapping[int, bytes], added: int) -> RightEdge:
        size = self.size + added
        merged = {**self.hashes, **new_hashes}
        return RightEdge(size, {i: merged[i] for i in tree.tree_hash_needed(size)})


EMPTY = RightEdge(0, {})


def _text(value: str | None) -> str | None:
    """PostgreSQL text and jsonb cannot hold NUL, which a client can put in any JSON string:
    the query columns get U+FFFD instead (the canonical body keeps the value exactly), so one
    such request cannot fail the batch it shares with others."""
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value


def _flat(arrays: Sequence[Sequence[str]]) -> tuple[list[str | None], list[int], list[int]]:
    """Ragged arrays as one flat array and each one's 1-based inclusive [start, end] slice."""
    flat: list[str | None] = []
    starts, ends = [], []
    for values in arrays:
        starts.append(len(flat) + 1)
        flat.extend(_text(v) for v in values)
        ends.append(len(flat))
    return flat, starts, ends


def _columns(records: Sequence[Record]) -> list[object]:
    """The arguments of audit.append_entries after expected_size, but for the tree hashes."""
    rows = [r.derived if r.derived is not None else derive_body(r.body) for r in records]
    owners, owners_start, owners_end = _flat([d.owners for d in rows])
    concerns, concerns_start, concerns_end = _flat([d.concerns for d in rows])
    return [
        [r.body for r in records],
        [r.event for r in records],
        [r.request_id for r in records],
        [_text(r.agency) for r in records],
        [r.decision for r in records],
        [r.reason for r in records],
        [d.at for d in rows],
        [_text(d.subject) for d in rows],
        [_text(d.purpose) for d in rows],
        [_text(d.on_behalf_of) for d in rows],
        [_text(d.plate) for d in rows],
        [d.reads_returned for d in rows],
        owners,
        [n for d in rows for n in d.owner_reads],
        owners_start,
        owners_end,
        concerns,
        concerns_start,
        concerns_end,
        [d.justification_key for d in rows],
        [d.reviewed_index for d in rows],
        [_text(d.disposition) for d in rows],
    ]


# The derived columns (sql/audit/003_oversight.sql) go in with the entry; the report rollups
# follow later, in large ranges (audit.roll_up, sql/audit/005_deferred_rollups.sql).
_APPEND = "SELECT audit.append_entries(" + ", ".join(f"${i}" for i in range(1, 26)) + ")"


class Batch:
    """One batch's columns, computed once (before any lock), appendable at any size."""

    def __init__(self, records: Sequence[Record]) -> None:
        self.bodies = [r.body for r in records]
        self._columns = _columns(records)

    async def try_append(self, conn: asyncpg.Connection, edge: RightEdge) -> RightEdge | None:
        """Append at ``edge.size`` in one statement; the new right edge, or None when the log
        no longer has that size (another writer appended: nothing was written)."""
        new_hashes = tree.append_batch(edge.size, self.bodies, edge.hashes)
        found = await conn.fetchval(
            _APPEND, edge.size, *self._columns, list(new_hashes), list(new_hashes.values())
        )
        if found != edge.size:
            return None
        return edge.after(new_hashes, len(self.bodies))

    async def append_locked(self, conn: asyncpg.Connection) -> RightEdge:
        """In the caller's transaction: lock, read the right edge, append; the new right edge."""
        await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK)
        start = await size(conn)
        edge = RightEdge(start, await read_hashes(conn, tree.tree_hash_needed(start)))
        appended = await self.try_append(conn, edge)
        if appended is None:  # cannot happen while we hold the lock
            raise RuntimeError("audit log size changed under the append lock")
        return appended


async def append(conn: asyncpg.Connection, records: Sequence[Record]) -> int:
    """Append `records` in the caller's transaction; return the index of the first one."""
    return (await Batch(records).append_locked(conn)).size - len(records)


async def latest_of_event(conn: asyncpg.Connection | asyncpg.Pool, event: str) -> bytes | None:
    value = await conn.fetchval(
        "SELECT body FROM audit.entries WHERE event = $1 ORDER BY idx DESC LIMIT 1", event
    )
    return None if value is None else bytes(value)


async def entry_body(conn: asyncpg.Connection | asyncpg.Pool, index: int) -> bytes | None:
    value = await conn.fetchval("SELECT body FROM audit.entries WHERE idx = $1", index)
    return None if value is None else bytes(value)
