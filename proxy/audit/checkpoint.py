"""Signed checkpoints of the committed log, and the task that makes one every interval.

A checkpoint is computed from stored hashes of committed entries only. Stored hashes of
completed subtrees never change once written, so reading the size and then the hashes needs no
lock against concurrent appends. Several server processes may race to checkpoint the same
size: Ed25519 is deterministic, so they produce the same bytes, and the second insert is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import asyncpg

from proxy import loops, metrics
from proxy.audit import postgres, tree
from proxy.audit.note import Signer, sign_checkpoint

log = logging.getLogger("alpr_proxy.audit")


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: bytes


def load_signer(path: str | Path) -> Signer:
    """The log-signing key written by `alpr-proxy keygen` (a Go-compatible note signer key)."""
    return Signer.from_private_key(Path(path).read_text(encoding="utf-8").strip())


async def latest(conn: asyncpg.Connection | asyncpg.Pool) -> StoredCheckpoint | None:
    row = await conn.fetchrow(
        "SELECT size, root, note FROM audit.checkpoints ORDER BY size DESC LIMIT 1"
    )
    if row is None:
        return None
    return StoredCheckpoint(int(row["size"]), bytes(row["root"]), row["note"].encode())


class CheckpointHook(Protocol):
    """Witnessing (proxy.audit.witnessed_log): may refuse to sign, learns what was signed."""

    async def before_signing(self, conn: asyncpg.Connection, size: int, root: bytes) -> None: ...

    def signed(self, made: StoredCheckpoint) -> None: ...


async def make_checkpoint(
    conn: asyncpg.Connection, signer: Signer, origin: str, hook: CheckpointHook | None = None
) -> StoredCheckpoint | None:
    """Sign and store a checkpoint if the log grew since the latest one; return it."""
    size = await postgres.size(conn)
    newest = await latest(conn)
    if size == 0 or (newest is not None and size <= newest.size):
        return None
    root = tree.tree_hash(size, await postgres.read_hashes(conn, tree.tree_hash_needed(size)))
    if hook is not None:
        await hook.before_signing(conn, size, root)  # raises rather than sign a fork
    note = sign_checkpoint(origin, size, root, signer)
    await conn.execute(
        "INSERT INTO audit.checkpoints (size, root, note) VALUES ($1, $2, $3)"
        " ON CONFLICT (size) DO NOTHING",
        size,
        root,
        note.decode(),
    )
    return StoredCheckpoint(size, root, note)


class Checkpointer:
    """Every `interval_s`, checkpoint the log if it has grown; then run `after` on the same
    connection (the server keeps oversight's facts behind the log with it: the log itself knows
    nothing of what is derived from it)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        signer: Signer,
        origin: str,
        interval_s: float,
        after: Callable[[asyncpg.Connection], Awaitable[object]] | None = None,
        hook: CheckpointHook | None = None,
    ) -> None:
        self._pool = pool
        self._hook = hook
        self._after = after
        self._signer = signer
        self._origin = origin
        self._interval_s = interval_s
        metrics.CHECKPOINT_INTERVAL.set(interval_s)
        self._task: asyncio.Task[None] | None = None
        self.last_success_at: float | None = None  # wall clock, for staleness metrics
        self.last_error: str | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-checkpointer")

    async def close(self) -> None:
        await loops.cancel(self._task)
        self._task = None
        with contextlib.suppress(Exception):
            await self.run_once()  # a final checkpoint covering everything committed

    async def run_once(self) -> StoredCheckpoint | None:
        async with self._pool.acquire() as conn:
            made = await make_checkpoint(conn, self._signer, self._origin, self._hook)
            if made is not None and self._hook is not None:
                self._hook.signed(made)
            if self._after is not None:
                await self._after(conn)
        self.last_success_at = time.time()
        self.last_error = None
        metrics.CHECKPOINT_LAST_SUCCESS.set(self.last_success_at)
        return made

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # keep trying; readiness and metrics report staleness
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("checkpoint failed: %s", self.last_error)
            await asyncio.sleep(self._interval_s)
