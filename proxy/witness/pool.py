"""Keeping every configured witness cosigning the log's latest checkpoint (SPEC §10).

One :class:`WitnessPool` per proxy process. It submits to all witnesses concurrently, keeps
per-witness state (sizes, failures, the next attempt), retries a failing witness with a backoff
capped at 5 s, resubmits the latest checkpoint while the log is idle every max_unwitnessed_s / 2,
stores each verified cosignature before counting it, and computes the quorum from the store, so
cosignatures gathered by other processes sharing the log count too.

Several processes submitting the same checkpoints converge: a witness's state only grows and is
bounded by the log, and a 409 moves each submitter to the witness's size (witness_client.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

import aiohttp

from proxy import loops
from proxy.audit.verify import Checkpoint
from proxy.audit.witness_status import (
    RETRY_CAP_S,
    StartupReport,
    WitnessStatus,
    after,
    label,
    next_due,
)
from proxy.audit.witnessing import (
    CosignatureStore,
    WitnessedCheckpoint,
    select_cosignatures,
    witnessed,
)
from proxy.witness.client import (
    Cosigned,
    Failed,
    Forked,
    Outcome,
    SignedCheckpoint,
    WitnessAhead,
    WitnessEndpoint,
    submit_checkpoint,
)

LOAD_SIZES = 16  # at start, how many cosigned sizes to look through for a quorum
log = logging.getLogger("alpr_proxy.audit.witness")


class LogSource(Protocol):
    """The log as the pool needs it (storage-agnostic: PostgreSQL in the proxy)."""

    async def latest(self) -> SignedCheckpoint | None: ...

    async def checkpoint(self, size: int) -> SignedCheckpoint | None: ...

    async def prove(self, old: int, new: int) -> Sequence[bytes]: ...


class WitnessPool:
    def __init__(
        self,
        witnesses: Sequence[WitnessEndpoint],
        quorum: int,
        source: LogSource,
        store: CosignatureStore,
        *,
        max_unwitnessed_s: float,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len({w.name for w in witnesses}) != len(witnesses) or not witnesses:
            raise ValueError("witness names must be unique, and at least one is needed")
        if not 1 <= quorum <= len({w.verifier.public_key for w in witnesses}):
            raise ValueError(f"witness quorum {quorum} needs 1..{len(witnesses)} distinct keys")
        if max_unwitnessed_s <= 0:
            raise ValueError("max_unwitnessed_s must be > 0 when witnesses are configured")
        self.witnesses, self.quorum = tuple(witnesses), quorum
        self._source, self._store, self._clock = source, store, clock
        self.refresh_s, self.timeout_s = max_unwitnessed_s / 2, timeout_s
        self._status = {w.name: WitnessStatus(w.name) for w in witnesses}
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (witness, label) -> count
        self._witnessed: WitnessedCheckpoint | None = None
        self._cosigned: Checkpoint | None = None
        self._latest_size = 0
        self._session: aiohttp.ClientSession | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def witnessed(self) -> WitnessedCheckpoint | None:
        """The newest checkpoint that reached quorum, with its cosignatures: what to serve."""
        return self._witnessed

    @property
    def last_cosigned(self) -> Checkpoint | None:
        """The largest checkpoint any configured witness was seen to cosign (for extends())."""
        return self._cosigned

    def status(self) -> tuple[WitnessStatus, ...]:
        return tuple(self._status[w.name] for w in self.witnesses)

    def log_behind(self) -> tuple[WitnessStatus, ...]:
        """Witnesses whose last answer claimed a tree larger than the log's newest checkpoint,
        or another root at its size: while any is listed, fail closed (as at startup)."""
        return tuple(
            s
            for s in self.status()
            if (s.ahead_size or 0) > self._latest_size or s.forked_size is not None
        )

    async def load(self) -> WitnessedCheckpoint | None:
        """At start: the newest stored checkpoint whose stored cosignatures reach quorum."""
        for size in await self._store.sizes(LOAD_SIZES):
            cp = await self._source.checkpoint(size)
            if cp is not None and await self._refresh(cp):
                break
        return self._witnessed

    async def startup(self) -> StartupReport:
        """Load the stored quorum, then learn every witness's size by submitting the latest
        checkpoint. ``behind`` on the report means: fail closed, log ``message()``."""
        await self.load()
        latest = await self._source.latest()
        if latest is None:  # nothing to submit yet; a 409 on the first checkpoint will tell
            return StartupReport(0, (), (), ())
        self._latest_size = max(self._latest_size, latest.size)
        outcomes = await self.submit(latest)
        ahead = tuple(o for o in outcomes if isinstance(o, WitnessAhead))
        forked = tuple(o for o in outcomes if isinstance(o, Forked))
        return StartupReport(self._latest_size, ahead, forked, tuple(outcomes))

    async def submit(
        self, cp: SignedCheckpoint, only: Collection[str] | None = None
    ) -> list[Outcome]:
        """Submit ``cp`` to every witness (or those named) concurrently; store and count the
        cosignatures. A witness ahead of ``cp`` gets the log's latest checkpoint if that is
        newer (another process signed it), else the alarm stands."""
        outcomes = await self._round(cp, only)
        for o in outcomes:
            self.outcomes[(o.witness, label(o))] += 1
            if isinstance(o, WitnessAhead | Forked):
                log.error("witness alarm: %s", o)
            elif isinstance(o, Failed) and self._status[o.witness].failures == 1:
                log.warning("witness %s failing: %s %s", o.witness, o.status, o.reason)
        return outcomes

    async def _round(self, cp: SignedCheckpoint, only: Collection[str] | None) -> list[Outcome]:
        self._latest_size = max(self._latest_size, cp.size)
        targets = [w for w in self.witnesses if only is None or w.name in only]
        outcomes = list(await asyncio.gather(*(self._one(w, cp) for w in targets)))
        await self._refresh(cp)
        stale = {o.witness for o in outcomes if isinstance(o, WitnessAhead)}
        if stale and (newer := await self._source.latest()) is not None and newer.size > cp.size:
            again = {o.witness: o for o in await self._round(newer, stale)}
            outcomes = [again.get(o.witness, o) for o in outcomes]
        return outcomes

    async def _one(self, w: WitnessEndpoint, cp: SignedCheckpoint) -> Outcome:
        status = self._status[w.name]
        outcome: Outcome
        try:
            outcome = await submit_checkpoint(
                self.session(), w, cp, status.known_size, self._source.prove,
                timeout_s=self.timeout_s,
            )  # fmt: skip
            if isinstance(outcome, Cosigned):  # counted only once it is durable
                await self._store.add(cp.size, w.vkey, outcome.cosignature)
        except Exception as exc:  # the proof or the store failed: retry like any failure
            outcome = Failed(w.name, cp.size, None, f"{type(exc).__name__}: {exc}")
        self._status[w.name] = after(self._status[w.name], outcome, self._clock())
        return outcome

    async def _refresh(self, cp: SignedCheckpoint) -> bool:
        """Recount ``cp`` from the store (other processes' cosignatures included)."""
        try:
            rows = await self._store.load(cp.size)
        except Exception as exc:  # keep the last quorum; the next round tries again
            log.warning("cannot load cosignatures of %d: %s", cp.size, exc)
            return False
        if select_cosignatures(cp, rows, self.witnesses) and (
            self._cosigned is None or cp.size > self._cosigned.size
        ):
            self._cosigned = cp.checkpoint
        found = witnessed(cp, rows, self.witnesses, self.quorum)
        if found is not None and (self._witnessed is None or found.size >= self._witnessed.size):
            self._witnessed = found
        return found is not None

    async def tick(self) -> list[Outcome]:
        """One scheduling step: submit the latest checkpoint to the witnesses that are due."""
        latest = await self._source.latest()
        if latest is None:
            return []
        self._latest_size = max(self._latest_size, latest.size)
        now = self._clock()
        due = [s.name for s in self.status() if next_due(s, latest.size, self.refresh_s) <= now]
        return await self.submit(latest, due) if due else []

    def delay(self) -> float:
        """Seconds until a witness is due; at most RETRY_CAP_S, so new checkpoints are seen
        even if nobody calls notify()."""
        now = self._clock()
        due = min(next_due(s, self._latest_size, self.refresh_s) for s in self.status())
        return min(RETRY_CAP_S, max(0.01, due - now))

    def notify(self) -> None:
        """A new checkpoint exists: submit it now rather than at the next scheduled step."""
        self._wake.set()

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-witnesses")

    async def close(self) -> None:
        await loops.cancel(self._task)
        self._task = None
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except Exception as exc:  # the log source failed: try again soon
                log.warning("witness round failed: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.delay())

    def sizes(self) -> Mapping[str, int]:
        return {s.name: s.known_size for s in self.status()}
