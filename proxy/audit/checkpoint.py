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
from proxy.audit.verify import Checkpoint
from proxy.audit.witnessing import extends

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
    """May refuse to sign, learns what was signed: ForkGuard below, or witnessing
    (proxy.audit.witnessed_log), which also asks the witnesses."""

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


async def prove(conn: asyncpg.Connection, old: int, new: int) -> list[bytes]:
    """The consistency proof from ``old`` to ``new`` from stored hashes ([] when trivial)."""
    if old == 0 or old >= new:
        return []
    hashes = await postgres.read_hashes(conn, tree.consistency_proof_needed(old, new))
    return tree.consistency_proof(old, new, hashes)


class ForkGuard:
    """The hook without witnesses: never sign a checkpoint that does not extend the last one
    this process signed, or found stored when it first signed (kept in memory: a superuser who
    rewrites or truncates the log under a running proxy cannot get the result signed; the
    checkpointer logs the refusal and readiness reports it). What was rewritten before the
    process started only a witness or a kept checkpoint can tell (SECURITY.md)."""

    def __init__(self, origin: str) -> None:
        self._origin = origin
        self.last: Checkpoint | None = None
        self._loaded = False

    async def before_signing(self, conn: asyncpg.Connection, size: int, root: bytes) -> None:
        if not self._loaded:
            newest = await latest(conn)
            self.last = (
                None if newest is None else Checkpoint(self._origin, newest.size, newest.root)
            )
            self._loaded = True
        previous = self.last
        proof = [] if previous is None else await prove(conn, previous.size, size)
        extends(previous, Checkpoint(self._origin, size, root), proof)

    def signed(self, made: StoredCheckpoint) -> None:
        self.last = Checkpoint(self._origin, made.size, made.root)
