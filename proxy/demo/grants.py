"""The demo's signed sharing grants (SPEC §11): two owners, Oakland PD and Piedmont PD, sign
their own rules instead of leaving them to the operator.

At first start the demo makes each owner an Ed25519 grant key (DIR/grant-keys/<ORI>.key, owner
only), writes their vkeys as ``grant_keys`` into the demo policy, drafts a grant that names by
ORI the agencies the owner shares with today (what ``alpr-proxy grant draft`` writes) and signs
it into DIR/grants/<ORI>.grant. A restart keeps the keys and a grant still in force: a grant is
re-issued, dated now, only when it is missing, no longer verifies, or has under
``RENEW_DAYS`` left, so it is never older than the one the log recorded (no rollback).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from proxy.audit.note import Signer, generate_signer_key
from proxy.cli.credentials import write_secret
from proxy.demo.city import OAKLAND_PD, PIEDMONT_PD
from proxy.grants import GrantRefused, check_grant, draft_grant
from proxy.policy.document import parse_policy

GRANT_OWNERS: Final = {
    OAKLAND_PD: "oaklandca.demo.invalid/grants",
    PIEDMONT_PD: "piedmont.demo.invalid/grants",
}
KEYS_DIR: Final = "grant-keys"
GRANTS_DIR: Final = "grants"
GRANT_DAYS: Final = 365
RENEW_DAYS: Final = 30
# What the operator's rules gave these owners before they signed: California public agencies.
SHARED_KINDS: Final = ("local", "state", "tribal")
SHARED_STATES: Final = ("CA",)


@dataclass(frozen=True, slots=True)
class OwnerKey:
    ori: str
    key_file: Path
    vkey: str


@dataclass(frozen=True, slots=True)
class IssuedGrant:
    ori: str
    path: Path
    issued_now: bool  # False: the grant from an earlier run is still in force and kept


def owner_keys(data_dir: Path) -> dict[str, OwnerKey]:
    """Each grant owner's key, made at first start and reused after."""
    keys_dir = data_dir / KEYS_DIR
    keys_dir.mkdir(mode=0o700, exist_ok=True)
    out = {}
    for ori, name in GRANT_OWNERS.items():
        path = keys_dir / f"{ori}.key"
        if not path.exists():
            write_secret(path, (generate_signer_key(name)[0] + "\n").encode())
        signer = Signer.from_private_key(path.read_text(encoding="utf-8").strip())
        out[ori] = OwnerKey(ori, path, signer.verifier_key)
    return out


def vkeys(keys: Mapping[str, OwnerKey]) -> dict[str, str]:
    return {ori: k.vkey for ori, k in keys.items()}


def _still_good(path: Path, key: OwnerKey, origin: str, now: datetime) -> bool:
    if not path.exists():
        return False
    try:
        grant = check_grant(path.read_bytes(), key.ori, [key.vkey], 1, origin, now)
    except GrantRefused:
        return False
    return grant.body.expires - now > timedelta(days=RENEW_DAYS)


def issue_grants(
    data_dir: Path, policy_text: str, keys: Mapping[str, OwnerKey], origin: str, now: datetime
) -> list[IssuedGrant]:
    """DIR/grants/<ORI>.grant for each owner, signed by its key, unless one is still good."""
    grants_dir = data_dir / GRANTS_DIR
    grants_dir.mkdir(exist_ok=True)
    policy = parse_policy(policy_text.encode())
    issued = now.replace(microsecond=0)
    out = []
    for ori, key in keys.items():
        path = grants_dir / f"{ori}.grant"
        if _still_good(path, key, origin, now):
            out.append(IssuedGrant(ori, path, False))
            continue
        text = draft_grant(
            policy,
            ori,
            kinds=SHARED_KINDS,
            states=SHARED_STATES,
            purposes=["*"],
            deployment=origin,
            issued=issued,
            expires=issued + timedelta(days=GRANT_DAYS),
        )
        signer = Signer.from_private_key(key.key_file.read_text(encoding="utf-8").strip())
        path.write_text(text + "\n" + signer.signature_line(text), encoding="utf-8")
        out.append(IssuedGrant(ori, path, True))
    return out
