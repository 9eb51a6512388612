"""Standalone verifier for the audit log: RFC 9162 proofs and C2SP signed checkpoints.

Self-contained (stdlib + ``cryptography``) so a third party can copy this one file. Input is
parsed into frozen dataclasses, then checked; failures raise VerificationError subclasses that
carry the evidence."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HASH_SIZE = 32
MAX_SIZE = 2**63 - 1  # tree sizes are PostgreSQL bigints
ALG_ED25519 = 0x01
MAX_SIGNATURES = 100  # as Go's note.Open; C2SP requires accepting at least 16
SIG_PREFIX = "\u2014 "  # EM DASH, space
_DECIMAL = re.compile(r"(0|[1-9][0-9]*)\Z")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}\Z")
ProofInput = str | bytes | Mapping[str, object]


def hash_leaf(entry: bytes) -> bytes:  # duplicated from tree.py so this file stands alone
    return hashlib.sha256(b"\x00" + entry).digest()


def _hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class VerificationError(Exception):
    """Base class: the input did not verify."""


class ProofFormatError(VerificationError):
    """Malformed proof input: bad base64, wrong hash or proof length, sizes out of range."""


class CheckpointFormatError(VerificationError):
    """Not a C2SP tlog-checkpoint body (or not for the expected origin)."""


class NoteFormatError(VerificationError):
    """Not a C2SP signed note, or a malformed verifier key string."""


class InclusionProofError(VerificationError):
    def __init__(self, index: int, size: int, expected_root: bytes, computed_root: bytes):
        super().__init__(f"inclusion of {index} in tree {size}: root mismatch")
        self.index, self.size = index, size
        self.expected_root, self.computed_root = expected_root, computed_root


class ConsistencyProofError(VerificationError):
    # old and new are (expected root, computed root) pairs.
    def __init__(
        self, old_size: int, size: int, old: tuple[bytes, bytes], new: tuple[bytes, bytes]
    ):
        which = "old" if old[0] != old[1] else "new"
        super().__init__(f"consistency {old_size} -> {size}: {which} root mismatch")
        self.old_size, self.size = old_size, size
        self.old_root, self.computed_old_root = old
        self.root, self.computed_root = new


class SignatureError(VerificationError):
    """A signature by a trusted key failed to verify."""

    def __init__(self, key_name: str, key_hash: int):
        super().__init__(f"invalid signature for key {key_name}+{key_hash:08x}")
        self.key_name, self.key_hash = key_name, key_hash


class UnverifiedNoteError(VerificationError):
    """Well-formed note without a signature from a trusted key; ``found``: (name, hash)s."""

    def __init__(self, found: tuple[tuple[str, int], ...]):
        names = ", ".join(f"{n}+{h:08x}" for n, h in found) or "none"
        super().__init__(f"note has no verifiable signatures (found: {names})")
        self.found = found


def _b64(text: object, what: str, error: type[VerificationError], size: int = -1) -> bytes:
    if not isinstance(text, str):
        raise error(f"{what}: expected a base64 string, got {type(text).__name__}")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as e:
        raise error(f"{what}: bad base64 {text[:80]!r}") from e
    if size >= 0 and len(raw) != size:
        raise error(f"{what}: {len(raw)} bytes, want {size}")
    return raw


@dataclass(frozen=True)
class InclusionProof:
    index: int
    size: int
    hashes: tuple[bytes, ...]


@dataclass(frozen=True)
class ConsistencyProof:
    old: int
    size: int
    hashes: tuple[bytes, ...]


def _size(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SIZE:
        raise ProofFormatError(f"{name} must be an integer in [0, 2^63), got {value!r}")
    return value


def _parse_proof(data: ProofInput, first: str) -> tuple[int, int, tuple[bytes, ...]]:
    obj: object = data
    if isinstance(data, str | bytes):
        try:
            obj = json.loads(data)
        except ValueError as e:  # JSONDecodeError and bad UTF-8 are both ValueErrors
            raise ProofFormatError(f"proof is not JSON: {e}") from e
    if not isinstance(obj, Mapping) or not isinstance(hashes := obj.get("hashes"), list):
        raise ProofFormatError('proof must be a JSON object with a "hashes" list')
    decoded = (_b64(h, f"hashes[{i}]", ProofFormatError, HASH_SIZE) for i, h in enumerate(hashes))
    return _size(first, obj.get(first)), _size("size", obj.get("size")), tuple(decoded)


def parse_inclusion_proof(data: ProofInput) -> InclusionProof:
    """``{"index":I,"size":N,"hashes":[base64...]}`` (SPEC §8)."""
    return InclusionProof(*_parse_proof(data, "index"))


def parse_consistency_proof(data: ProofInput) -> ConsistencyProof:
    """``{"old":M,"size":N,"hashes":[base64...]}`` (SPEC §8)."""
    return ConsistencyProof(*_parse_proof(data, "old"))


def _check_hashes(proof: Sequence[bytes], want: int) -> None:
    # The proof length is fixed by the sizes; checking it first makes a bad one a format error.
    if len(proof) != want:
        raise ProofFormatError(f"proof has {len(proof)} hashes, want {want}")
    if not all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in proof):
        raise ProofFormatError(f"proof hashes must be {HASH_SIZE} bytes each")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: ``leaf_hash`` is entry ``index`` of the tree (``size``, ``root``)."""
    if _size("index", index) >= _size("size", size):
        raise ProofFormatError(f"index {index} is not below tree size {size}")
    if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
        raise ProofFormatError(f"leaf hash must be {HASH_SIZE} bytes")
    inner = (index ^ (size - 1)).bit_length()
    _check_hashes(proof, inner + (index >> inner).bit_count())
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if fn & 1 or fn == sn:
            r = _hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _hash_children(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or r != root:
        raise InclusionProofError(index, size, root, r)


def verify_consistency(
    old_size: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: the tree (``size``, ``root``) extends (``old_size``, ``old_root``).
    As transparency-dev/merkle, old_size 0 is rejected (such a proof proves nothing), and
    equal sizes need an empty proof and identical roots."""
    if _size("size", size) < _size("old_size", old_size) or old_size == 0:
        raise ProofFormatError(f"need 0 < old size <= size, got {old_size} and {size}")
    if old_size == size:
        _check_hashes(proof, 0)
        if old_root != root:
            raise ConsistencyProofError(old_size, size, (old_root, old_root), (root, old_root))
        return
    inner = ((old_size - 1) ^ (size - 1)).bit_length()
    shift = (old_size & -old_size).bit_length() - 1
    seeded = old_size == 1 << shift  # then the old root is the first node, and not sent
    _check_hashes(proof, int(not seeded) + inner - shift + ((old_size - 1) >> inner).bit_count())
    path = [old_root, *proof] if seeded else list(proof)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if fn & 1 or fn == sn:
            fr, sr = _hash_children(c, fr), _hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _hash_children(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != old_root or sr != root:
        raise ConsistencyProofError(old_size, size, (old_root, fr), (root, sr))


def is_valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode white space, no '+' (c2sp.org/signed-note)."""
    # isspace() is Go's unicode.IsSpace plus U+001C..U+001F, which notes reject anyway.
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_hash(name: str, public_key: bytes) -> int:
    """C2SP key ID: SHA-256(name || 0x0A || 0x01 || 32-byte Ed25519 key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class Verifier:
    name: str
    key_hash: int
    public_key: bytes  # raw 32-byte Ed25519 key

    @classmethod
    def from_key(cls, vkey: str) -> Verifier:
        """Parse ``name+%08x+base64(0x01 || pubkey)`` as Go's note.NewVerifier."""
        name, _, rest = vkey.partition("+")
        hash16, _, key64 = rest.partition("+")
        if not is_valid_key_name(name) or not _HEX8.match(hash16):
            raise NoteFormatError(f"malformed verifier key {vkey!r}")
        key = _b64(key64, "verifier key", NoteFormatError, 33)
        if key[0] != ALG_ED25519 or int(hash16, 16) != key_hash(name, key[1:]):
            raise NoteFormatError(f"verifier key {vkey!r}: not Ed25519 or key hash mismatch")
        return cls(name, int(hash16, 16), key[1:])

    def verify(self, message: bytes, signature: bytes) -> None:
        try:  # OpenSSL also rejects signatures that are not 64 bytes
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature as e:
            raise SignatureError(self.name, self.key_hash) from e


@dataclass(frozen=True)
class Signature:
    name: str
    key_hash: int
    signature: bytes  # without the 4-byte key ID


@dataclass(frozen=True)
class Note:
    text: str  # ends in "\n"; exactly the signed bytes
    signatures: tuple[Signature, ...]  # verified
    unverified: tuple[Signature, ...] = ()  # by unknown keys, ignored as C2SP requires


def parse_signature(line: str) -> Signature:
    if not line.startswith(SIG_PREFIX):
        raise NoteFormatError(f"signature line does not start with an em dash: {line[:40]!r}")
    name, _, b64 = line[len(SIG_PREFIX) :].partition(" ")
    if not is_valid_key_name(name) or not b64:
        raise NoteFormatError(f"malformed signature line {line[:60]!r}")
    raw = _b64(b64, f"signature by {name}", NoteFormatError)
    if len(raw) < 5:
        raise NoteFormatError(f"signature by {name} is too short")
    return Signature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def _text(data: str | bytes, error: type[VerificationError]) -> str:
    try:
        text = data if isinstance(data, str) else data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error("not valid UTF-8") from e
    if any(c < " " and c != "\n" for c in text):  # C2SP: no ASCII controls but newline
        raise error("contains control characters")
    return text


def open_signed_note(note: str | bytes, verifiers: Sequence[Verifier]) -> Note:
    """Parse and verify a signed note as Go's note.Open: signatures by unknown keys are
    ignored, a bad signature by a trusted key fails the note, and one must verify."""
    whole = _text(note, NoteFormatError)
    split = whole.rfind("\n\n")  # the text may contain blank lines; the last one separates
    text, sigs = whole[: split + 1], whole[split + 2 :]
    if split < 0 or not sigs.endswith("\n"):
        raise NoteFormatError("note needs text, a blank line, and newline-ended signatures")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteFormatError(f"more than {MAX_SIGNATURES} signatures")
    known = {(v.name, v.key_hash): v for v in verifiers}
    if len(known) != len(verifiers):
        raise ValueError("ambiguous verifiers: two share a key name and hash")
    verified: dict[tuple[str, int], Signature] = {}
    unverified: list[Signature] = []
    for sig in map(parse_signature, lines):
        if (key := (sig.name, sig.key_hash)) not in known:
            unverified.append(sig)
        elif key not in verified:  # as Go, later signatures by the same key are ignored
            known[key].verify(text.encode(), sig.signature)
            verified[key] = sig
    if not verified:
        raise UnverifiedNoteError(tuple((s.name, s.key_hash) for s in unverified))
    return Note(text, tuple(verified.values()), tuple(unverified))


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """Parse the note text of a c2sp.org/tlog-checkpoint (not the signatures)."""
    text = _text(text, CheckpointFormatError)
    lines = text[:-1].split("\n")
    if not text.endswith("\n") or len(lines) < 3 or not all(lines):
        raise CheckpointFormatError("want origin, size, root and extensions: non-empty lines")
    origin, size_line, root_line, *extensions = lines
    # No leading zeros, sign, '_' or non-ASCII digits, all of which int() alone would accept.
    if not _DECIMAL.match(size_line) or len(size_line) > 19 or int(size_line) > MAX_SIZE:
        raise CheckpointFormatError(f"bad tree size {size_line!r}")
    root = _b64(root_line, "root hash", CheckpointFormatError, HASH_SIZE)
    if base64.b64encode(root).decode() != root_line:
        raise CheckpointFormatError(f"root hash {root_line!r} is not canonical base64")
    return Checkpoint(origin, int(size_line), root, tuple(extensions))


def verify_checkpoint(
    note: str | bytes, vkey: str | Verifier, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint against one trusted key and return its parsed body."""
    verifier = vkey if isinstance(vkey, Verifier) else Verifier.from_key(vkey)
    checkpoint = parse_checkpoint(open_signed_note(note, [verifier]).text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointFormatError(f"origin {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint
