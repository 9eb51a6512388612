"""The witness check of `alpr-proxy audit verify --config FILE --witness VKEY... [--quorum K]`
(SPEC §10): the newest stored checkpoint whose stored cosignatures verify from at least K
distinct given witness keys.

The database is not trusted: every stored line is re-verified against the given keys over the
checkpoint's body (timestamps must not be in the future), the note must verify with the log key,
and its root must equal the root of the stored hashes that verify_log checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from proxy.audit import postgres, tree
from proxy.audit import verify as v
from proxy.audit.cosignatures_pg import cosigned_checkpoints
from proxy.witness.cosignature import (
    CosignatureError,
    CosignatureVerifier,
    check_age,
    parse_line,
    peek_key,
)

PAGE = 64  # checkpoints read per query while looking for one that reached the quorum


class WitnessUsageError(ValueError):
    """A malformed --witness key or an impossible --quorum (exit 2)."""


@dataclass(frozen=True)
class WitnessPolicy:
    witnesses: tuple[CosignatureVerifier, ...]
    quorum: int


def parse_witnesses(vkeys: Sequence[str], quorum: int | None) -> WitnessPolicy:
    """The --witness keys and --quorum K (default: the number of distinct keys)."""
    try:
        witnesses = tuple(CosignatureVerifier.from_vkey(k) for k in vkeys)
    except CosignatureError as exc:
        raise WitnessUsageError(f"--witness: {exc}") from exc
    distinct = len({w.public_key for w in witnesses})
    k = distinct if quorum is None else quorum
    if not 0 <= k <= distinct:
        raise WitnessUsageError(f"--quorum {k}: want 0 to {distinct} (the distinct --witness keys)")
    return WitnessPolicy(witnesses, k)


@dataclass(frozen=True)
class Tally:
    """The valid cosignatures of one stored checkpoint, one name per distinct witness key."""

    size: int
    names: tuple[str, ...]


def tally(
    size: int, body: str, lines: Iterable[str], witnesses: Sequence[CosignatureVerifier], now: int
) -> Tally:
    """Which given witness keys have a valid line over ``body`` (any of their lines may be the
    valid one: a tampered or future-dated row proves nothing, the others still may)."""
    valid: dict[bytes, str] = {}
    for line in lines:
        try:
            name, key_id = peek_key(line)
            mine = [w for w in witnesses if w.name == name and w.key_id == key_id]
            if not mine or mine[0].public_key in valid:
                continue
            sig = mine[0].verify_line(body, parse_line(line))
            check_age(sig, now, None)
        except CosignatureError:
            continue
        valid[mine[0].public_key] = mine[0].name
    return Tally(size, tuple(sorted(valid.values())))


def checkpoint_body(size: int, note: str, key: v.Verifier) -> str | None:
    """The signed body of a stored note of this size, or None if it is not the log's."""
    try:
        text = v.open_signed_note(note, [key]).text
        return text if v.parse_checkpoint(text).size == size else None
    except v.VerificationError:
        return None


@dataclass(frozen=True)
class WitnessFinding:
    quorum: int
    witnessed: Tally | None  # the newest checkpoint that reached the quorum
    best: Tally | None  # without one: the checkpoint with the most valid cosignatures

    def lines(self, size: int) -> list[str]:
        """What to print after the log verified (``size`` entries); empty if it failed."""
        w = self.witnessed
        if w is None:
            return []
        names = ", ".join(w.names) if w.names else f"nobody (--quorum {self.quorum})"
        out = [f"witnessed: checkpoint {w.size} cosigned by {names}"]
        if w.size < size:
            out.append(
                f"unwitnessed: entries {w.size}..{size - 1} ({size - w.size}) are beyond the"
                " witnessed checkpoint"
            )
        return out

    def failure(self) -> str | None:
        if self.witnessed is not None:
            return None
        want = f"{self.quorum} valid cosignatures from distinct --witness keys required"
        b = self.best
        if b is None or not b.names:
            return f"no stored checkpoint has a valid cosignature from a --witness key ({want})"
        return (
            f"no stored checkpoint reached the witness quorum; the best, checkpoint {b.size},"
            f" has {len(b.names)} ({', '.join(b.names)}); {want}"
        )


async def _root_matches(conn: asyncpg.Connection, size: int, root: bytes) -> bool:
    stored = await postgres.read_hashes(conn, tree.tree_hash_needed(size))
    return tree.tree_hash(size, stored) == root


async def check_witnesses(
    conn: asyncpg.Connection, key: v.Verifier, policy: WitnessPolicy, covered: int, now: int
) -> WitnessFinding:
    """Search the stored checkpoints up to ``covered`` (the newest that verify_log checked),
    newest first, for one with ``policy.quorum`` valid cosignatures."""
    if policy.quorum == 0:
        return WitnessFinding(0, Tally(covered, ()), None)
    best: Tally | None = None
    below = covered + 1
    while page := await cosigned_checkpoints(conn, below, PAGE):
        for size, note, lines in page:
            body = checkpoint_body(size, note, key)
            if body is None:
                continue
            found = tally(size, body, lines, policy.witnesses, now)
            if len(found.names) >= policy.quorum:
                root = v.parse_checkpoint(body).root_hash
                if await _root_matches(conn, size, root):
                    return WitnessFinding(policy.quorum, found, best)
            elif best is None or len(found.names) > len(best.names):
                best = found
        below = page[-1][0]
    return WitnessFinding(policy.quorum, None, best)
