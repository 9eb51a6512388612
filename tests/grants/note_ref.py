"""A signer written from c2sp.org/signed-note alone, so the grant checks are tested against
signatures the proxy did not make. It imports nothing from proxy/.

Key ID: SHA-256(name || 0x0A || 0x01 || Ed25519 public key)[:4]; vkey
``name+hex(key ID)+base64(0x01 || key)``; a signature line ``— name base64(key ID || sig)``
over the text through its final newline; the note is text, a blank line, the lines."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

EM_DASH = "\u2014"
ED25519 = b"\x01"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class RefKey:
    def __init__(self, name: str) -> None:
        self.name = name
        self.private = Ed25519PrivateKey.generate()
        self.public = self.private.public_key().public_bytes_raw()
        self.key_id = hashlib.sha256(name.encode() + b"\n\x01" + self.public).digest()[:4]
        self.hash8 = self.key_id.hex()
        self.vkey = f"{name}+{self.hash8}+{_b64(ED25519 + self.public)}"

    @property
    def skey(self) -> str:
        """Go's note signer-key form: PRIVATE+KEY+name+hash+base64(0x01 || seed)."""
        seed = self.private.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{self.hash8}+{_b64(ED25519 + seed)}"

    def line(self, text: str) -> str:
        sig = self.key_id + self.private.sign(text.encode())
        return f"{EM_DASH} {self.name} {base64.b64encode(sig).decode()}\n"


def note(text: str, *keys: RefKey) -> bytes:
    return (text + "\n" + "".join(k.line(text) for k in keys)).encode()
