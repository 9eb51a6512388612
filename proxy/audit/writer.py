"""Group commit: concurrent requests' entries go to the audit database in one transaction.

Each caller awaits a future that resolves to its index only after COMMIT has returned, so a
response can never be sent for an entry that is not durable. While one batch commits the next
one accumulates, which is what makes durable auditing cheap under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

import asyncpg

from proxy import metrics
from proxy.audit import postgres
from proxy.audit.canonical import Record
from proxy.audit.claims import ClaimLost
from proxy.errors import ProxyError

log = logging.getLogger("alpr_proxy.audit")
_RELEASE_TIMEOUT_S = 1.0  # resetting a connection that failed; past this it is terminated


@dataclass
class _Pending:
    record: Record
    future: asyncio.Future[int]


@dataclass
class WriterStats:
    batches: int = 0
    entries: int = 0
    failures: int = 0
    last_batch_size: int = 0
    last_commit_s: float = 0.0
    last_error: str | None = None
    last_success_at: float | None = field(default=None)


def _expire(future: asyncio.Future[int]) -> None:
    if not future.done():
        future.set_exception(
            ProxyError("audit_unavailable", "the audit entry could not be made durable in time")
        )


class AuditWriter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        max_batch: int = 1000,
        max_queue: int = 20000,
        wait_timeout_s: float = 10.0,
    ) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._wait_timeout_s = wait_timeout_s
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue(maxsize=max_queue)
        self._task: asyncio.Task[None] | None = None
        # The log's right edge after our last commit; None when unknown (start, any failure).
        self._edge: postgres.RightEdge | None = None
        # Held from one batch to the next (a pool round trip per batch showed in the profile);
        # handed back to the pool after any failure, which replaces it if it is broken.
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None
        self.stats = WriterStats()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def close(self) -> None:
        """Commit everything already queued, then stop."""
        if self._task is None:
            return
        await self._queue.put(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await self._release()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    async def append(self, record: Record) -> int:
        """Make `record` durable; return its log index. Raises audit_unavailable otherwise."""
        if not self.running:
            raise ProxyError("audit_unavailable", "the audit writer is not running")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Pending(record, future))
        except asyncio.QueueFull:
            raise ProxyError(
                "audit_unavailable", "the audit log is backlogged; nothing was returned"
            ) from None
        # One timer handle per waiter (cheaper than asyncio.timeout on the request path). A
        # waiter that gives up (timeout, client gone) settles only its own future: the record
        # is still committed with its batch, and _commit skips futures already done.
        timer = asyncio.get_running_loop().call_later(self._wait_timeout_s, _expire, future)
        try:
            return await future
        finally:
            timer.cancel()

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            metrics.AUDIT_QUEUE_DEPTH.set(self._queue.qsize())
            await self._commit(batch)

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # a broken connection is terminated instead
                await self._pool.release(conn, timeout=_RELEASE_TIMEOUT_S)

    async def _commit(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            columns = postgres.Batch([p.record for p in batch])
            edge, self._edge = self._edge, None  # unknown until this commit's outcome is known
            if self._conn is not None and self._conn.is_closed():  # the server went away
                await self._release()
            if self._conn is None:
                self._conn = await self._pool.acquire()
            conn = self._conn
            # A batch with claims always takes the lock: its claims and entries commit together.
            fast = edge is not None and not columns.has_claims
            appended = await columns.try_append(conn, edge) if fast and edge else None
            if isinstance(appended, int):  # another writer appended: follow it
                appended = await columns.try_append(conn, await postgres.edge_at(conn, appended))
            # The first batch, a failure, or raced again:
            if not isinstance(appended, postgres.RightEdge):
                async with conn.transaction():
                    appended = await columns.append_locked(conn)
            self._edge = appended
            start = appended.size - len(batch)
        except Exception as exc:  # any failure means: not durable, fail every waiter closed
            await self._release()
            self.stats.failures += 1
            metrics.AUDIT_FAILURES.inc()
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            log.error("audit batch of %d failed: %s", len(batch), self.stats.last_error)
            error = ProxyError(
                "audit_unavailable", "the audit log is unavailable; nothing was returned"
            )
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(error)
                    # Mark retrieved: a waiter that already timed out must not log a warning.
                    p.future.exception()
            return
        self.stats.batches += 1
        self.stats.entries += len(batch)
        self.stats.last_batch_size = len(batch)
        self.stats.last_commit_s = time.perf_counter() - started
        metrics.AUDIT_BATCH_SIZE.observe(len(batch))
        metrics.AUDIT_COMMIT_SECONDS.observe(self.stats.last_commit_s)
        metrics.AUDIT_LOG_ENTRIES.set(start + len(batch))
        self.stats.last_error = None
        self.stats.last_success_at = time.time()
        for offset, p in enumerate(batch):
            if p.future.done():
                continue
            claim = p.record.claim
            if offset in columns.lost and claim is not None:
                p.future.set_exception(ClaimLost(start + offset, claim.key))
            else:
                p.future.set_result(start + offset)
