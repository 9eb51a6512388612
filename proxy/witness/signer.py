"""The witness's Ed25519 key: files, vkeys and cosigning (tlog-cosignature v1).

The key file holds ``PRIVATE+KEY+<name>+<key ID>+base64(0x04 || 32-byte seed)``: the layout of
Go's note signer keys, with the cosignature type byte, so the file says what the key is for and
can never be mistaken for (or loaded as) a log-signing key of type 0x01.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proxy.audit.verify import is_valid_key_name
from proxy.witness.cosignature import (
    ALG_COSIGNATURE_V1,
    CosignatureLine,
    CosignatureVerifier,
    key_id,
    signed_message,
)

_HEX8 = re.compile(r"[0-9a-fA-F]{8}\Z")


class WitnessKeyError(ValueError):
    """A witness key file or name is unusable (messages never echo the secret)."""


@dataclass(frozen=True, eq=False)
class WitnessSigner:
    name: str
    key_id: int
    private_key: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> WitnessSigner:
        if not isinstance(name, str) or not is_valid_key_name(name):
            raise WitnessKeyError(f"invalid key name {name!r}: non-empty, no spaces, no '+'")
        if len(seed) != 32:
            raise WitnessKeyError("Ed25519 seed must be 32 bytes")
        private_key = Ed25519PrivateKey.from_private_bytes(seed)
        return cls(name, key_id(name, private_key.public_key().public_bytes_raw()), private_key)

    @classmethod
    def generate(cls, name: str) -> WitnessSigner:
        return cls.from_seed(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_private_key(cls, skey: str) -> WitnessSigner:
        """Parse ``PRIVATE+KEY+name+%08x+base64(0x04 || seed)``."""
        parts = skey.strip().split("+", 4)  # the base64 tail may itself contain '+'
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise WitnessKeyError("malformed witness key: want PRIVATE+KEY+name+keyid+key")
        _, _, name, hex8, key64 = parts
        if not _HEX8.match(hex8):
            raise WitnessKeyError("malformed witness key: key ID must be 8 hex digits")
        try:
            raw = base64.b64decode(key64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise WitnessKeyError("malformed witness key: bad base64") from None
        if len(raw) != 33:
            raise WitnessKeyError("malformed witness key: want a type byte and a 32-byte seed")
        if raw[0] != ALG_COSIGNATURE_V1:
            raise WitnessKeyError(
                f"not a witness key: type 0x{raw[0]:02x}, want 0x04 "
                "(a log-signing key cannot be used as a witness key)"
            )
        signer = cls.from_seed(name, raw[1:])
        if signer.key_id != int(hex8, 16):
            raise WitnessKeyError(f"witness key ID {hex8} does not match the key")
        return signer

    @property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes_raw()

    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.key_id, self.public_key)

    @property
    def vkey(self) -> str:
        """``name+%08x+base64(0x04 || pubkey)``: what log operators configure."""
        return self.verifier().vkey

    def private_key_string(self) -> str:
        seed = self.private_key.private_bytes_raw()
        key64 = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{key64}"

    def cosign(self, body: str, timestamp: int) -> CosignatureLine:
        """A cosignature v1 of the checkpoint ``body`` (note text, final newline included)."""
        signature = self.private_key.sign(signed_message(body, timestamp))
        return CosignatureLine(self.name, self.key_id, timestamp, signature)
