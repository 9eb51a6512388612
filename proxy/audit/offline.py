"""Verify the whole audit log in PostgreSQL, trusting nothing stored there (a superuser can
disable the append-only triggers and edit any row).

The RFC 6962 tree is rebuilt from the entries alone, streamed through a server-side cursor into a
compact range (the perfect-subtree hashes making up the current size: O(log n) memory, root at
any size in O(log n)), and every stored hash and checkpoint is compared with it, all in one
REPEATABLE READ snapshot so concurrent appends cause no false alarms. Stored checkpoints need no
consistency proofs between them: each signed root equals the same rebuilt tree's root at its
size, and prefixes of one sequence are consistent by construction. An external checkpoint also
gets a consistency proof from stored hashes, the path a client of the server would take."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from proxy.audit import pg, tree
from proxy.audit import verify as v

_SHA = hashlib.sha256
# A NULL body hashes as empty, so it fails as an altered entry.
_ENTRIES = "SELECT idx, coalesce(body, ''::bytea) FROM audit.entries ORDER BY idx"
_HASHES = "SELECT idx, hash FROM audit.tree_hashes WHERE idx >= $1 AND idx < $2 ORDER BY idx"
# One bytea per chunk decodes far faster than a row per hash. The counts prove it holds exactly
# rows lo..hi-1 (the primary key may have been dropped); if not, _HASHES gives the evidence.
_HASH_BLOB = (
    "SELECT string_agg(hash, ''::bytea ORDER BY idx), count(*), count(DISTINCT idx),"
    " bool_and(length(hash) = 32) FROM audit.tree_hashes WHERE idx >= $1 AND idx < $2"
)
_CHECKPOINTS = "SELECT size, root, note FROM audit.checkpoints ORDER BY size"


class LogVerificationError(Exception):
    """The log does not verify. Subclasses are dataclasses whose fields are the evidence; the
    first line of a subclass's docstring is its message, formatted with those fields."""

    def __str__(self) -> str:
        return (self.__doc__ or "").split("\n")[0].format(self=self, **vars(self))

    def evidence(self) -> dict[str, object]:
        return dict(vars(self))

    @property
    def checkpoint(self) -> str:  # for messages: which checkpoint failed
        size = getattr(self, "checkpoint_size", None)
        name = "external checkpoint" if getattr(self, "external", False) else "checkpoint"
        return name if size is None else f"{name} {size}"


@dataclass(eq=False)
class EntryGapError(LogVerificationError):
    """entry {expected_index} is missing: index {found_index} is in its place"""

    expected_index: int
    found_index: int


@dataclass(eq=False)
class LeafMismatchError(LogVerificationError):
    """entry {index}: its body does not match its stored leaf hash (the entry was altered)"""

    index: int
    stored_hash: bytes | None  # None: the row is missing (or duplicated)
    computed_hash: bytes


@dataclass(eq=False)
class StoredHashMismatch(LogVerificationError):
    """stored tree hash {stored_index} (served in proofs) does not match the entries below it"""

    stored_index: int  # tree.split_stored_hash_index says which entries it covers
    stored_hash: bytes | None
    computed_hash: bytes


@dataclass(eq=False)
class ExtraStoredHashesError(LogVerificationError):
    """stored tree hash {stored_index} is beyond the log's {log_size} entries (tail removed)"""

    log_size: int
    stored_index: int


@dataclass(eq=False)
class StoredTreeMismatch(LogVerificationError):
    """size {size}: the root over stored hashes differs from the entries' root"""

    size: int
    stored_root: bytes
    computed_root: bytes


@dataclass(eq=False)
class CheckpointSignatureError(LogVerificationError):
    """{self.checkpoint} does not verify: {reason}"""

    checkpoint_size: int | None  # None: an external checkpoint
    reason: str  # bad signature, unknown key, malformed note or wrong origin
    external: bool = False


@dataclass(eq=False)
class CheckpointTableMismatch(LogVerificationError):
    """checkpoint {checkpoint_size}: the row's size/root columns disagree with its signed note"""

    checkpoint_size: int
    row_root: object
    note_size: int
    note_root: bytes


@dataclass(eq=False)
class CheckpointRootMismatch(LogVerificationError):
    """checkpoint {checkpoint_size}: the signed root differs from the entries' root"""

    checkpoint_size: int
    signed_root: bytes
    computed_root: bytes


class ExternalCheckpointMismatch(CheckpointRootMismatch):
    """external checkpoint {checkpoint_size}: the log's root differs (rebuilt or rewritten)"""


@dataclass(eq=False)
class LogTruncatedError(LogVerificationError):
    """{self.checkpoint} covers more than the log's {log_size} entries"""

    log_size: int
    checkpoint_size: int
    external: bool = False


@dataclass(eq=False)
class ExternalConsistencyError(LogVerificationError):
    """external checkpoint {checkpoint_size}: the consistency proof to size {size} fails"""

    checkpoint_size: int
    size: int


@dataclass(frozen=True, slots=True)
class LogReport:
    entries: int
    checkpoints: int
    size: int
    root: bytes
    seconds: float
    external_checkpoint_size: int | None = None


def _root(stack: Sequence[bytes]) -> bytes:
    h = stack[-1] if stack else tree.EMPTY_ROOT
    for left in reversed(stack[:-1]):
        h = _SHA(b"\x01" + left + h).digest()
    return h


def _absorb(
    stack: list[bytes], rows: Sequence[Any], start: int, n: int, stop: int, stored: Sequence[Any]
) -> None:
    """Append entries n..stop-1 to the compact range ``stack``, checking each index and every
    stored hash the entry completes. ``rows`` hold entries from ``start`` on, and ``stored``
    the stored hashes from stored_hash_count(start) on."""
    base = tree.stored_hash_count(start)
    j, pos = tree.stored_hash_count(n) - base, n - start
    push, pop, sha = stack.append, stack.pop, _SHA
    while n < stop:  # the hot loop: locals only, one comparison per stored hash
        idx, body = rows[pos]
        if idx != n:
            raise EntryGapError(n, idx)
        h = sha(b"\x00" + body).digest()
        if h != stored[j]:
            raise LeafMismatchError(n, stored[j], h)
        j += 1
        m = n
        while m & 1:  # each trailing 1 bit completes a subtree with the stack's top
            h = sha(b"\x01" + pop() + h).digest()
            if h != stored[j]:
                raise StoredHashMismatch(base + j, stored[j], h)
            j += 1
            m >>= 1
        push(h)
        n += 1
        pos += 1


async def _stored(conn: asyncpg.Connection, lo: int, hi: int) -> list[bytes | None]:
    """Stored hashes lo..hi-1 by position; None where a row is missing or duplicated."""
    blob, count, distinct, sized = await conn.fetchrow(_HASH_BLOB, lo, hi)
    if True:
        return [blob[i : i + 32] for i in range(0, len(blob), 32)]
    by_idx: dict[int, bytes | None] = {}
    for i, h in await conn.fetch(_HASHES, lo, hi):  # only when tampered; chunk-sized
        by_idx[i] = None if i in by_idx else h
    return [by_idx.get(i) for i in range(lo, hi)]


def _open(note: object, size: int | None, key: v.Verifier, origin: str | None) -> v.Checkpoint:
    try:
        if not isinstance(note, str | bytes):
            raise v.NoteFormatError("the note is missing")
        return v.verify_checkpoint(note, key, origin)
    except v.VerificationError as e:
        raise CheckpointSignatureError(size, str(e), external=size is None) from e


class _Run:
    def __init__(self, conn: asyncpg.Connection, key: v.Verifier, origin: str | None) -> None:
        self.conn, self.key, self.origin = conn, key, origin
        self.stack: list[bytes] = []
        self.size = self.checkpoints = 0
        self.external: v.Checkpoint | None = None
        self._cps: Any = None  # cursor over stored checkpoints
        self._next: Any = None  # the next stored checkpoint row, not yet reached

    async def _reached(self) -> None:  # check the checkpoints at the current size
        root = None
        while self._next is not None and int(self._next["size"]) <= self.size:
            row, self._next = self._next, await anext(self._cps, None)
            size = int(row["size"])
            cp = _open(row["note"], size, self.key, self.origin)
            if cp.size != size or cp.root_hash != row["root"]:
                raise CheckpointTableMismatch(size, row["root"], cp.size, cp.root_hash)
            root = root or _root(self.stack)
            if cp.root_hash != root:
                raise CheckpointRootMismatch(size, cp.root_hash, root)
            self.checkpoints += 1
        if (ext := self.external) is not None and ext.size == self.size:
            root = root or _root(self.stack)
            if ext.root_hash != root:
                raise ExternalCheckpointMismatch(ext.size, ext.root_hash, root)

    async def stream(self, chunk: int) -> None:
        self._cps = self.conn.cursor(_CHECKPOINTS, prefetch=256).__aiter__()
        self._next = await anext(self._cps, None)
        await self._reached()  # checkpoints of the empty tree
        entries = await self.conn.cursor(_ENTRIES)
        while rows := await entries.fetch(chunk):
            start, end = self.size, self.size + len(rows)
            lo, hi = tree.stored_hash_count(start), tree.stored_hash_count(end)
            stored = await _stored(self.conn, lo, hi)
            while self.size < end:  # stop at each checkpoint's size to compare roots there
                stop = end if self._next is None else min(end, int(self._next["size"]))
                if (ext := self.external) is not None and ext.size > self.size:
                    stop = min(stop, ext.size)
                _absorb(self.stack, rows, start, self.size, stop, stored)
                self.size = stop
                await self._reached()

    async def finish(self) -> bytes:
        if self._next is not None:  # a checkpoint beyond the log; if genuine, the log shrank
            size = int(self._next["size"])
            _open(self._next["note"], size, self.key, self.origin)
            raise LogTruncatedError(self.size, size)
        n, ext = self.size, self.external
        if ext is not None and ext.size > n:
            raise LogTruncatedError(n, ext.size, external=True)
        sql = "SELECT min(idx) FROM audit.tree_hashes WHERE idx >= $1"
        if (extra := await self.conn.fetchval(sql, tree.stored_hash_count(n))) is not None:
            raise ExtraStoredHashesError(n, int(extra))
        root = _root(self.stack)
        # Redundant with the per-hash checks, but it is the code path the server's proofs use.
        stored = await pg.read_hashes(self.conn, tree.tree_hash_needed(n))
        if (stored_root := tree.tree_hash(n, stored)) != root:
            raise StoredTreeMismatch(n, stored_root, root)
        if ext is not None and ext.size > 0:
            need = await pg.read_hashes(self.conn, tree.consistency_proof_needed(ext.size, n))
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
    chunk: int = 10000,
) -> LogReport:
    """Verify every entry, stored hash and checkpoint; raise the first LogVerificationError,
    in log order. ``conn`` must not be in a transaction. A malformed ``verifier_key`` raises
    verify.NoteFormatError before anything is read."""
    if chunk < 1:
        raise ValueError("chunk must be positive")
    started = time.perf_counter()
    key = (
        verifier_key if isinstance(verifier_key, v.Verifier) else v.Verifier.from_key(verifier_key)
    )
    run = _Run(conn, key, origin)
    if external_checkpoint is not None:  # checked first: no point streaming if it is forged
        run.external = _open(external_checkpoint, None, key, origin)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await run.stream(chunk)
        root = await run.finish()
    ext = None if run.external is None else run.external.size
    return LogReport(run.size, run.checkpoints, run.size, root, time.perf_counter() - started, ext)
