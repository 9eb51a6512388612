"""Parsing an ``add-checkpoint`` request body (c2sp.org/tlog-witness), pure.

The body is ``old <size>\\n``, up to 63 base64 consistency-proof lines, an empty line, and a
signed checkpoint. Checks run in the spec's order of precedence, so what a request learns
depends only on what it proves: 404 for an unknown origin, then 403 unless a trusted log key
signed it, then 400 for anything malformed. 409 and 422 need the witness's state (state.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from proxy.audit.verify import (
    HASH_SIZE,
    MAX_SIZE,
    Checkpoint,
    CheckpointFormatError,
    VerificationError,
    Verifier,
    open_signed_note,
    parse_checkpoint,
)
from proxy.witness.cosignature import CosignatureFormatError, decode_b64

MAX_PROOF_LINES = 63
_OLD_LINE = re.compile(r"old (0|[1-9][0-9]{0,18})\Z")


class Refusal(Exception):
    """An answer other than 200: the HTTP status and a one-line reason."""

    def __init__(self, status: int, reason: str, *, size: int | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason
        self.size = size  # the witness's size, for a 409's text/x.tlog.size body


@dataclass(frozen=True)
class Submission:
    origin: str
    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: Checkpoint
    body: str  # the checkpoint note text: exactly what the log signed and we cosign
    note: bytes  # the signed note as received, kept as evidence


def split_body(data: bytes) -> tuple[bytes, bytes]:
    """(header lines, signed note). Header lines are never empty, so the first empty line
    separates them from the checkpoint."""
    cut = data.find(b"\n\n")
    if cut < 0:
        raise Refusal(400, "no empty line between the old size and proof lines and the checkpoint")
    return data[: cut + 1], data[cut + 2 :]


def note_origin(note: bytes) -> str:
    first, sep, _ = note.partition(b"\n")
    try:
        origin = first.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "checkpoint origin line is not UTF-8") from None
    if not sep or not origin:
        raise Refusal(400, "no checkpoint origin line")
    return origin


def parse_header(header: bytes) -> tuple[int, tuple[bytes, ...]]:
    """``old <size>`` and the proof hashes."""
    try:
        lines = header.decode("ascii")[:-1].split("\n")
    except UnicodeDecodeError:
        raise Refusal(400, "old size and proof lines must be ASCII") from None
    match = _OLD_LINE.match(lines[0])
    if not match or int(match.group(1)) > MAX_SIZE:
        raise Refusal(400, f"bad old size line {lines[0][:40]!r}")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise Refusal(400, f"{len(lines) - 1} consistency proof lines, at most 63 allowed")
    proof = []
    for i, line in enumerate(lines[1:]):
        try:
            h = decode_b64(line, f"proof line {i + 1}")
        except CosignatureFormatError as exc:
            raise Refusal(400, str(exc)) from None
        if len(h) != HASH_SIZE:
            raise Refusal(400, f"proof line {i + 1}: {len(h)} bytes, want {HASH_SIZE}")
        proof.append(h)
    return int(match.group(1)), tuple(proof)


def parse_submission(data: bytes, log_keys: Mapping[str, Sequence[Verifier]]) -> Submission:
    """Check everything that does not need the witness's state, in the spec's order."""
    header, note = split_body(data)
    origin = note_origin(note)
    verifiers = log_keys.get(origin)
    if not verifiers:
        raise Refusal(404, f"unknown log origin {origin[:100]!r}")
    try:
        # Signatures by unknown keys are ignored; a bad one by a trusted key fails the note.
        text = open_signed_note(note, verifiers).text
    except VerificationError as exc:
        raise Refusal(403, f"no valid signature by a trusted key of this log: {exc}") from None
    try:
        checkpoint = parse_checkpoint(text)
    except CheckpointFormatError as exc:
        raise Refusal(400, f"malformed checkpoint: {exc}") from None
    old_size, proof = parse_header(header)
    if old_size > checkpoint.size:
        raise Refusal(400, f"old size {old_size} is larger than checkpoint size {checkpoint.size}")
    return Submission(origin, old_size, proof, checkpoint, text, note)
