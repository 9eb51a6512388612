"""The checkpointer's fork guard without witnesses: the red team's attack of issue 15 (a
superuser truncates the log under a running proxy and lets it grow again) is never signed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from proxy.audit import postgres
from proxy.audit.checkpoint import Checkpointer, ForkGuard, load_signer, make_checkpoint
from proxy.audit.entry import audit_access_entry
from proxy.audit.witnessing import RewriteError
from proxy.model import Principal
from tests.audit.remote_env import as_superuser, fill
from tests.pg import Databases

WHO = Principal("det.x", "CA0010900", frozenset({"auditor"}), 0.0)


async def append(dsn: str, n: int, tag: str) -> None:
    at = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
    records = [
        audit_access_entry(
            at=at,
            request_id=f"{tag}{i}",
            principal=WHO,
            client=None,
            endpoint="GET /v1/audit/entries",
            filters={"tag": tag, "i": i},
            returned=0,
        )
        for i in range(n)
    ]
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await postgres.append(conn, records)
    finally:
        await conn.close()


async def checkpoint_sizes(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r[0] for r in await conn.fetch("SELECT size FROM audit.checkpoints ORDER BY 1")]
    finally:
        await conn.close()


async def test_a_running_proxy_never_signs_a_log_rewritten_under_it(
    dbs: Databases, log_keys: tuple[Path, str]
):
    admin, dsn = await dbs.fresh_audit()
    await fill(admin, log_keys[0], 20)  # checkpoint 20, signed before this process started
    signer = load_signer(log_keys[0])
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        guard = ForkGuard(signer.name)
        checkpointer = Checkpointer(pool, signer, signer.name, 3600, hook=guard)
        await append(dsn, 5, "honest")
        made = await checkpointer.run_once()
        assert made is not None and made.size == 25  # 20 -> 25 extends what it found
        # The attack: entries 15.. and the checkpoints over them deleted, another tail written.
        await as_superuser(
            admin,
            "DELETE FROM audit.entries WHERE idx >= 15",
            "DELETE FROM audit.checkpoints WHERE size > 15",
        )
        await append(dsn, 12, "forged")  # size 27, past what the proxy signed
        with pytest.raises(RewriteError, match="consistency proof fails"):
            await checkpointer.run_once()
        assert await checkpoint_sizes(dsn) == []  # nothing signed over the forged log
        # Without the guard (what the proxy did before): the forgery gets signed.
        async with pool.acquire() as conn:
            forged = await make_checkpoint(conn, signer, signer.name)
        assert forged is not None and forged.size == 27
        # and the guard refuses the same size with that other root, too
        with pytest.raises(RewriteError):
            async with pool.acquire() as conn:
                await guard.before_signing(conn, 25, forged.root)
