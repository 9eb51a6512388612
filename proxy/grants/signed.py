"""Opening an owner's signed note (a grant or a key change) against the owner's keys with a
quorum (SPEC §11). Pure: bytes and keys in, a ``SignedText`` out, or ``GrantRefused`` naming
the reason (a stable code, ``proxy.grants.reasons``) and the evidence.

As c2sp.org/signed-note says, signatures by keys that are not the owner's are ignored; a
signature by one of the owner's keys that does not verify rejects the note (the text was
altered, or the signature belongs to other text), and the quorum counts distinct public keys.
"""

from __future__ import annotations

import hashlib
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from proxy.audit.verify import (
    SIG_PREFIX,
    NoteFormatError,
    SignatureError,
    UnverifiedNoteError,
    Verifier,
    open_signed_note,
)
from proxy.grants.reasons import GrantRefused


@dataclass(frozen=True, slots=True)
class SignedText:
    text: str  # the signed text, through its final LF
    digest: str  # "sha256:" + hex SHA-256 of text
    signed_by: tuple[str, ...]  # key hashes as 8 lowercase hex digits, sorted


@dataclass(frozen=True, slots=True)
class Unverified:
    """A grant or key-change file split, nothing verified: for tools that must know whose it
    is (or add a signature) before they can check it."""

    text: str
    signatures: tuple[str, ...]  # the signature lines found, without their newline
    owner: str  # "" when the text names none
    deployment: str


def split_text(data: bytes) -> Unverified:
    """A signed note (text, blank line, "— " lines) or a bare text; GrantRefused(invalid)
    when it is neither or its text cannot be carried by a note."""
    try:
        whole = data.decode("utf-8")
    except UnicodeDecodeError:
        raise GrantRefused("invalid", "not UTF-8") from None
    cut = whole.rfind("\n\n")
    tail = whole[cut + 2 :]
    lines = tail[:-1].split("\n") if tail.endswith("\n") else []
    signed = cut >= 0 and bool(lines) and all(line.startswith(SIG_PREFIX) for line in lines)
    text = whole[: cut + 1] if signed else whole
    if (problem := text_problem(text)) is not None:
        raise GrantRefused("invalid", f"the text {problem}")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GrantRefused("invalid", f"not valid TOML: {exc}") from None
    owner, deployment = doc.get("owner"), doc.get("deployment")
    return Unverified(
        text,
        tuple(lines) if signed else (),
        owner if isinstance(owner, str) else "",
        deployment if isinstance(deployment, str) else "",
    )


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be carried by a note unaltered, or None."""
    if "\r" in text:
        return "contains a carriage return (CR): use LF line ends only"
    if "\t" in text:
        return "contains a tab"
    if any(unicodedata.category(c) == "Cc" and c != "\n" for c in text):  # C0, DEL, C1
        return "contains a control character"
    if not text.endswith("\n"):
        return "does not end with a line feed"
    return None


def text_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def open_owner_note(data: bytes, keys: Sequence[str], quorum: int) -> SignedText:
    """Verify ``data`` against ``keys``; at least ``quorum`` distinct keys must have signed."""
    try:
        verifiers = [Verifier.from_key(k) for k in keys]
        note = open_signed_note(data, verifiers)
    except UnverifiedNoteError:
        raise GrantRefused("unsigned", "no signature by any of the owner's keys") from None
    except SignatureError as exc:
        raise GrantRefused(
            "bad_signature",
            f"the signature by {exc.key_name}+{exc.key_hash:08x} does not verify (altered?)",
        ) from None
    except (NoteFormatError, ValueError) as exc:
        raise GrantRefused("invalid", f"not a signed note: {exc}") from None
    if (problem := text_problem(note.text)) is not None:
        raise GrantRefused("invalid", f"the text {problem}")
    by_hash = {(v.name, v.key_hash): v.public_key for v in verifiers}
    distinct = {by_hash[(s.name, s.key_hash)] for s in note.signatures}
    if len(distinct) < quorum:
        raise GrantRefused(
            "under_signed", f"signed by {len(distinct)} of the owner's keys, {quorum} required"
        )
    hashes = tuple(sorted(f"{s.key_hash:08x}" for s in note.signatures))
    return SignedText(note.text, text_digest(note.text), hashes)
