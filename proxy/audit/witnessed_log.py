"""The proxy's audit log under witnesses (SPEC §10): what app.py wires when witness_quorum > 0.

- :class:`PgLogSource`: checkpoints and consistency proofs from the audit database, for the
  :class:`~proxy.witness.pool.WitnessPool`.
- :class:`Witnessing`: opens the pool (at start it asks every witness, and refuses to start
  when the database is behind one), guards the checkpointer (never sign a checkpoint that does
  not extend the last one signed or seen cosigned; submit each new one at once), and keeps the
  coverage snapshot that decides whether searches may run (:meth:`Witnessing.refusal`).

Coverage compares the proxy's clock with the database's ``recorded_at``: both hosts' clocks
must agree to well within ``max_unwitnessed_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from proxy import loops, metrics
from proxy.audit import checkpoint as checkpoints
from proxy.audit.cosignatures_pg import PgCosignatureStore
from proxy.audit.note import Signer
from proxy.audit.verify import Checkpoint
from proxy.audit.witnessing import WitnessedCheckpoint, coverage, extends
from proxy.settings import LogSettings
from proxy.witness.client import SignedCheckpoint, WitnessEndpoint
from proxy.witness.pool import WitnessPool

log = logging.getLogger("alpr_proxy.audit.witness")


class WitnessesAhead(ValueError):
    """At start: a witness holds a larger tree (or another root at our size) than the audit
    database. serve reports it in one line and exits 2."""


class PgLogSource:
    """The log as the witness pool reads it: signed checkpoints and proofs, from PostgreSQL.
    Every checkpoint is re-opened with the log key (the database is not trusted)."""

    def __init__(self, pool: asyncpg.Pool, signer: Signer) -> None:
        self._pool, self._verifier = pool, signer.verifier()

    async def latest(self) -> SignedCheckpoint | None:
        newest = await checkpoints.latest(self._pool)
        return None if newest is None else SignedCheckpoint.open(newest.note, self._verifier)

    async def checkpoint(self, size: int) -> SignedCheckpoint | None:
        note = await self._pool.fetchval("SELECT note FROM audit.checkpoints WHERE size = $1", size)
        return None if note is None else SignedCheckpoint.open(note.encode(), self._verifier)

    async def prove(self, old: int, new: int) -> Sequence[bytes]:
        async with self._pool.acquire() as conn:
            return await checkpoints.prove(conn, old, new)


@dataclass(frozen=True)
class Snapshot:
    """Coverage as last read: entries [0, witnessed_size) are covered by a quorum checkpoint;
    ``uncovered_at`` is when entry ``witnessed_size`` was recorded (None: none existed)."""

    witnessed_size: int
    uncovered_at: float | None
    taken_at: float


class Witnessing:
    def __init__(
        self, settings: LogSettings, signer: Signer, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.quorum, self.max_unwitnessed_s = settings.witness_quorum, settings.max_unwitnessed_s
        self.endpoints = [
            WitnessEndpoint.from_config(w.name, w.url, w.key) for w in settings.witnesses
        ]
        self._signer, self._origin, self._clock = signer, settings.origin, clock
        self.last_signed: Checkpoint | None = None
        self.snapshot: Snapshot | None = None
        self._pool: WitnessPool | None = None
        self._db: asyncpg.Pool | None = None
        self._task: asyncio.Task[None] | None = None
        self._started_at = clock()
        self._counted: Counter[tuple[str, str]] = Counter()  # failures already in the metric

    @property
    def pool(self) -> WitnessPool:
        if self._pool is None:
            raise RuntimeError("witnessing is not open")
        return self._pool

    async def open(self, db: asyncpg.Pool, *, timeout_s: float = 5.0) -> None:
        """Ask every witness for its size; raise :class:`WitnessesAhead` when the database is
        behind one (nothing is signed or served then); else start the pool and the gate."""
        self._db = db
        self._pool = WitnessPool(
            self.endpoints, self.quorum, PgLogSource(db, self._signer), PgCosignatureStore(db),
            max_unwitnessed_s=self.max_unwitnessed_s, timeout_s=timeout_s, clock=self._clock,
        )  # fmt: skip
        report = await self._pool.startup()
        if report.behind:
            await self._pool.close()
            raise WitnessesAhead(report.message())
        log.info(report.message())
        await self.refresh()
        self.publish_metrics()
        await self._pool.start()
        self._task = asyncio.create_task(self._run(), name="audit-witness-coverage")

    async def close(self) -> None:
        await loops.cancel(self._task)
        self._task = None
        if self._pool is not None:
            await self._pool.close()

    # The checkpointer's hook (proxy.audit.checkpoint.CheckpointHook).
    async def before_signing(self, conn: asyncpg.Connection, size: int, root: bytes) -> None:
        """Raise RewriteError unless (size, root) extends the larger of the last checkpoint
        signed here and the last one seen cosigned: the proxy never signs a fork."""
        cosigned = self._pool.last_cosigned if self._pool is not None else None
        known = [c for c in (self.last_signed, cosigned) if c is not None]
        previous = max(known, key=lambda c: c.size) if known else None
        candidate = Checkpoint(self._origin, size, root)
        proof = [] if previous is None else await checkpoints.prove(conn, previous.size, size)
        extends(previous, candidate, proof)

    def signed(self, made: checkpoints.StoredCheckpoint) -> None:
        self.last_signed = Checkpoint(self._origin, made.size, made.root)
        if self._pool is not None:
            self._pool.notify()

    async def newest(self) -> WitnessedCheckpoint | None:
        """The newest checkpoint that reached quorum, as the store has it now: processes
        sharing the log serve the same one (one that another gathered counts here at once),
        so what a verifier sees never goes back between two requests."""
        return await self.pool.load()

    # Whether searches may run.
    async def refresh(self) -> None:
        """Read when the first entry no quorum checkpoint covers was recorded."""
        if self._db is None:
            return
        taken_at = self._clock()
        await self.pool.load()  # cosignatures another process gathered count too
        witnessed = self.pool.witnessed
        size = 0 if witnessed is None else witnessed.size
        at = await self._db.fetchval(
            "SELECT extract(epoch FROM recorded_at)::float8 FROM audit.entries WHERE idx = $1",
            size,
        )
        self.snapshot = Snapshot(size, None if at is None else float(at), taken_at)

    def refusal(self) -> str | None:
        """Why searches must fail closed now (503 audit_unavailable), or None."""
        behind = self.pool.log_behind()
        if behind:
            names = ", ".join(s.name for s in behind)
            return f"witnesses report a log beyond the audit database's checkpoint: {names}"
        snap = self.snapshot
        if snap is None:
            return "witness coverage is not known yet"
        # No uncovered entry when last read: any appended since is younger than that read.
        oldest = snap.taken_at if snap.uncovered_at is None else snap.uncovered_at
        cov = coverage(self._clock(), oldest, snap.witnessed_size, self.max_unwitnessed_s)
        if not cov.refuse:
            return None
        return (
            f"audit entries from index {snap.witnessed_size} have waited {cov.unwitnessed_s:.0f}s"
            f" (more than log.max_unwitnessed_s = {self.max_unwitnessed_s:g}) for a checkpoint"
            f" cosigned by {self.quorum} witnesses"
        )

    async def _run(self) -> None:
        interval = min(1.0, self.max_unwitnessed_s / 4)
        while True:
            await asyncio.sleep(interval)  # a refresh period, not synchronisation
            try:
                await self.refresh()
            except Exception as exc:  # a stale snapshot makes refusal() fail closed
                log.warning("witness coverage not refreshed: %s: %s", type(exc).__name__, exc)
            self.publish_metrics()

    def publish_metrics(self) -> None:
        """Per witness: last cosigned size, lag, failures by status; and the quorum's age."""
        now, pool = self._clock(), self.pool
        for s in pool.status():
            metrics.WITNESS_COSIGNED_SIZE.labels(s.name).set(s.cosigned_size)
            metrics.WITNESS_LAG.labels(s.name).set(now - (s.cosigned_at or self._started_at))
        for (name, status), count in list(pool.outcomes.items()):
            if status != "ok" and count > self._counted[(name, status)]:
                metrics.WITNESS_FAILURES.labels(name, status).inc(
                    count - self._counted[(name, status)]
                )
                self._counted[(name, status)] = count
        witnessed = pool.witnessed
        stamps = (
            sorted((sig.timestamp for _, sig in witnessed.cosignatures), reverse=True)
            if witnessed
            else []
        )
        reached = stamps[self.quorum - 1] if len(stamps) >= self.quorum else self._started_at
        metrics.WITNESS_QUORUM_AGE.set(max(0.0, now - reached))
