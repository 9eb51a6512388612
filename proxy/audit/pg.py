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
import orjson

from proxy.audit import tree
from proxy.audit.derived import Derived, derive_body
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


# The derived columns (sql/audit/003_oversight.sql) go in with the entry; the statement-level
# trigger there folds the batch into the report rollups in the same transaction.
_INSERT_ENTRIES = """
INSERT INTO audit.entries (idx, body, event, request_id, agency, decision, reason,
  at, subject, purpose, on_behalf_of, plate, reads_returned, owners, owner_reads, concerns,
  justification_key, reviewed_index, disposition)
SELECT u.idx, u.body, u.event, u.request_id, u.agency, u.decision, u.reason,
  u.at, u.subject, u.purpose, u.on_behalf_of, u.plate, u.reads_returned,
  audit.json_text_array(u.owners), audit.json_text_array(u.owner_reads)::integer[],
  audit.json_text_array(u.concerns), u.justification_key, u.reviewed_index, u.disposition
FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[],
  $7::text[], $8::timestamptz[], $9::text[], $10::text[], $11::text[], $12::text[],
  $13::integer[], $14::jsonb[], $15::jsonb[], $16::jsonb[], $17::bytea[], $18::bigint[],
  $19::text[])
  AS u(idx, body, event, request_id, agency, decision, reason, at, subject, purpose,
       on_behalf_of, plate, reads_returned, owners, owner_reads, concerns, justification_key,
       reviewed_index, disposition)
"""


def _text(value: str | None) -> str | None:
    """PostgreSQL text and jsonb cannot hold NUL, which a client can put in any JSON string:
    the query columns get U+FFFD instead (the canonical body keeps the value exactly), so one
    such request cannot fail the batch it shares with others."""
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value


def _texts(values: Sequence[str]) -> str:
    return orjson.dumps([_text(v) for v in values]).decode()


def _derived_columns(rows: Sequence[Derived]) -> list[list[object]]:
    # unnest cannot carry arrays of arrays of different lengths, so the array columns travel
    # as JSON arrays: exact, whatever characters an ORI from a token holds.
    return [
        [d.at for d in rows],
        [_text(d.subject) for d in rows],
        [_text(d.purpose) for d in rows],
        [_text(d.on_behalf_of) for d in rows],
        [_text(d.plate) for d in rows],
        [d.reads_returned for d in rows],
        [_texts(d.owners) for d in rows],
        [orjson.dumps(d.owner_reads).decode() for d in rows],
        [_texts(d.concerns) for d in rows],
        [d.justification_key for d in rows],
        [d.reviewed_index for d in rows],
        [_text(d.disposition) for d in rows],
    ]


async def append(conn: asyncpg.Connection, records: Sequence[Record]) -> int:
    """Append `records` in the caller's transaction; return the index of the first one."""
    # Derived before the lock: parsing a body never delays the other writers.
    derived = [r.derived if r.derived is not None else derive_body(r.body) for r in records]
    await conn.execute("SELECT pg_advisory_xact_lock($1)", APPEND_LOCK)
    start = await size(conn)
    bodies = [r.body for r in records]
    known = await read_hashes(conn, tree.append_batch_needed(start, len(bodies)))
    new_hashes = tree.append_batch(start, bodies, known)
    await conn.execute(
        _INSERT_ENTRIES,
        list(range(start, start + len(records))),
        bodies,
        [r.event for r in records],
        [r.request_id for r in records],
        [_text(r.agency) for r in records],
        [r.decision for r in records],
        [r.reason for r in records],
        *_derived_columns(derived),
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
