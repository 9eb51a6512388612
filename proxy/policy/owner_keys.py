"""An owner's grant keys on ``[[agencies]]`` (SPEC §11): ``grant_keys``, signed-note verifier
keys (``name+hash+base64(0x01 || key)``, Ed25519), and ``grant_quorum``, how many distinct
keys must sign a grant (default 1). What the keys sign is checked in ``proxy.grants``."""

from __future__ import annotations

from typing import Any

from proxy.audit.verify import NoteFormatError, Verifier
from proxy.policy._reader import Reader, join


def grant_keys(r: Reader, t: dict[str, Any], p: str) -> tuple[tuple[str, ...], int]:
    """The agency's vkeys (in file order) and quorum; errors recorded on ``r``."""

    def check(v: str) -> str | None:
        try:
            Verifier.from_key(v)
        except NoteFormatError:
            return f"{v!r} is not an Ed25519 signed-note verifier key (name+hash+base64)"
        return None

    keys = r.strings(t, p, "grant_keys", check)
    if len(set(keys)) != len(keys):
        r.err(join(p, "grant_keys"), "lists a key twice")
    if "grant_quorum" in t and "grant_keys" not in t:
        r.err(join(p, "grant_quorum"), "has no effect without grant_keys")
    if "grant_keys" in t and not t["grant_keys"]:
        r.err(join(p, "grant_keys"), "must not be empty (leave it out: the operator's rules)")
    quorum = r.integer(t, p, "grant_quorum", required=False) if "grant_quorum" in t else 1
    distinct = len({Verifier.from_key(k).public_key for k in keys if check(k) is None})
    if keys and quorum > distinct:
        r.err(join(p, "grant_quorum"), f"exceeds the {distinct} distinct keys in grant_keys")
    return keys, quorum
