"""Witness cosignatures in PostgreSQL (sql/audit/009_cosignatures.sql): the proxy's
:class:`~proxy.audit.witnessing.CosignatureStore`.

The proxy's audit role may only INSERT and SELECT here; rows are re-verified whenever they are
counted or served (witnessing.select_cosignatures), since the database is not trusted.
"""

from __future__ import annotations

import asyncpg

from proxy.audit.witnessing import StoredCosignature
from proxy.witness.cosignature import CosignatureLine


class PgCosignatureStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, size: int, witness: str, cosignature: CosignatureLine) -> None:
        # Idempotent: racing processes may store the very same line (deterministic Ed25519).
        await self._pool.execute(
            "INSERT INTO audit.cosignatures (size, witness, cosigned_at, line)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            size,
            witness,
            cosignature.timestamp,
            cosignature.line(),
        )

    async def load(self, size: int) -> list[StoredCosignature]:
        rows = await self._pool.fetch(
            "SELECT witness, line FROM audit.cosignatures WHERE size = $1", size
        )
        return [StoredCosignature(size, str(r["witness"]), str(r["line"])) for r in rows]

    async def sizes(self, limit: int) -> list[int]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT size FROM audit.cosignatures ORDER BY size DESC LIMIT $1", limit
        )
        return [int(r["size"]) for r in rows]


async def cosigned_checkpoints(
    conn: asyncpg.Connection, below: int, limit: int
) -> list[tuple[int, str, list[str]]]:
    """(size, note, cosignature lines) of up to ``limit`` stored checkpoints smaller than
    ``below`` that have any cosignature row, largest first: for `audit verify --witness`."""
    rows = await conn.fetch(
        "SELECT c.size, c.note, array_agg(s.line ORDER BY s.line) AS lines"
        " FROM audit.checkpoints c JOIN audit.cosignatures s ON s.size = c.size"
        " WHERE c.size < $1 GROUP BY c.size, c.note ORDER BY c.size DESC LIMIT $2",
        below,
        limit,
    )
    return [(int(r["size"]), str(r["note"]), [str(x) for x in r["lines"]]) for r in rows]
