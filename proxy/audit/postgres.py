"""The SQL of the log itself: entries with the stored tree hashes they complete, appended.

Sequencing: each batch is appended under a transaction-scoped advisory lock, at the log's
current size, and committed. Indexes are therefore gapless from 0 even with several server
processes (the lock serialises them, and a rolled-back batch consumes nothing). Callers learn
their index only after COMMIT returns.

A row holds what the verifier checks and nothing else: the entry's canonical bytes and the
stored hashes appending it completed (sql/audit/006_lean_log.sql). What oversight queries is
derived behind the log, in bulk (proxy.oversight.facts).

A writer remembers the right edge it last committed (:class:`RightEdge`), so while it is the
only writer a batch is one statement and one round trip (audit.append_entries). When another
writer appended meanwhile, the function writes nothing and returns the size it found; the
writer reads the edge at that size and tries once more (two more round trips), and only if it
lost the race again appends with the edge read under the lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate

import asyncpg

from proxy.audit import claims, tree
from proxy.audit.canonical import Record

APPEND_LOCK = 0x6C6F6731  # "log1": the single audit sequence shared by every writer


async def size(conn: asyncpg.Connection) -> int:
    # max() of the primary key: one step down the index, whatever the log's size.
    value = await conn.fetchval("SELECT coalesce(max(idx) + 1, 0) FROM audit.entries")
    return int(value)


async def read_hashes(conn: asyncpg.Connection, indexes: Iterable[int]) -> dict[int, bytes]:
    """Stored hashes by stored-hash index, each a slice of the row of the entry that wrote it;
    LookupError names those that are not there."""
    wanted: dict[int, tuple[int, int]] = {}  # stored index -> (entry, byte offset)
    for i in set(indexes):
        level, k = tree.split_stored_hash_index(i)
        wanted[i] = (((k + 1) << level) - 1, tree.HASH_SIZE * level)
    if not wanted:
        return {}
    entries = sorted({entry for entry, _ in wanted.values()})
    rows = await conn.fetch(
        "SELECT idx, hashes FROM audit.entries WHERE idx = ANY($1::bigint[])", entries
    )
    blobs = {int(r["idx"]): bytes(r["hashes"]) for r in rows}
    found: dict[int, bytes] = {}
    for i, (entry, offset) in wanted.items():
        h = blobs.get(entry, b"")[offset : offset + tree.HASH_SIZE]
        if len(h) == tree.HASH_SIZE:
            found[i] = h
    missing = sorted(i for i in wanted if i not in found)
    if missing:
        raise LookupError(f"audit tree is missing stored hashes {missing[:5]}")
    return found


@dataclass(frozen=True, slots=True)
class RightEdge:
    """The log as one writer last committed it: its size and the hashes of the complete
    subtrees on its right edge, left to right (the stored hashes at tree.tree_hash_needed(size),
    in that order), which is all the next append reads. Kept as a plain sequence: working out
    the stored indexes for every batch cost more than hashing it."""

    size: int
    edge: tuple[bytes, ...]

    def extend(self, bodies: Sequence[bytes]) -> tuple[list[bytes], RightEdge]:
        """Each body's stored hashes as one blob, and the right edge after appending them."""
        blobs, after = tree.append_to_edge(self.size, bodies, self.edge)
        return blobs, RightEdge(self.size + len(bodies), tuple(after))


_APPEND = "SELECT audit.append_entries($1, $2, $3, $4, $5)"


class Batch:
    """One batch's bodies, appendable at any size (its hashes depend on where it lands)."""

    lost: set[int]  # offsets whose claim was already held (set by append_locked)

    def __init__(self, records: Sequence[Record]) -> None:
        self.bodies = [r.body for r in records]
        self.claims = [r.claim for r in records]
        self.has_claims = any(c is not None for c in self.claims)
        self.lost = set()

    async def try_append(self, conn: asyncpg.Connection, edge: RightEdge) -> RightEdge | int:
        """Append at ``edge.size`` in one statement; the new right edge, or, when the log no
        longer has that size (another writer appended: nothing was written), the size it has."""
        blobs, after = edge.extend(self.bodies)
        found = await conn.fetchval(
            _APPEND,
            edge.size,
            b"".join(self.bodies),
            list(accumulate(map(len, self.bodies))),
            b"".join(blobs),
            list(accumulate(map(len, blobs))),
        )
        return after if found == edge.size else int(found)

    async def append_locked(self, conn: asyncpg.Connection) -> RightEdge:
        """In the caller's transaction: lock, read the right edge, settle the batch's claims
        (a record whose claim is held becomes its fallback: ``lost``), append; the new edge."""
        await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK)
        start = await size(conn)
        self.lost = await claims.settle(conn, start, self.claims) if self.has_claims else set()
        for offset in self.lost:
            claim = self.claims[offset]
            assert claim is not None  # settle reports only offsets with a claim
            self.bodies[offset] = claim.fallback
        appended = await self.try_append(conn, await edge_at(conn, start))
        if not isinstance(appended, RightEdge):  # cannot happen while we hold the lock
            raise RuntimeError("audit log size changed under the append lock")
        return appended


async def edge_at(conn: asyncpg.Connection, size: int) -> RightEdge:
    """The right edge of the log at ``size`` committed entries. Needs no lock: the stored hash
    of a complete subtree never changes once written."""
    needed = tree.tree_hash_needed(size)
    found = await read_hashes(conn, needed)
    return RightEdge(size, tuple(found[i] for i in needed))


async def append(conn: asyncpg.Connection, records: Sequence[Record]) -> int:
    """Append `records` in the caller's transaction; return the index of the first one."""
    return (await Batch(records).append_locked(conn)).size - len(records)


async def entry_body(conn: asyncpg.Connection | asyncpg.Pool, index: int) -> bytes | None:
    value = await conn.fetchval("SELECT body FROM audit.entries WHERE idx = $1", index)
    return None if value is None else bytes(value)
