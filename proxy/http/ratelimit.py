"""Token buckets keyed by caller: the per-user search budget and the auth-failure entry cap
(per client address, and optionally in total: behind a TLS terminator every client has the
terminator's address).

In-process state: with `workers = N` each process keeps its own buckets, and a keep-alive client
stays on one process, so the effective budget is between 1x and Nx the configured one (README).
"""

from __future__ import annotations

from collections.abc import Callable
from time import monotonic


class TokenBuckets:
    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = monotonic,
        max_keys: int = 100_000,
        total_per_minute: int | None = None,
    ) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        # One more bucket shared by every key, spent only by what the key's own bucket allowed.
        self._total = (
            None if total_per_minute is None else TokenBuckets(total_per_minute, clock=clock)
        )

    def reconfigure(self, per_minute: int) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0

    def allow(self, key: str) -> bool:
        if not self._allow(key):
            return False
        return self._total is None or self._total.allow("")

    def _allow(self, key: str) -> bool:
        now = self._clock()
        tokens, last = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            self._prune(now)
        self._buckets[key] = (tokens - 1.0, now)
        return True

    def _prune(self, now: float) -> None:
        # Drop buckets that have refilled completely: forgetting them changes nothing.
        full = [
            k
            for k, (t, last) in self._buckets.items()
            if t + (now - last) * self._rate >= self._capacity
        ]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self._max_keys:  # still full of active keys: drop the oldest
            for k in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[k]
