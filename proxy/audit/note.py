"""Signing side of C2SP signed notes and tlog-checkpoints (Ed25519).

Byte-for-byte compatible with Go's golang.org/x/mod/sumdb/note: the same key strings
(``PRIVATE+KEY+name+%08x+base64(0x01||seed)`` and ``name+%08x+base64(0x01||pubkey)``), the
same key hash, and the same note layout. Parsing and verification live in verify.py so that a
third party can copy that file alone; this module reuses its helpers.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proxy.audit.verify import (
    ALG_ED25519,
    HASH_SIZE,
    MAX_SIZE,
    SIG_PREFIX,
    Verifier,
    is_valid_key_name,
    key_hash,
)

__all__ = [
    "Signer",
    "format_checkpoint",
    "generate_signer_key",
    "sign_checkpoint",
    "sign_note",
]

_HEX8 = re.compile(r"[0-9a-fA-F]{8}\Z")


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not is_valid_key_name(name):
        raise ValueError(f"invalid key name {name!r}: must be non-empty, no spaces, no '+'")


def _has_control(text: str) -> bool:
    return any(c < " " and c != "\n" for c in text)


@dataclass(frozen=True, eq=False)
class Signer:
    """An Ed25519 note signer. Build it with :meth:`from_private_key` or :meth:`from_seed`."""

    name: str
    key_hash: int
    private_key: Ed25519PrivateKey = field(repr=False)  # never printed

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Signer:
        _check_name(name)
        if len(seed) != 32:
            raise ValueError("Ed25519 seed must be 32 bytes")
        private_key = Ed25519PrivateKey.from_private_bytes(seed)
        public_key = private_key.public_key().public_bytes_raw()
        return cls(name, key_hash(name, public_key), private_key)

    @classmethod
    def from_private_key(cls, skey: str) -> Signer:
        """Parse a Go note signer key ``PRIVATE+KEY+name+%08x+base64(0x01 || seed)``."""
        # Same chop-at-'+' steps as Go's NewSigner; the base64 tail may itself contain '+'.
        # Error messages never echo skey: it is a secret.
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ValueError("malformed signer key: want PRIVATE+KEY+name+hash+key")
        _, _, name, hash16, key64 = parts
        _check_name(name)
        if not _HEX8.match(hash16):
            raise ValueError("malformed signer key: key hash must be 8 hex digits")
        try:
            key = base64.b64decode(key64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise ValueError("malformed signer key: bad base64") from None
        if len(key) != 33 or key[0] != ALG_ED25519:
            raise ValueError("malformed signer key: not a 0x01-tagged 32-byte Ed25519 seed")
        signer = cls.from_seed(name, key[1:])
        if signer.key_hash != int(hash16, 16):
            raise ValueError(f"signer key hash {hash16} does not match the key")
        return signer

    @property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes_raw()

    @property
    def verifier_key(self) -> str:
        """The public ``name+%08x+base64(0x01 || pubkey)`` string to publish."""
        key64 = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_hash:08x}+{key64}"

    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key_hash, self.public_key)

    def private_key_string(self) -> str:
        seed = self.private_key.private_bytes_raw()
        key64 = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_hash:08x}+{key64}"

    def signature_line(self, text: str) -> str:
        """``— name base64(key hash || Ed25519(text))`` plus newline."""
        sig = self.private_key.sign(text.encode())
        b64 = base64.b64encode(self.key_hash.to_bytes(4, "big") + sig).decode()
        return f"{SIG_PREFIX}{self.name} {b64}\n"


def generate_signer_key(name: str) -> tuple[str, str]:
    """A fresh Ed25519 key pair as (private key string, verifier key string), like Go's
    note.GenerateKey."""
    _check_name(name)
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    signer = Signer.from_seed(name, seed)
    return signer.private_key_string(), signer.verifier_key


def sign_note(text: str, signer: Signer, *cosigners: Signer) -> bytes:
    """The signed note: text, a blank line, one signature line per signer.

    The signed message is ``text`` itself, final newline included.
    """
    if not text.endswith("\n"):
        raise ValueError("note text must end with a newline")
    # Go's Sign does not check these, but its Open rejects them: never emit an unopenable note.
    if _has_control(text):
        raise ValueError("note text must not contain control characters other than newline")
    return (text + "\n" + "".join(s.signature_line(text) for s in (signer, *cosigners))).encode()


def format_checkpoint(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> str:
    """c2sp.org/tlog-checkpoint note text: origin, decimal size, base64 root, extensions."""
    if not origin or "\n" in origin or _has_control(origin):
        raise ValueError("checkpoint origin must be one non-empty line")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SIZE:
        raise ValueError(f"checkpoint size must be an int in [0, 2^63), got {size!r}")
    if len(root) != HASH_SIZE:
        raise ValueError(f"root hash must be {HASH_SIZE} bytes, got {len(root)}")
    for ext in extensions:
        if not ext or "\n" in ext or _has_control(ext):
            raise ValueError(f"checkpoint extension must be one non-empty line: {ext!r}")
    lines = [origin, str(size), base64.b64encode(root).decode(), *extensions]
    return "".join(line + "\n" for line in lines)


def sign_checkpoint(
    origin: str, size: int, root: bytes, signer: Signer, extensions: Sequence[str] = ()
) -> bytes:
    """A signed checkpoint, exactly as served at ``GET /v1/log/checkpoint``."""
    return sign_note(format_checkpoint(origin, size, root, extensions), signer)
