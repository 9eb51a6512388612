"""`alpr-proxy audit verify --url` (SPEC §10): verify the log over HTTP, without database
credentials, in bounded memory.

The served checkpoint's log signature and witness quorum are checked first; with a remembered
checkpoint, the server must prove the new one extends it (else a rollback). Then every entry
is streamed through the range endpoint, 10,000 per request, and the tree recomputed from its
right edge (O(log n) hashes). After each range the server proves that the prefix recomputed so
far is consistent with the signed checkpoint, so a failure is found in the first bad range and
then narrowed to one index by bisection over that range's leaf hashes (10,000 hashes at most);
the decisive check stays the recomputed root against the signed one. Entries beyond the
checkpoint are counted and reported as unwitnessed, not as an error.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from proxy.audit.remote_checks import (
    RemoteVerificationError,
    b64,
    check_extends,
    check_quorum,
    describe,
    open_served,
)
from proxy.audit.remote_fetch import LogClient
from proxy.audit.verify import (
    Checkpoint,
    VerificationError,
    Verifier,
    hash_leaf,
    verify_consistency,
)
from proxy.audit.verify_state import VerifiedState, load_state, save_state
from proxy.witness.cosignature import CosignatureVerifier

RANGE = 10_000  # the range endpoint's limit
EMPTY_ROOT = hashlib.sha256(b"").digest()

Progress = Callable[[int, int], None]  # (entries verified, checkpoint size)


class EntryError(RemoteVerificationError):
    def __init__(self, index: int, cp: Checkpoint, computed: bytes | None, why: str) -> None:
        got = "" if computed is None else f", computed root {b64(computed)}"
        super().__init__(
            f"entry {index}: {why} (checkpoint {describe(cp)}: expected root"
            f" {b64(cp.root_hash)}{got})"
        )
        self.index, self.checkpoint, self.computed = index, cp, computed


@dataclass(frozen=True)
class RemoteOptions:
    url: str
    token: str
    key: Verifier
    witnesses: tuple[CosignatureVerifier, ...] = ()
    quorum: int = 0
    state: Path | None = None
    max_age_s: int = 3600
    timeout_s: float = 60.0


@dataclass(frozen=True)
class RemoteReport:
    size: int
    root: bytes
    unwitnessed: int  # entries beyond the checkpoint
    cosigners: tuple[str, ...]
    remembered: int | None  # size of the checkpoint --state held, None on a first run
    seconds: float


class Edge:
    """The right edge of an RFC 6962 tree: the roots of its complete subtrees, left to right."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        self.size, self.stack = size, list(hashes)

    def copy(self) -> Edge:
        return Edge(self.size, self.stack)

    def push(self, leaf: bytes) -> None:
        h, m = leaf, self.size
        while m & 1:
            h = hashlib.sha256(b"\x01" + self.stack.pop() + h).digest()
            m >>= 1
        self.stack.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        r = self.stack[-1]
        for h in reversed(self.stack[:-1]):
            r = hashlib.sha256(b"\x01" + h + r).digest()
        return r


async def _proven(client: LogClient, edge: Edge, cp: Checkpoint) -> bool:
    """Whether the server proves the prefix ``edge`` consistent with the signed checkpoint."""
    if edge.size == 0:
        return True
    if edge.size == cp.size:
        return edge.root() == cp.root_hash
    proof = await client.consistency(edge.size, cp.size)
    if proof is None:
        return False
    try:
        verify_consistency(edge.size, cp.size, edge.root(), cp.root_hash, proof.hashes)
    except VerificationError:
        return False
    return True


async def _first_bad(
    client: LogClient, start: Edge, leaves: Sequence[bytes], cp: Checkpoint
) -> int:
    """Bisect: the largest prefix in ``[start.size, start.size + len(leaves)]`` that is proven
    (``start`` is, the whole range is not); the entry right after it is the first failing."""
    lo, hi = 0, len(leaves)

    def prefix(k: int) -> Edge:
        edge = start.copy()
        for leaf in leaves[:k]:
            edge.push(leaf)
        return edge

    while hi - lo > 1:
        mid = (lo + hi) // 2
        if await _proven(client, prefix(mid), cp):
            lo = mid
        else:
            hi = mid
    return start.size + lo


async def _verify_range(client: LogClient, edge: Edge, cp: Checkpoint) -> None:
    """Stream ``[edge.size, edge.size + RANGE)`` (capped at the checkpoint) into ``edge``."""
    start, end = edge.size, min(edge.size + RANGE, cp.size)
    before, leaves = edge.copy(), []
    async for body in client.entries(start, end):
        if edge.size >= end:
            raise EntryError(end, cp, None, f"the server sent more than the {end - start} asked")
        leaf = hash_leaf(body)
        leaves.append(leaf)
        edge.push(leaf)
    if edge.size < end:
        why = f"missing: the server sent entries up to {edge.size - 1} of [{start}, {end})"
        raise EntryError(edge.size, cp, None, why)
    if not await _proven(client, edge, cp):
        index = await _first_bad(client, before, leaves, cp)
        computed = edge.root() if end == cp.size else None
        why = "the first entry the signed checkpoint does not prove (the entries before it"
        why += " are proven by consistency proofs from the server)"
        raise EntryError(index, cp, computed, why)


async def _count_beyond(client: LogClient, size: int) -> int:
    """Entries after the checkpoint (each range request adds one audit_access entry)."""
    n = size
    while True:
        got = 0
        async for _ in client.entries(n, n + RANGE):
            got += 1
        n += got
        if got < RANGE:
            return n - size


async def verify_remote(
    options: RemoteOptions, *, now: int | None = None, progress: Progress | None = None
) -> RemoteReport:
    """Verify the log at ``options.url``; raises RemoteVerificationError or RemoteSetupError."""
    began = time.monotonic()
    remembered = None if options.state is None else load_state(options.state, options.key)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=options.timeout_s,
                                    sock_read=options.timeout_s)  # fmt: skip
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = LogClient(session, options.url.rstrip("/"), options.token)
        served = open_served(await client.checkpoint(), options.key)
        cp = served.checkpoint
        at = int(time.time()) if now is None else now
        cosigners = check_quorum(served, options.witnesses, options.quorum, at, options.max_age_s)
        await check_extends(client, remembered, cp)
        edge = Edge()
        while edge.size < cp.size:
            await _verify_range(client, edge, cp)
            if progress is not None:
                progress(edge.size, cp.size)
        if edge.root() != cp.root_hash:  # _proven checked it; kept as the decisive check
            raise EntryError(cp.size, cp, edge.root(), "the recomputed root differs")
        beyond = await _count_beyond(client, cp.size)
    if options.state is not None:
        save_state(options.state, VerifiedState(cp.origin, cp.size, cp.root_hash, served.note))
    return RemoteReport(
        size=cp.size,
        root=cp.root_hash,
        unwitnessed=beyond,
        cosigners=cosigners,
        remembered=None if remembered is None else remembered.size,
        seconds=time.monotonic() - began,
    )
