"""Verify the whole audit log in PostgreSQL, trusting nothing stored there: the RFC 6962 tree is
rebuilt from the entries alone (streamed into a compact range: O(log n) memory) and compared with
every stored hash and checkpoint, in one REPEATABLE READ snapshot (concurrent appends cause no
false alarms). Each entry's row carries the stored hashes appending it completed, so one pass
over the rows checks both. Stored checkpoints need no consistency proofs between them: all are
compared with one rebuilt tree, whose prefixes are consistent by construction. An external
checkpoint also gets a consistency proof from stored hashes, as a client of the server would
check it."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from proxy.audit import postgres, tree
from proxy.audit import verify as v
from proxy.audit.log_errors import (
    CheckpointRootMismatch,
    CheckpointSignatureError,
    CheckpointTableMismatch,
    EntryGapError,
    ExternalCheckpointMismatch,
    ExternalConsistencyError,
    ExtraStoredHashesError,
    LeafMismatchError,
    LogTruncatedError,
    LogVerificationError,
    StoredHashMismatch,
    StoredTreeMismatch,
)

_SHA = hashlib.sha256
# One query streams everything, a chunk per round trip, so the server reads the next chunk while
# this one is hashed. A NULL body hashes as empty, so it fails as an altered entry; NULL hashes
# are missing ones.
_ENTRIES = """
SELECT idx, coalesce(body, ''::bytea), coalesce(hashes, ''::bytea)
FROM audit.entries ORDER BY idx
"""
_STEP = 500  # entries hashed between two turns of the event loop
_CHECKPOINTS = "SELECT size, root, note FROM audit.checkpoints ORDER BY size"
_RECORDED_AT = "SELECT recorded_at FROM audit.entries WHERE idx = $1"


@dataclass(frozen=True, slots=True)
class LogReport:
    entries: int
    checkpoints: int
    size: int
    root: bytes
    seconds: float
    external_checkpoint_size: int | None = None
    covered: int = 0  # entries covered by the newest stored checkpoint; the rest are uncovered
    oldest_uncovered_at: datetime | None = None  # when the first uncovered entry was committed


def _root(stack: Sequence[bytes]) -> bytes:
    h = stack[-1] if stack else tree.EMPTY_ROOT
    for left in reversed(stack[:-1]):
        h = _SHA(b"\x01" + left + h).digest()
    return h


def _mismatch(n: int, computed: bytes, stored: bytes) -> LogVerificationError:
    """Entry n's stored hashes differ from those computed: the first that does, as evidence
    (None for one that is missing), or the bytes beyond them."""
    for offset in range(0, len(computed), 32):
        got, want = stored[offset : offset + 32], computed[offset : offset + 32]
        if got != want:
            piece = got if len(got) == 32 else None
            if offset == 0:
                return LeafMismatchError(n, piece, want)
            return StoredHashMismatch(tree.stored_hash_index(0, n) + offset // 32, piece, want)
    return ExtraStoredHashesError(n, len(stored), len(computed))


def _absorb(stack: list[bytes], rows: Sequence[Any], start: int, lo: int, hi: int) -> None:
    """Append entries lo..hi-1 to the compact range, checking each index and every stored hash
    the entry completes against its row's own; rows[0] is entry ``start``."""
    push, pop, sha = stack.append, stack.pop, _SHA
    for n in range(lo, hi):  # the hot loop: locals only, one comparison per entry
        idx, body, stored = rows[n - start]
        if idx != n:
            raise EntryGapError(n, idx)
        h = computed = sha(b"\x00" + body).digest()
        m = n
        while m & 1:  # each trailing 1 bit completes a subtree with the stack's top
            h = sha(b"\x01" + pop() + h).digest()
            computed += h
            m >>= 1
        if computed != stored:
            raise _mismatch(n, computed, stored)
        push(h)


def _open(note: object, size: int | None, key: v.Verifier, origin: str | None) -> v.Checkpoint:
    try:  # a NULL note fails as an empty one
        return v.verify_checkpoint(note if isinstance(note, str | bytes) else b"", key, origin)
    except v.VerificationError as e:
        raise CheckpointSignatureError(size, str(e), external=size is None) from e


class _Run:
    def __init__(self, conn: asyncpg.Connection, key: v.Verifier, origin: str | None) -> None:
        self.conn, self.key, self.origin = conn, key, origin
        self.stack: list[bytes] = []
        self.size = self.checkpoints = self.covered = 0
        self.external: v.Checkpoint | None = None
        self._cps: Any = None  # cursor over stored checkpoints by size; None once exhausted
        self._queue: deque[Any] = deque()  # stored checkpoints read but not yet reached

    async def _load(self, upto: int) -> None:
        """Buffer stored checkpoints through the first beyond ``upto``: they are checked while
        the connection is busy fetching the next chunk."""
        while self._cps is not None and (not self._queue or self._queue[-1]["size"] <= upto):
            rows = await self._cps.fetch(256)
            self._queue.extend(rows)
            self._cps = self._cps if len(rows) == 256 else None

    def _reached(self) -> None:  # check the checkpoints at the current size
        queue, ext = self._queue, self.external
        if not (queue and queue[0]["size"] <= self.size) and (ext is None or ext.size != self.size):
            return
        root = _root(self.stack)
        while queue and queue[0]["size"] <= self.size:
            size, row_root, note = queue.popleft()
            cp = _open(note, size, self.key, self.origin)
            if cp.size != size or cp.root_hash != row_root:
                raise CheckpointTableMismatch(size, row_root, cp.size, cp.root_hash)
            if cp.root_hash != root:
                raise CheckpointRootMismatch(size, cp.root_hash, root)
            self.checkpoints += 1
            self.covered = size
        if ext is not None and ext.size == self.size and ext.root_hash != root:
            raise ExternalCheckpointMismatch(ext.size, ext.root_hash, root)

    async def stream(self, chunk: int) -> None:
        self._cps = await self.conn.cursor(_CHECKPOINTS)
        await self._load(0)
        self._reached()  # checkpoints of the empty tree
        entries = await self.conn.cursor(_ENTRIES)
        fetching = asyncio.ensure_future(entries.fetch(chunk))
        try:
            while rows := await fetching:
                start, end = self.size, self.size + len(rows)
                await self._load(end)
                # Ask for the next chunk before hashing this one, so the server reads it meanwhile;
                # and read what has arrived every _STEP entries, so it never waits for the socket.
                fetching = asyncio.ensure_future(entries.fetch(chunk))
                while self.size < end:  # stop at each checkpoint's size to compare roots there
                    await asyncio.sleep(0)
                    stop = min(end, self.size + _STEP)
                    if self._queue:
                        stop = min(stop, self._queue[0]["size"])
                    if (ext := self.external) is not None and ext.size > self.size:
                        stop = min(stop, ext.size)
                    _absorb(self.stack, rows, start, self.size, stop)
                    self.size = stop
                    self._reached()
        finally:  # the connection must be idle again before the transaction ends
            await asyncio.gather(fetching, return_exceptions=True)

    async def finish(self) -> bytes:
        if self._queue:  # a checkpoint beyond the log; if genuine, the log shrank
            size, _, note = self._queue[0]
            _open(note, size, self.key, self.origin)
            raise LogTruncatedError(self.size, size)
        n, ext = self.size, self.external
        if ext is not None and ext.size > n:
            raise LogTruncatedError(n, ext.size, external=True)
        root = _root(self.stack)
        # Redundant with the per-hash checks, but it is the code path the server's proofs use.
        stored = await postgres.read_hashes(self.conn, tree.tree_hash_needed(n))
        if (stored_root := tree.tree_hash(n, stored)) != root:
            raise StoredTreeMismatch(n, stored_root, root)
        if ext is not None and ext.size > 0:
            need = await postgres.read_hashes(self.conn, tree.consistency_proof_needed(ext.size, n))
            proof = tree.consistency_proof(ext.size, n, need)
            try:
                v.verify_consistency(ext.size, n, ext.root_hash, root, proof)
            except v.ConsistencyProofError as e:
                raise ExternalConsistencyError(ext.size, n) from e
        return root


async def verify_log(
    conn: asyncpg.Connection,
    verifier_key: str | v.Verifier,
    *,
    external_checkpoint: bytes | None = None,
    origin: str | None = None,
    chunk: int = 2000,  # rows per round trip; 1000..10000 measured alike
) -> LogReport:
    """Verify every entry, stored hash and checkpoint; raise the first LogVerificationError in
    log order (verify.NoteFormatError for a malformed key). ``conn`` must be idle."""
    started = time.perf_counter()
    key = v.Verifier.from_key(verifier_key) if isinstance(verifier_key, str) else verifier_key
    run = _Run(conn, key, origin)
    if external_checkpoint is not None:  # checked first: no point streaming if it is forged
        run.external = _open(external_checkpoint, None, key, origin)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await run.stream(chunk)
        root = await run.finish()
        uncovered_at = await conn.fetchval(_RECORDED_AT, run.covered)
    ext = None if run.external is None else run.external.size
    took = time.perf_counter() - started
    return LogReport(
        run.size, run.checkpoints, run.size, root, took, ext, run.covered, uncovered_at
    )
