"""Single-use claims at commit (proxy.audit.claims): two writers on one audit database, one
claim: exactly one entry holds it, the other is appended as its fallback and its waiter is told."""

from __future__ import annotations

import asyncio

import asyncpg
import orjson
import pytest

from proxy.audit import claims
from proxy.audit.canonical import Record
from proxy.audit.claims import Claim, ClaimLost
from proxy.audit.writer import AuditWriter
from tests.audit.test_writer import stored_root_matches_entries
from tests.pg import Databases


def claimed(i: int, key: str) -> Record:
    body = orjson.dumps({"event": "search", "decision": "allowed", "approval": 5, "i": i})
    fallback = orjson.dumps({"event": "search", "decision": "refused", "approval": 5, "i": i})
    return Record(body, Claim(key, fallback))


async def outcome(append: asyncio.Future[int] | asyncio.Task[int]) -> int | ClaimLost:
    try:
        return await append
    except ClaimLost as lost:
        return lost


async def test_two_writers_one_claim_exactly_one_holds_it(dbs: Databases) -> None:
    admin, dsn = await dbs.fresh_audit()
    async with (
        asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool_a,
        asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool_b,
    ):
        a, b = AuditWriter(pool_a), AuditWriter(pool_b)
        await a.start()
        await b.start()
        await a.append(Record(b'{"event":"test"}'))  # both writers have a right edge
        await b.append(Record(b'{"event":"test"}'))
        results = await asyncio.gather(
            *(
                outcome(asyncio.ensure_future(w.append(claimed(i, "use:5"))))
                for i, w in enumerate((a, b, a, b))
            )
        )
        await a.close()
        await b.close()
    won = [r for r in results if isinstance(r, int)]
    lost = [r for r in results if isinstance(r, ClaimLost)]
    assert len(won) == 1 and len(lost) == 3
    conn = await asyncpg.connect(admin)
    try:
        assert await claims.holder(conn, "use:5") == won[0]
        for r in lost:
            body = orjson.loads(
                await conn.fetchval("SELECT body FROM audit.entries WHERE idx = $1", r.index)
            )
            assert body["decision"] == "refused"  # the fallback is what the log holds
        assert await claims.duplicate_uses(conn) == {}
    finally:
        await conn.close()
    assert await stored_root_matches_entries(admin) == 6


async def test_a_removed_claim_shows_in_the_log(dbs: Databases) -> None:
    """A DBA who disables the trigger and deletes the claim can reuse approval 5; the second
    use is then in the log, and duplicate_uses (run by `audit verify`) names both entries."""
    admin, dsn = await dbs.fresh_audit()
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        writer = AuditWriter(pool)
        await writer.start()
        first = await writer.append(claimed(0, "use:5"))
        conn = await asyncpg.connect(admin)
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("DELETE FROM audit.claims")
            await conn.execute("ALTER TABLE audit.claims DISABLE TRIGGER ALL")
            await conn.execute("DELETE FROM audit.claims")
            second = await writer.append(claimed(1, "use:5"))
            assert await claims.duplicate_uses(conn) == {5: [first, second]}
        finally:
            await conn.close()
        await writer.close()
