"""Submitting one checkpoint to one witness (c2sp.org/tlog-witness ``add-checkpoint``).

The client side of SPEC §10: the request body is ``old N``, the consistency proof from the
witness's size to ours, a blank line and the signed checkpoint. A 409 teaches us the witness's
size (``text/x.tlog.size``); that number is unsigned, so it only ever selects which proof to send
next, or raises an alarm when it is above our size, and never changes what the log signs.
Outcomes are typed values, not exceptions: the pool counts and schedules on them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp

from proxy.audit.verify import (
    Checkpoint,
    VerificationError,
    Verifier,
    open_signed_note,
    parse_checkpoint,
)
from proxy.witness.cosignature import CosignatureError, CosignatureLine, CosignatureVerifier

SIZE_TYPE = "text/x.tlog.size"
MAX_ATTEMPTS = 4  # a 409 with a larger (still <= ours) size each time: racing submitters
_SIZE_BODY = re.compile(r"(0|[1-9][0-9]{0,18})\n?\Z")

Prover = Callable[[int, int], Awaitable[Sequence[bytes]]]  # prove(old, new) -> proof hashes


class WitnessConfigError(ValueError):
    """A ``[[log.witnesses]]`` entry that cannot be used; names the entry."""


@dataclass(frozen=True)
class WitnessEndpoint:
    """One configured witness: its name, submission prefix and cosignature key (type 0x04)."""

    name: str
    url: str  # the proxy POSTs {url}/add-checkpoint
    verifier: CosignatureVerifier

    @classmethod
    def from_config(cls, name: str, url: str, key: str) -> WitnessEndpoint:
        try:
            verifier = CosignatureVerifier.from_vkey(key)
        except CosignatureError as exc:
            raise WitnessConfigError(f"witness {name!r}: {exc}") from None
        if verifier.name != name:
            raise WitnessConfigError(f"witness {name!r}: its key is named {verifier.name!r}")
        if not url.startswith(("http://", "https://")):
            raise WitnessConfigError(f"witness {name!r}: url must be http(s), got {url!r}")
        return cls(name, url.rstrip("/"), verifier)

    @property
    def vkey(self) -> str:
        return self.verifier.vkey


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint as the log signed it: the note bytes, its text and the parsed body."""

    note: bytes
    body: str
    checkpoint: Checkpoint

    @classmethod
    def open(cls, note: bytes, log_key: Verifier) -> SignedCheckpoint:
        """Verify with the log key. Other signature lines are refused: what we serve is this
        note plus witness lines, so anything else in it would be served unverified."""
        opened = open_signed_note(note, [log_key])
        if opened.unverified:
            names = ", ".join(f"{s.name}+{s.key_hash:08x}" for s in opened.unverified)
            raise VerificationError(f"checkpoint note carries signatures by other keys: {names}")
        return cls(note, opened.text, parse_checkpoint(opened.text))

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root_hash


@dataclass(frozen=True)
class Cosigned:
    witness: str
    size: int
    cosignature: CosignatureLine  # verified against the witness's key over this checkpoint

    @property
    def witness_size(self) -> int:
        return self.size


@dataclass(frozen=True)
class WitnessAhead:
    """ALARM: the witness says it cosigned a larger tree than the one we submitted. Either our
    checkpoint is stale (another process signed a newer one) or our log lost history."""

    witness: str
    size: int
    witness_size: int


@dataclass(frozen=True)
class Forked:
    """ALARM: the witness holds another root at our checkpoint's size (409 at old == size)."""

    witness: str
    size: int
    witness_size: int


@dataclass(frozen=True)
class Failed:
    """No cosignature: ``status`` is the HTTP status, None for transport errors and timeouts."""

    witness: str
    size: int
    status: int | None
    reason: str
    witness_size: int | None = None  # learned from a 409, when there was one


Outcome = Cosigned | WitnessAhead | Forked | Failed


def request_body(old: int, proof: Sequence[bytes], note: bytes) -> bytes:
    lines = [f"old {old}\n", *(base64.b64encode(h).decode() + "\n" for h in proof)]
    return "".join(lines).encode() + b"\n" + note


def parse_size(content_type: str, body: bytes) -> int | None:
    """The witness's size from a 409 body, or None if it is not a ``text/x.tlog.size``."""
    if content_type.split(";")[0].strip().lower() != SIZE_TYPE:
        return None
    match = _SIZE_BODY.match(body.decode("ascii", "replace"))
    return int(match.group(1)) if match and int(match.group(1)) < 2**63 else None


async def _post(
    session: aiohttp.ClientSession, endpoint: WitnessEndpoint, body: bytes, timeout_s: float
) -> tuple[int, str, bytes]:
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with session.post(
        f"{endpoint.url}/add-checkpoint", data=body, timeout=timeout, allow_redirects=False
    ) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.content.read(65536)


def _cosigned(endpoint: WitnessEndpoint, cp: SignedCheckpoint, text: bytes) -> Outcome:
    try:
        lines = text.decode("utf-8").splitlines(keepends=True)
        sig = endpoint.verifier.verify(cp.body, lines)
    except (UnicodeDecodeError, CosignatureError) as exc:
        # A 200 without a valid cosignature is a broken or hostile witness: count it as such.
        return Failed(endpoint.name, cp.size, 200, f"invalid cosignature: {exc}")
    return Cosigned(endpoint.name, cp.size, sig)


async def submit_checkpoint(
    session: aiohttp.ClientSession,
    endpoint: WitnessEndpoint,
    cp: SignedCheckpoint,
    known_size: int,
    prove: Prover,
    *,
    timeout_s: float = 5.0,
) -> Outcome:
    """Submit ``cp`` claiming the witness is at ``known_size``; on a 409, retry from the size it
    names while that size grows and stays at or below ours (racing submitters converge)."""
    if known_size > cp.size:
        return WitnessAhead(endpoint.name, cp.size, known_size)
    old, learned = known_size, None
    for _ in range(MAX_ATTEMPTS):
        try:
            proof = await prove(old, cp.size) if 0 < old < cp.size else ()
            status, ctype, text = await _post(
                session, endpoint, request_body(old, proof, cp.note), timeout_s
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}".strip(": ")
            return Failed(endpoint.name, cp.size, None, reason, learned)
        if status == 200:
            return _cosigned(endpoint, cp, text)
        size = parse_size(ctype, text) if status == 409 else None
        if size is None:
            reason = text[:200].decode("utf-8", "replace").strip()
            return Failed(endpoint.name, cp.size, status, reason or "no reason given", learned)
        learned = size
        if size > cp.size:
            return WitnessAhead(endpoint.name, cp.size, size)
        if size == old:  # it has our old size, so it refused the checkpoint itself
            return Forked(endpoint.name, cp.size, size)
        old = size
    return Failed(endpoint.name, cp.size, 409, f"still 409 after {MAX_ATTEMPTS} tries", learned)
