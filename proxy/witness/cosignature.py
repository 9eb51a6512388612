"""c2sp.org/tlog-cosignature v1 with Ed25519 (pure: no I/O, no clock).

A cosignature is a signed-note signature line ``— <name> base64(key ID || timestamped sig)``:
key ID = SHA-256(name || "\\n" || 0x04 || pubkey)[:4]; the signature is a big-endian u64 POSIX
timestamp followed by Ed25519 over ``cosignature/v1\\ntime <t>\\n`` + the checkpoint body.
Failures raise :class:`CosignatureError` subclasses that carry the evidence.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proxy.audit.verify import MAX_SIZE, SIG_PREFIX, VerificationError, is_valid_key_name

ALG_COSIGNATURE_V1 = 0x04  # signed-note signature type: timestamped Ed25519 cosignature
HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = MAX_SIZE  # tlog-cosignature: MUST NOT exceed 2^63 - 1
_HEX8 = re.compile(r"[0-9a-fA-F]{8}\Z")


class CosignatureError(VerificationError):
    """Base class: a cosignature or witness key did not parse or verify."""


class CosignatureFormatError(CosignatureError):
    """Malformed signature line, vkey, timestamp or checkpoint body."""


class CosignatureSignatureError(CosignatureError):
    """The line names the key, but the Ed25519 signature does not verify."""

    def __init__(self, name: str, key_id: int, timestamp: int) -> None:
        super().__init__(f"invalid cosignature by {name}+{key_id:08x} (time {timestamp})")
        self.name, self.key_id, self.timestamp = name, key_id, timestamp


class CosignatureMissingError(CosignatureError):
    """No line is from the expected cosigner; ``found`` lists the (name, key ID)s seen."""

    def __init__(self, name: str, key_id: int, found: tuple[tuple[str, int], ...]) -> None:
        seen = ", ".join(f"{n}+{k:08x}" for n, k in found) or "none"
        super().__init__(f"no cosignature by {name}+{key_id:08x} (found: {seen})")
        self.name, self.key_id, self.found = name, key_id, found


class CosignatureTimeError(CosignatureError):
    """The timestamp is in the future, or older than the caller accepts."""

    def __init__(self, name: str, timestamp: int, now: int, why: str) -> None:
        super().__init__(f"cosignature by {name}: time {timestamp} {why} (now {now})")
        self.name, self.timestamp, self.now = name, timestamp, now


def key_id(name: str, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 key)[:4], big-endian."""
    data = name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big")


def check_body(body: str) -> None:
    """A checkpoint note body: newline-ended, no blank line, no control characters."""
    if not body.endswith("\n") or "\n\n" in body or body.startswith("\n"):
        raise CosignatureFormatError("checkpoint body must be non-empty newline-ended lines")
    if any(c < " " and c != "\n" for c in body):
        raise CosignatureFormatError("checkpoint body contains control characters")


def signed_message(body: str, timestamp: int) -> bytes:
    """The bytes an Ed25519 cosignature v1 signs."""
    check_timestamp(timestamp)
    check_body(body)
    return f"{HEADER}time {timestamp}\n{body}".encode()


def check_timestamp(timestamp: int) -> None:
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise CosignatureFormatError(f"timestamp must be an int, got {timestamp!r}")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureFormatError(f"timestamp {timestamp} is outside [0, 2^63)")


def decode_b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise CosignatureFormatError(f"{what}: bad base64 {text[:80]!r}") from None


@dataclass(frozen=True)
class CosignatureLine:
    """One parsed signature line that has the shape of an Ed25519 cosignature."""

    name: str
    key_id: int
    timestamp: int
    signature: bytes  # 64-byte Ed25519 signature

    def line(self) -> str:
        raw = self.key_id.to_bytes(4, "big") + self.timestamp.to_bytes(8, "big") + self.signature
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(raw).decode()}\n"


def parse_line(line: str) -> CosignatureLine:
    """Parse ``— name base64(key ID || u64 timestamp || 64-byte signature)`` (newline optional)."""
    text = line[:-1] if line.endswith("\n") else line
    if not text.startswith(SIG_PREFIX) or "\n" in text:
        raise CosignatureFormatError(f"not a signature line: {line[:60]!r}")
    name, sep, b64 = text[len(SIG_PREFIX) :].partition(" ")
    if not sep or not is_valid_key_name(name):
        raise CosignatureFormatError(f"malformed signature line {line[:60]!r}")
    raw = decode_b64(b64, f"signature by {name}")
    if len(raw) != 4 + 8 + 64:
        raise CosignatureFormatError(f"signature by {name}: {len(raw)} bytes, want 76")
    timestamp = int.from_bytes(raw[4:12], "big")
    check_timestamp(timestamp)
    return CosignatureLine(name, int.from_bytes(raw[:4], "big"), timestamp, raw[12:])


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's public key: name, key ID and raw Ed25519 key (a vkey of type 0x04)."""

    name: str
    key_id: int
    public_key: bytes

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        """Parse ``name+%08x+base64(0x04 || pubkey)``."""
        name, _, rest = vkey.strip().partition("+")
        hex8, _, key64 = rest.partition("+")
        if not is_valid_key_name(name) or not _HEX8.match(hex8):
            raise CosignatureFormatError(f"malformed witness vkey {vkey!r}")
        raw = decode_b64(key64, "witness vkey")
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            raise CosignatureFormatError(
                f"witness vkey {vkey!r}: want type 0x04 and a 32-byte Ed25519 key"
            )
        if int(hex8, 16) != key_id(name, raw[1:]):
            raise CosignatureFormatError(f"witness vkey {vkey!r}: key ID does not match the key")
        return cls(name, int(hex8, 16), raw[1:])

    @property
    def vkey(self) -> str:
        key64 = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{key64}"

    def matches(self, sig: CosignatureLine) -> bool:
        return sig.name == self.name and sig.key_id == self.key_id

    def verify_line(self, body: str, line: str | CosignatureLine) -> CosignatureLine:
        """Verify one cosignature line over the checkpoint ``body``; returns it parsed."""
        sig = parse_line(line) if isinstance(line, str) else line
        if not self.matches(sig):
            raise CosignatureMissingError(self.name, self.key_id, ((sig.name, sig.key_id),))
        message = signed_message(body, sig.timestamp)
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(sig.signature, message)
        except InvalidSignature:
            raise CosignatureSignatureError(sig.name, sig.key_id, sig.timestamp) from None
        return sig

    def verify(
        self,
        body: str,
        lines: Sequence[str],
        *,
        now: int | None = None,
        max_age_s: int | None = None,
    ) -> CosignatureLine:
        """This witness's cosignature among signature ``lines`` (others are ignored, as
        signed-note requires). As Go's note.Open, the first line with our name and key ID is
        the one that counts. With ``now``: a future timestamp, or one older than
        ``max_age_s``, fails."""
        found: list[tuple[str, int]] = []
        for line in lines:
            name, peeked = peek_key(line)
            if name != self.name:  # never parse lines of other keys: their format may differ
                found.append((name, peeked))
                continue
            sig = parse_line(line)
            if not self.matches(sig):
                found.append((sig.name, sig.key_id))
                continue
            self.verify_line(body, sig)
            check_age(sig, now, max_age_s)
            return sig
        raise CosignatureMissingError(self.name, self.key_id, tuple(found))


def peek_key(line: str) -> tuple[str, int]:
    """(key name, key ID) of any signature line, whatever its signature type."""
    if not line.startswith(SIG_PREFIX):
        raise CosignatureFormatError(f"not a signature line: {line[:60]!r}")
    name, _, b64 = line[len(SIG_PREFIX) :].rstrip("\n").partition(" ")
    raw = decode_b64(b64, f"signature by {name}")
    if len(raw) < 5:
        raise CosignatureFormatError(f"signature by {name} is too short")
    return name, int.from_bytes(raw[:4], "big")


def check_age(sig: CosignatureLine, now: int | None, max_age_s: int | None) -> None:
    if now is None:
        return
    if sig.timestamp > now:
        raise CosignatureTimeError(sig.name, sig.timestamp, now, "is in the future")
    if max_age_s is not None and now - sig.timestamp > max_age_s:
        raise CosignatureTimeError(sig.name, sig.timestamp, now, f"is older than {max_age_s}s")
