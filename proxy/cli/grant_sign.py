"""`alpr-proxy grant sign --key FILE GRANT [--policy FILE]` (SPEC §11): sign a grant or
key-change text, or add a signature to an already signed note (the two-person rule).

The text is signed exactly as given: text a note cannot carry (CR, tabs, other control
characters, no final LF) is refused, never altered, and so is text that is not a valid grant
or key change. Existing signatures are verified first: with ``--policy``, every one must be a
valid signature by one of the owner's ``grant_keys``; without it, only one by the signing key
itself can be checked (and is refused as a repeat), the others are reported as unverified.
Only the signed note goes to stdout.
"""

from __future__ import annotations

import sys
import tomllib

from proxy.audit.note import Signer
from proxy.audit.verify import NoteFormatError, SignatureError, Verifier, parse_signature
from proxy.grants.reasons import GrantRefused
from proxy.grants.signed import Unverified, split_text
from proxy.policy.grant_body import parse_grant_body, parse_key_change_body
from proxy.policy.model import Policy, PolicyError

_PROG = "alpr-proxy grant sign"


def _refuse(message: str) -> int:
    print(f"{_PROG}: {message}", file=sys.stderr)
    return 1


def _check_body(note: Unverified) -> None:
    doc = tomllib.loads(note.text)  # split_text parsed it already
    try:
        (parse_key_change_body if "next_keys" in doc else parse_grant_body)(doc)
    except PolicyError as exc:
        raise GrantRefused("invalid", "; ".join(str(e) for e in exc.errors)) from None


def _verify_existing(note: Unverified, signer: Signer, policy: Policy | None) -> None:
    keys: dict[tuple[str, int], Verifier] = {(signer.name, signer.key_hash): signer.verifier()}
    agency = None if policy is None else policy.agencies.get(note.owner)
    if policy is not None:
        if agency is None or not agency.grant_keys:
            raise GrantRefused("wrong_owner", f"{note.owner!r} has no grant_keys in the policy")
        keys.update(((v.name, v.key_hash), v) for v in map(Verifier.from_key, agency.grant_keys))
    for line in note.signatures:
        try:
            sig = parse_signature(line)
        except NoteFormatError as exc:
            raise GrantRefused("invalid", str(exc)) from None
        verifier = keys.get((sig.name, sig.key_hash))
        if verifier is None:
            if policy is not None:
                raise GrantRefused("invalid", f"signed by {sig.name}, not one of the owner's keys")
            print(f"{_PROG}: not verified (no --policy): {sig.name}", file=sys.stderr)
            continue
        try:
            verifier.verify(note.text.encode(), sig.signature)
        except SignatureError:
            raise GrantRefused(
                "bad_signature", f"the signature by {sig.name} does not verify"
            ) from None
        if verifier.key_hash == signer.key_hash and verifier.name == signer.name:
            raise GrantRefused("invalid", f"already signed by {signer.name}")
    if agency is not None and signer.verifier_key not in agency.grant_keys:
        print(f"{_PROG}: warning: {signer.name} is not one of the owner's keys", file=sys.stderr)


def sign_command(signer: Signer, data: bytes, policy: Policy | None) -> int:
    try:
        note = split_text(data)
        _check_body(note)
        _verify_existing(note, signer, policy)
    except GrantRefused as exc:
        return _refuse(f"{exc.reason}: {exc.detail}")
    lines = "".join(line + "\n" for line in note.signatures)
    signed = note.text + "\n" + lines + signer.signature_line(note.text)
    sys.stdout.buffer.write(signed.encode("utf-8"))  # the signed bytes, whatever the locale
    sys.stdout.flush()
    return 0
