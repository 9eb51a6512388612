"""A JWKS fetched over HTTP(S) (SPEC §3 [auth] jwks_url): cached, refetched at a bounded rate,
closed when no set has ever been fetched. Keys are parsed as every other source's
(proxy.auth.keys)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

import aiohttp
from yarl import URL

from proxy.auth.keys import KeyNotFound, KeySet, KeySetUnavailable, PublicKey, SourceLifetime

log = logging.getLogger("proxy.auth.keys")

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_MAX_JWKS_BYTES = 1 << 20


SessionArg = aiohttp.ClientSession | Callable[[], aiohttp.ClientSession] | None


class JwksUrlSource(SourceLifetime):
    """A JWKS fetched over HTTP(S) without blocking the event loop.

    The set is cached for `cache_ttl_s`. A token whose key is not in the set triggers a refetch,
    but fetch attempts of any kind are at least `min_refetch_interval_s` apart, so tokens with
    made-up kids cannot make us hammer the IdP; concurrent callers share one in-flight fetch.
    A failed fetch keeps the cached set; with no set at all every lookup fails (closed).
    """

    def __init__(
        self,
        url: str,
        session: SessionArg = None,
        *,
        cache_ttl_s: float = 300,
        min_refetch_interval_s: float = 30,
        timeout_s: float = 5,
        max_bytes: int = _MAX_JWKS_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parsed = URL(url)
        # Keys over plain HTTP could be swapped in transit; allow it only on this machine.
        if not (
            parsed.scheme == "https" or (parsed.scheme == "http" and parsed.host in _LOOPBACK_HOSTS)
        ):
            raise ValueError(f"jwks_url {url!r}: must be https (http only for loopback hosts)")
        self.url = url
        self._borrowed = session if isinstance(session, aiohttp.ClientSession) else None
        self._factory = None if isinstance(session, aiohttp.ClientSession) else session
        self._owned: aiohttp.ClientSession | None = None
        self._ttl = cache_ttl_s
        self._min_interval = min_refetch_interval_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._max_bytes = max_bytes
        self._clock = clock
        self._keyset: KeySet | None = None
        self._fetched_at = 0.0
        self._last_attempt: float | None = None
        self._inflight: asyncio.Task[None] | None = None
        self.fetch_count = 0  # attempts, for metrics and tests

    async def start(self) -> None:
        """Open the session and try a first fetch; a failure is logged, not raised (fail closed)."""
        self._session()
        await self._refresh()

    async def close(self) -> None:
        task, self._inflight = self._inflight, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._owned is not None:
            await self._owned.close()
            self._owned = None

    async def get_key(self, kid: str | None, alg: str) -> PublicKey:
        if self._keyset is None or self._clock() - self._fetched_at >= self._ttl:
            await self._refresh()
        try:
            return self._current().select(kid, alg)
        except KeySetUnavailable:
            raise
        except KeyNotFound:
            # Perhaps the IdP rotated keys since our fetch; the throttle bounds the cost.
            await self._refresh()
            return self._current().select(kid, alg)

    def _current(self) -> KeySet:
        if self._keyset is None:
            raise KeySetUnavailable("JWKS not fetched yet or unreachable")
        return self._keyset

    def _session(self) -> aiohttp.ClientSession:
        if self._borrowed is not None:
            return self._borrowed
        if self._owned is None:
            self._owned = self._factory() if self._factory is not None else aiohttp.ClientSession()
        return self._owned

    async def _refresh(self) -> None:
        """Fetch now unless throttled; join the fetch already under way if there is one."""
        if self._inflight is None:
            now = self._clock()
            if self._last_attempt is not None and now - self._last_attempt < self._min_interval:
                return
            self._last_attempt = now
            self._inflight = asyncio.create_task(self._fetch())
        # Shielded: a caller that gives up (client disconnect) must not cancel the others' fetch.
        await asyncio.shield(self._inflight)

    async def _fetch(self) -> None:
        self.fetch_count += 1
        try:
            doc = await self._download()
            self._keyset = KeySet.from_jwks(doc, f"jwks_url {self.url!r}")
            self._fetched_at = self._clock()
        except Exception as exc:  # any failure: keep what we have; callers fail closed without it
            state = "keeping the cached key set" if self._keyset else "no key set: failing closed"
            reason = str(exc) or type(exc).__name__
            log.warning("JWKS fetch from %s failed (%s); %s", self.url, reason, state)
        finally:
            self._inflight = None

    async def _download(self) -> object:
        async with self._session().get(
            self.url,
            timeout=self._timeout,
            allow_redirects=False,
            headers={"Accept": "application/jwk-set+json, application/json"},
        ) as resp:
            if resp.status != 200:
                raise ValueError(f"HTTP status {resp.status}")
            body = bytearray()
            async for chunk in resp.content.iter_chunked(65536):
                body += chunk
                if len(body) > self._max_bytes:
                    raise ValueError(f"response larger than {self._max_bytes} bytes")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise ValueError(f"not JSON ({exc})") from exc
