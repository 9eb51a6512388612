"""The pure rules of a witnessed log (SPEC §10): no I/O, no clock.

- :func:`extends`: the proxy never signs a checkpoint that does not extend the last one it
  signed or saw cosigned.
- :func:`select_cosignatures` / :func:`witnessed`: which stored cosignatures count, one per
  configured witness, and whether they reach the quorum over distinct witness keys.
- :func:`served_note`: the note ``GET /v1/log/checkpoint`` serves.
- :func:`coverage`: the fail-closed rule for searches.
- :class:`CosignatureStore`: where cosignatures live (PostgreSQL in cosignatures_pg.py; the
  in-memory one here is for unit tests of the pure parts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from proxy.audit.verify import Checkpoint, VerificationError, verify_consistency
from proxy.witness.client import SignedCheckpoint, WitnessEndpoint
from proxy.witness.cosignature import CosignatureError, CosignatureLine, parse_line


class RewriteError(VerificationError):
    """A checkpoint that does not extend the last one signed or cosigned: signing it would
    fork the log. Carries both sides as evidence."""

    def __init__(self, previous: Checkpoint, candidate: Checkpoint, why: str) -> None:
        super().__init__(
            f"checkpoint {candidate.size} ({candidate.root_hash.hex()}) does not extend "
            f"{previous.size} ({previous.root_hash.hex()}): {why}"
        )
        self.previous, self.candidate, self.why = previous, candidate, why


def extends(previous: Checkpoint | None, candidate: Checkpoint, proof: Sequence[bytes]) -> None:
    """Raise :class:`RewriteError` unless ``candidate`` extends ``previous``: same origin; the
    same size only with the same root; a larger size only with a consistency ``proof`` that
    verifies; never a smaller size. ``previous`` None (nothing signed or seen yet) passes."""
    if previous is None:
        return
    if candidate.origin != previous.origin:
        raise RewriteError(previous, candidate, f"origin {candidate.origin!r} differs")
    if candidate.size < previous.size:
        raise RewriteError(previous, candidate, "the log is smaller than it was")
    if candidate.size == previous.size:
        if candidate.root_hash != previous.root_hash:
            raise RewriteError(previous, candidate, "same size, another root")
        return
    if previous.size == 0:
        return  # every tree extends the empty one; there is nothing to prove
    try:
        verify_consistency(
            previous.size, candidate.size, previous.root_hash, candidate.root_hash, proof
        )
    except VerificationError as exc:
        raise RewriteError(previous, candidate, f"consistency proof fails: {exc}") from None


@dataclass(frozen=True)
class StoredCosignature:
    """One row of the store: which witness key (its vkey) cosigned which checkpoint size."""

    size: int
    witness: str  # the witness's vkey, name+keyid+base64(0x04 || key)
    line: str  # the cosignature line, newline-ended, exactly as the witness sent it


class CosignatureStore(Protocol):
    """Append-only storage of verified cosignatures, keyed by checkpoint size."""

    async def add(self, size: int, witness: str, cosignature: CosignatureLine) -> None:
        """Store durably (idempotent: the same line twice is one row)."""
        ...

    async def load(self, size: int) -> list[StoredCosignature]:
        """Every cosignature stored for the checkpoint of this size (any order)."""
        ...

    async def sizes(self, limit: int) -> list[int]:
        """The largest checkpoint sizes that have any cosignature, largest first."""
        ...


class MemoryCosignatureStore:
    """In memory, for unit tests of the pure parts only: it forgets everything on exit."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, str, str], StoredCosignature] = {}

    async def add(self, size: int, witness: str, cosignature: CosignatureLine) -> None:
        line = cosignature.line()
        self.rows.setdefault((size, witness, line), StoredCosignature(size, witness, line))

    async def load(self, size: int) -> list[StoredCosignature]:
        return [row for key, row in self.rows.items() if key[0] == size]

    async def sizes(self, limit: int) -> list[int]:
        return sorted({key[0] for key in self.rows}, reverse=True)[:limit]


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """A checkpoint and one verified cosignature per configured witness that cosigned it."""

    checkpoint: SignedCheckpoint
    cosignatures: tuple[tuple[WitnessEndpoint, CosignatureLine], ...]  # in config order

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def distinct_keys(self) -> int:
        return len({w.verifier.public_key for w, _ in self.cosignatures})

    @cached_property
    def served(self) -> bytes:
        """The note to serve, built (and its lines re-verified) once per instance."""
        return served_note(self.checkpoint, self.cosignatures)

    def note(self) -> bytes:
        return self.served


def select_cosignatures(
    cp: SignedCheckpoint, rows: Iterable[StoredCosignature], witnesses: Sequence[WitnessEndpoint]
) -> tuple[tuple[WitnessEndpoint, CosignatureLine], ...]:
    """For each configured witness, its newest stored line that verifies over ``cp``: rows are
    re-verified because the database is not trusted, and rows of unconfigured keys ignored."""
    by_key: dict[str, list[str]] = {}
    for row in rows:
        if row.size == cp.size:
            by_key.setdefault(row.witness, []).append(row.line)
    chosen = []
    for w in witnesses:
        best: CosignatureLine | None = None
        for line in by_key.get(w.vkey, ()):
            try:
                sig = w.verifier.verify_line(cp.body, parse_line(line))
            except CosignatureError:
                continue  # a tampered or foreign row proves nothing; the others may
            if best is None or sig.timestamp > best.timestamp:
                best = sig
        if best is not None:
            chosen.append((w, best))
    return tuple(chosen)


def witnessed(
    cp: SignedCheckpoint,
    rows: Iterable[StoredCosignature],
    witnesses: Sequence[WitnessEndpoint],
    quorum: int,
) -> WitnessedCheckpoint | None:
    """``cp`` with its cosignatures if they come from at least ``quorum`` distinct witness
    public keys (two names for one key are one witness), else None."""
    found = WitnessedCheckpoint(cp, select_cosignatures(cp, rows, witnesses))
    return found if found.distinct_keys >= quorum else None


def served_note(
    cp: SignedCheckpoint, cosignatures: Sequence[tuple[WitnessEndpoint, CosignatureLine]]
) -> bytes:
    """The log's signed note, then exactly one cosignature line per configured witness, in
    the given order. Readers holding the log key alone ignore the extra lines (signed-note)."""
    lines, seen = [], set()
    for w, sig in cosignatures:
        if w.vkey in seen:
            raise ValueError(f"two cosignatures of witness {w.name} for one note")
        seen.add(w.vkey)
        lines.append(w.verifier.verify_line(cp.body, sig).line())
    return cp.note + "".join(lines).encode()


@dataclass(frozen=True)
class Coverage:
    """Whether searches may run: ``refuse`` when committed entries have stayed uncovered by a
    quorum checkpoint for longer than ``max_unwitnessed_s`` (SPEC §10)."""

    refuse: bool
    unwitnessed_s: float  # age of the oldest committed entry not covered; 0 when none
    witnessed_size: int  # entries [0, witnessed_size) are covered by a quorum checkpoint


def coverage(
    now: float, oldest_uncovered_at: float | None, witnessed_size: int, max_unwitnessed_s: float
) -> Coverage:
    """``oldest_uncovered_at``: commit time of entry ``witnessed_size`` (the first one no
    quorum checkpoint covers), None if the log has no such entry. A clock that went backwards
    counts as age 0 rather than as a reason to refuse."""
    if max_unwitnessed_s <= 0:
        raise ValueError("max_unwitnessed_s must be > 0 when witnesses are configured")
    age = 0.0 if oldest_uncovered_at is None else max(0.0, now - oldest_uncovered_at)
    return Coverage(age > max_unwitnessed_s, age, witnessed_size)
