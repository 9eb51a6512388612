"""An independent implementation, written from the C2SP texts and RFC 6962 alone, that the
tests check the witness against. It imports nothing from proxy/.

- c2sp.org/signed-note: notes, Ed25519 signatures (type 0x01), vkeys.
- c2sp.org/tlog-cosignature: Ed25519 cosignature/v1 (type 0x04), timestamped signatures.
- RFC 6962 §2.1: MTH and PROOF(m, D[n]) by the recursive definitions, deliberately slow.
"""

from __future__ import annotations

import base64
import hashlib
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

EM_DASH = "\u2014"


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    return _sha(name.encode() + b"\x0a" + bytes([sig_type]) + public_key)[:4]


def vkey(name: str, sig_type: int, public_key: bytes) -> str:
    """``<name>+<hex key ID>+<base64(type || key)>``."""
    kid = key_id(name, sig_type, public_key).hex()
    return f"{name}+{kid}+{base64.b64encode(bytes([sig_type]) + public_key).decode()}"


def parse_vkey(text: str) -> tuple[str, int, bytes, bytes]:
    """(name, type, public key, key ID); checks the key ID."""
    name, kid_hex, b64 = text.split("+", 2)
    raw = base64.b64decode(b64, validate=True)
    kid = bytes.fromhex(kid_hex)
    assert key_id(name, raw[0], raw[1:]) == kid, "key ID does not match"
    return name, raw[0], raw[1:], kid


class LogKey:
    """A log's Ed25519 note key (type 0x01): signs checkpoints the way a log does."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.private = Ed25519PrivateKey.generate()
        self.public = self.private.public_key().public_bytes_raw()
        self.vkey = vkey(name, 0x01, self.public)

    def sign_line(self, text: str) -> str:
        sig = key_id(self.name, 0x01, self.public) + self.private.sign(text.encode())
        return f"{EM_DASH} {self.name} {base64.b64encode(sig).decode()}\n"


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def signed_note(body: str, *lines: str) -> str:
    return body + "\n" + "".join(lines)


def split_note(note: str) -> tuple[str, list[str]]:
    """(text, signature lines): the text ends at the last blank line."""
    cut = note.rindex("\n\n")
    return note[: cut + 1], note[cut + 2 :].splitlines()


def verify_cosignature(body: str, line: str, witness_vkey: str) -> int:
    """Check one cosignature line against a type 0x04 vkey; returns its timestamp."""
    name, sig_type, public, kid = parse_vkey(witness_vkey)
    assert sig_type == 0x04, "not a cosignature/v1 key"
    prefix = f"{EM_DASH} {name} "
    assert line.startswith(prefix) and line.endswith("\n"), repr(line)
    raw = base64.b64decode(line[len(prefix) : -1], validate=True)
    assert len(raw) == 4 + 8 + 64, len(raw)
    assert raw[:4] == kid, "key ID"
    (timestamp,) = struct.unpack(">Q", raw[4:12])
    assert timestamp < 2**63
    message = b"cosignature/v1\n" + f"time {timestamp}\n".encode() + body.encode()
    Ed25519PublicKey.from_public_bytes(public).verify(raw[12:], message)  # raises if bad
    return timestamp


# --- RFC 6962 §2.1 ---------------------------------------------------------------------------


def leaf(data: bytes) -> bytes:
    return _sha(b"\x00" + data)


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(entries: list[bytes]) -> bytes:
    n = len(entries)
    if n == 0:
        return _sha(b"")
    if n == 1:
        return leaf(entries[0])
    k = _k(n)
    return _sha(b"\x01" + mth(entries[:k]) + mth(entries[k:]))


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if m <= k:
        return [*_subproof(m, d[:k], b), mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), mth(d[:k])]


def consistency_proof(m: int, entries: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m <= n."""
    assert 0 < m <= len(entries)
    return _subproof(m, entries, True)


def entries(n: int, tag: str = "e") -> list[bytes]:
    return [f'{{"{tag}":{i}}}'.encode() for i in range(n)]
