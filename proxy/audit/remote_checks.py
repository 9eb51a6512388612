"""The checks of `audit verify --url` that need no entries: the served checkpoint, the witness
quorum, and the rollback check against a remembered checkpoint.

Failures carry their evidence (sizes, roots, which witness and why) and are
:class:`RemoteVerificationError` (exit 1); a key or state that does not belong to this log is a
:class:`RemoteSetupError` (exit 2): a configuration mistake is never reported as tampering.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from proxy.audit.remote_fetch import LogClient, RemoteSetupError
from proxy.audit.verify import (
    Checkpoint,
    UnverifiedNoteError,
    VerificationError,
    Verifier,
    open_signed_note,
    parse_checkpoint,
    verify_consistency,
)
from proxy.audit.verify_state import VerifiedState
from proxy.witness.cosignature import CosignatureError, CosignatureVerifier


class RemoteVerificationError(Exception):
    """The log does not verify (exit 1); the message names the index or checkpoint."""


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def describe(cp: Checkpoint) -> str:
    return f"size {cp.size}, root {b64(cp.root_hash)}"


class QuorumError(RemoteVerificationError):
    def __init__(self, cp: Checkpoint, found: int, quorum: int, why: Sequence[str]) -> None:
        detail = "; ".join(why) or "no witness keys given"
        super().__init__(
            f"checkpoint ({describe(cp)}): {found} valid cosignatures from distinct witness"
            f" keys, {quorum} required ({detail})"
        )
        self.checkpoint, self.found, self.quorum, self.why = cp, found, quorum, tuple(why)


class RollbackError(RemoteVerificationError):
    def __init__(self, remembered: VerifiedState, served: Checkpoint, why: str) -> None:
        super().__init__(
            f"rollback: the served checkpoint ({describe(served)}) {why} the remembered"
            f" checkpoint ({remembered.describe()})"
        )
        self.remembered, self.served = remembered, served


@dataclass(frozen=True)
class ServedCheckpoint:
    checkpoint: Checkpoint
    body: str  # the signed text
    lines: tuple[str, ...]  # every signature line, the log's and the witnesses'
    note: bytes


def open_served(note: bytes, key: Verifier) -> ServedCheckpoint:
    """The checkpoint, its log signature verified with ``key``, and its origin the key's name."""
    try:
        opened = open_signed_note(note, [key])
        cp = parse_checkpoint(opened.text)
    except UnverifiedNoteError as exc:
        raise RemoteSetupError(
            f"the served checkpoint has no signature by --key {key.name}+{key.key_hash:08x}"
            f" ({exc}): is --key this log's key, and --url this log?"
        ) from exc
    except VerificationError as exc:
        raise RemoteVerificationError(f"the served checkpoint does not verify: {exc}") from exc
    if cp.origin != key.name:
        raise RemoteSetupError(
            f"the checkpoint's origin is {cp.origin!r} but --key is named {key.name!r}"
        )
    text = note.decode()
    lines = text[len(opened.text) + 1 : -1].split("\n")
    return ServedCheckpoint(cp, opened.text, tuple(lines), note)


def check_quorum(
    served: ServedCheckpoint,
    witnesses: Sequence[CosignatureVerifier],
    quorum: int,
    now: int,
    max_age_s: int,
) -> tuple[str, ...]:
    """The names of the witnesses whose cosignature holds (distinct public keys, each at most
    once; not in the future, not older than ``max_age_s``); at least ``quorum`` of them."""
    cosigners: list[str] = []
    why: list[str] = []
    seen: set[bytes] = set()
    for w in witnesses:
        if w.public_key in seen:
            continue
        seen.add(w.public_key)
        try:
            w.verify(served.body, served.lines, now=now, max_age_s=max_age_s)
        except CosignatureError as exc:
            why.append(f"{w.name}: {exc}")
            continue
        cosigners.append(w.name)
    if len(cosigners) < quorum:
        raise QuorumError(served.checkpoint, len(cosigners), quorum, why)
    return tuple(cosigners)


async def check_extends(
    client: LogClient, remembered: VerifiedState | None, served: Checkpoint
) -> None:
    """``served`` extends the remembered checkpoint, proven by the server: else a rollback."""
    if remembered is None:
        return
    if served.size < remembered.size:
        raise RollbackError(remembered, served, "is smaller than")
    if served.size == remembered.size:
        if served.root_hash != remembered.root:
            raise RollbackError(remembered, served, "has the size but not the root of")
        return
    if remembered.size == 0:
        return
    proof = await client.consistency(remembered.size, served.size)
    if proof is None:
        raise RollbackError(remembered, served, "has no consistency proof from")
    try:
        verify_consistency(
            remembered.size, served.size, remembered.root, served.root_hash, proof.hashes
        )
    except VerificationError as exc:
        raise RollbackError(
            remembered, served, f"fails the consistency proof ({exc}) from"
        ) from exc
