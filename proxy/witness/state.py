"""The witness's memory: per log origin, the size and root hash it last cosigned (SQLite).

Checking a submission's old size against the recorded one, verifying its consistency proof
from the recorded root, and recording the new size and root happen inside one ``BEGIN
IMMEDIATE`` transaction, committed (WAL, synchronous=FULL) before any cosignature exists. So
two racing submissions serialize, and the loser gets a 409: the state never moves backwards,
even with two processes on one file. A file that is not this witness's state, or fails
SQLite's checks, stops the witness (fail closed) rather than being silently reinitialised,
because a witness that forgets what it cosigned will cosign a rewritten log.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from proxy.audit.verify import HASH_SIZE, VerificationError, verify_consistency
from proxy.witness.request import Refusal, Submission

APPLICATION_ID = 0x616C7077  # "alpw": marks the file as an alpr-proxy witness state
SCHEMA_VERSION = 1
MAX_EVIDENCE_ROWS = 10_000  # refused-but-signed submissions kept; only a log key can add rows
_log = logging.getLogger("alpr_proxy.witness")

_SCHEMA = """
CREATE TABLE logs (
    origin TEXT PRIMARY KEY,
    size INTEGER NOT NULL CHECK (typeof(size) = 'integer' AND size >= 0),
    root BLOB NOT NULL CHECK (typeof(root) = 'blob' AND length(root) = 32),
    checkpoint BLOB NOT NULL,  -- the signed note last cosigned, as received
    updated_at INTEGER NOT NULL
) STRICT;
CREATE TABLE evidence (  -- signed checkpoints refused with 409 (fork) or 422 (bad proof)
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    old_size INTEGER NOT NULL,
    proof BLOB NOT NULL,
    checkpoint BLOB NOT NULL
) STRICT;
"""


class StateError(Exception):
    """The state file is unreadable, corrupt, or not a witness state: refuse to run."""


@dataclass(frozen=True)
class LogState:
    origin: str
    size: int
    root: bytes
    updated_at: int


def _fail(path: Path, what: str) -> StateError:
    what = " ".join(what.split())
    return StateError(
        f"witness state {path}: {what}; refusing to run (restore it from a backup, or see "
        "the witness operator notes before starting a fresh state)"
    )


class WitnessState:
    """One open state file. Methods block: call them from one worker thread."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn, self.path = conn, path
        self._lock = threading.Lock()  # one transaction at a time on this connection

    @classmethod
    def open(cls, path: str | Path) -> WitnessState:
        p = Path(path)
        if p.exists() and (not p.is_file() or p.stat().st_size == 0):
            raise _fail(p, "exists but is empty or not a regular file")
        try:
            conn = sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=30)
        except sqlite3.Error as exc:
            raise _fail(p, f"cannot open ({exc})") from None
        try:
            _prepare(conn, p)
        except sqlite3.Error as exc:
            conn.close()
            raise _fail(p, f"unreadable ({exc})") from None
        except StateError:
            conn.close()
            raise
        return cls(conn, p)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def get(self, origin: str) -> LogState | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT size, root, updated_at FROM logs WHERE origin = ?", (origin,)
            ).fetchone()
        return None if row is None else LogState(origin, row[0], row[1], row[2])

    def evidence_count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM evidence").fetchone()[0])

    def advance(self, sub: Submission, now: int) -> None:
        """Record ``sub`` as the latest cosigned checkpoint of its log, or raise a 409/422
        :class:`Refusal`. Returns only once the new state is durably committed."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                refusal = self._check(sub, now)
                conn.execute("COMMIT")  # a refusal may have written evidence: keep it too
            except BaseException:
                if conn.in_transaction:  # also after a failed COMMIT (disk full, I/O error)
                    conn.execute("ROLLBACK")
                raise
            if refusal is not None:
                raise refusal

    def _check(self, sub: Submission, now: int) -> Refusal | None:
        row = self._conn.execute(
            "SELECT size, root FROM logs WHERE origin = ?", (sub.origin,)
        ).fetchone()
        size, root = (0, None) if row is None else (int(row[0]), bytes(row[1]))
        new = sub.checkpoint
        if sub.old_size != size:
            return Refusal(409, f"old size {sub.old_size}, but the witness is at {size}", size=size)
        if root is not None and new.size == size and new.root_hash != root:
            reason = f"same size {size}, different root hash: a fork of the log"
            return self._evidence(sub, now, Refusal(409, reason, size=size))
        if root is None or sub.old_size == 0:
            if sub.proof:  # tlog-witness: the proof from old size 0 MUST be empty
                return Refusal(422, "consistency proof from old size 0 must be empty")
        else:
            try:
                verify_consistency(size, new.size, root, new.root_hash, sub.proof)
            except VerificationError as exc:
                reason = f"consistency proof {size} -> {new.size} does not verify: {exc}"
                return self._evidence(sub, now, Refusal(422, reason))
        self._conn.execute(
            "INSERT INTO logs (origin, size, root, checkpoint, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET size = excluded.size,"
            " root = excluded.root, checkpoint = excluded.checkpoint,"
            " updated_at = excluded.updated_at",
            (sub.origin, new.size, new.root_hash, sub.note, now),
        )
        return None

    def _evidence(self, sub: Submission, now: int, refusal: Refusal) -> Refusal:
        """Keep a signed checkpoint the witness refused: it may prove the log misbehaved."""
        _log.warning("witness refused %s: %s", sub.origin, refusal.reason)
        count = self._conn.execute("SELECT count(*) FROM evidence").fetchone()[0]
        if count < MAX_EVIDENCE_ROWS:
            self._conn.execute(
                "INSERT INTO evidence (origin, received_at, status, reason, old_size, proof,"
                " checkpoint) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (sub.origin, now, refusal.status, refusal.reason, sub.old_size,
                 b"".join(sub.proof), sub.note),
            )  # fmt: skip
        return refusal


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
        raise _fail(path, "cannot use write-ahead logging (journal_mode=WAL)")
    conn.execute("PRAGMA synchronous = FULL")  # a commit survives power loss
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    if app_id == 0 and version == 0 and tables == 0:
        # One transaction: a crash leaves either an empty file or a complete state.
        conn.executescript(
            f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA application_id = {APPLICATION_ID};"
            f" PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        )
        return
    if app_id != APPLICATION_ID:
        raise _fail(path, f"not a witness state file (application_id {app_id:#x})")
    if version != SCHEMA_VERSION:
        raise _fail(path, f"schema version {version}, this witness knows {SCHEMA_VERSION}")
    check = conn.execute("PRAGMA quick_check").fetchall()
    if check != [("ok",)]:
        first = " ".join(str(check[0][0]).split())  # one line: messages may hold newlines
        raise _fail(path, f"integrity check failed: {first[:200]}")
    bad = conn.execute(
        "SELECT origin FROM logs WHERE typeof(size) != 'integer' OR size < 0"
        " OR typeof(root) != 'blob' OR length(root) != ?",
        (HASH_SIZE,),
    ).fetchone()
    if bad is not None:
        raise _fail(path, f"invalid record for origin {bad[0]!r}")
