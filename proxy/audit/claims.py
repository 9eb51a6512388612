"""Single-use claims of the two-person rule (SPEC §12), made at commit (sql/audit/012_claims.sql).

A record may carry a ``Claim``: a key that only one committed entry may ever hold. The writer
inserts the batch's claims in the batch's own transaction, under the append lock, before it
hashes the batch; a record whose claim is already held is replaced by its ``fallback`` entry (a
refusal), and its waiter gets ``ClaimLost`` with that entry's index. So two proxy processes can
never both use one approval, and a claim exists exactly when its entry committed.

Batches without claims never come here (the writer's one-statement fast path is unchanged).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson

PERSON_SEPARATOR = "\x1f"  # cannot occur in an ORI, and is not a character an IdP issues


def person_key(person: tuple[str, str, str]) -> str:
    """A person (iss, sub, ori) as one text: exigent claims are counted per person."""
    return PERSON_SEPARATOR.join(person)


def use_key(request_index: int) -> str:
    return f"use:{request_index}"


def decide_key(request_index: int) -> str:
    return f"decide:{request_index}"


def exigent_key(person: tuple[str, str, str], slot: int) -> str:
    return f"exigent:{person_key(person)}:{slot}"


@dataclass(frozen=True, slots=True)
class Claim:
    key: str
    fallback: bytes  # the canonical entry appended instead when the key is already held
    person: str | None = None  # exigent claims: person_key
    at: datetime | None = None  # exigent claims: the entry's time


class ClaimLost(Exception):
    """The record's claim was already held: its fallback entry was appended at ``index``."""

    def __init__(self, index: int, key: str) -> None:
        super().__init__(f"claim {key} is already held; entry {index} records the refusal")
        self.index = index
        self.key = key


_INSERT = """
INSERT INTO audit.claims (claim, idx, person, at) VALUES ($1, $2, $3, $4)
ON CONFLICT (claim) DO NOTHING RETURNING idx
"""


async def settle(conn: asyncpg.Connection, start: int, claims: Sequence[Claim | None]) -> set[int]:
    """In the caller's transaction, holding the append lock with the log at ``start``: insert
    each claim for the entry it will have; the offsets whose claim was already held (a second
    claim of one key in the same batch loses too)."""
    lost: set[int] = set()
    for offset, claim in enumerate(claims):
        if claim is None:
            continue
        won = await conn.fetchval(_INSERT, claim.key, start + offset, claim.person, claim.at)
        if won is None:
            lost.add(offset)
    return lost


async def holder(conn: asyncpg.Connection | asyncpg.Pool, key: str) -> int | None:
    """The index of the entry holding ``key``, if any."""
    value = await conn.fetchval("SELECT idx FROM audit.claims WHERE claim = $1", key)
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class ExigentCount:
    recent: int  # the person's exigent searches after `since`
    overdue: int  # those before `due_before` with no review yet
    next_slot: int  # the slot the person's next exigent search claims


_EXIGENT = """
SELECT count(*) FILTER (WHERE c.at > $2) AS recent,
       count(*) FILTER (WHERE c.at < $3 AND NOT EXISTS (
         SELECT 1 FROM audit.entry_facts f
         WHERE f.reviewed_index = c.idx AND f.event = 'review')) AS overdue,
       count(*) AS total
FROM audit.claims c WHERE c.person = $1
"""


async def exigent_count(
    conn: asyncpg.Connection | asyncpg.Pool,
    person: tuple[str, str, str],
    since: datetime,
    due_before: datetime,
) -> ExigentCount:
    """Reviews are read from the derived facts: they lag the log by a few seconds at most, which
    can only keep a just-reviewed search counted as overdue a little longer (the closed side)."""
    row = await conn.fetchrow(_EXIGENT, person_key(person), since, due_before)
    return ExigentCount(int(row["recent"]), int(row["overdue"]), int(row["total"]) + 1)


_NAMING_AN_APPROVAL = "SELECT idx, body FROM audit.entries WHERE position($1 in body) > 0"


async def duplicate_uses(conn: asyncpg.Connection) -> dict[int, list[int]]:
    """Approvals named by more than one allowed search entry: {request index: entry indexes}.
    Only possible if someone removed claims behind the proxy (``alpr-proxy audit verify``)."""
    seen: dict[int, list[int]] = {}
    for row in await conn.fetch(_NAMING_AN_APPROVAL, b'"approval":'):
        entry = orjson.loads(bytes(row["body"]))
        if not isinstance(entry, dict):
            continue
        n = entry.get("approval")
        used = entry.get("event") == "search" and entry.get("decision") == "allowed"
        if used and isinstance(n, int):
            seen.setdefault(n, []).append(int(row["idx"]))
    return {n: sorted(idxs) for n, idxs in seen.items() if len(idxs) > 1}


class PoolLog:
    """The reads proxy.search.two_person needs, on the audit database's pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def entry(self, index: int) -> bytes | None:
        value = await self._pool.fetchval("SELECT body FROM audit.entries WHERE idx = $1", index)
        return None if value is None else bytes(value)

    async def holder(self, key: str) -> int | None:
        return await holder(self._pool, key)

    async def exigent(
        self, person: tuple[str, str, str], since: datetime, due_before: datetime
    ) -> ExigentCount:
        return await exigent_count(self._pool, person, since, due_before)
