"""Every change of an owner's grant keys in the operator's policy, derived from consecutive
``policy_loaded`` entries (SPEC §11). Changing an owner's ``grant_keys`` is how an operator
would try to take the pen back, so each change is listed with what the proxy made of it.

The keys the policy named come from each entry's ``policy`` text, what the proxy did from its
``grants`` section: ``refused`` (no valid ``<ORI>.keys`` note; the record keeps the owner's
keys and the owner shares with no one), ``authorised`` (a ``<ORI>.keys`` note signed by a
quorum of the keys on record moved the record), ``registered`` (no keys were on record, so the
operator's word was taken: a first registration, or one after a release) or ``restored`` (the
policy names the keys on record again, ending a refused change). Pure: parsed entries in.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Keys = tuple[tuple[str, ...], int]  # sorted vkeys, quorum

AUTHORISED = "authorised"
# In plain words, as the owner's transparency page says them.
OUTCOMES: dict[str, str] = {
    "refused": "not authorised by the agency: refused, and until the agency signs a key change"
    " its reads are shared with no one",
    AUTHORISED: "authorised by a key change the agency signed with its previous keys",
    "registered": "registered by the fusion center (no keys were on record)",
    "restored": "back to the agency's keys on record",
}


@dataclass(frozen=True, slots=True)
class OwnerKeyChange:
    owner: str
    index: int  # of the policy_loaded entry
    time: str  # the entry's
    change: str  # added | removed | replaced
    before: tuple[str, ...]  # vkeys the previous load's policy named for the owner
    after: tuple[str, ...]
    before_quorum: int
    after_quorum: int
    outcome: str  # a key of OUTCOMES

    @property
    def authorised(self) -> bool:
        return self.outcome == AUTHORISED


def key_label(vkey: str) -> str:
    """``name+hash`` of a vkey (the public key itself left out)."""
    return "+".join(vkey.split("+")[:2])


def policy_keys(entry: Mapping[str, Any]) -> dict[str, Keys]:
    """The grant keys the entry's policy text names, by owner; {} when it cannot be read."""
    try:
        agencies = tomllib.loads(entry["policy"]).get("agencies", [])
        return {
            a["ori"]: (tuple(sorted(a["grant_keys"])), int(a.get("grant_quorum", 1)))
            for a in agencies
            if a.get("grant_keys")
        }
    except (KeyError, TypeError, ValueError, AttributeError, tomllib.TOMLDecodeError):
        return {}


def _status(entry: Mapping[str, Any], owner: str) -> Mapping[str, Any]:
    grants = entry.get("grants")
    status = grants.get(owner) if isinstance(grants, Mapping) else None
    return status if isinstance(status, Mapping) else {}


def _outcome(prev: Mapping[str, Any], cur: Mapping[str, Any], after: Keys) -> str:
    if cur.get("reason") == "keys_changed":
        return "refused"
    if not prev.get("keys"):
        return "registered"
    if cur.get("keys_issued") != prev.get("keys_issued"):
        return AUTHORISED
    return "restored" if tuple(sorted(cur.get("keys") or ())) == after[0] else "registered"


def key_changes(entries: Iterable[tuple[int, Mapping[str, Any]]]) -> list[OwnerKeyChange]:
    """``entries``: every ``policy_loaded`` entry (index, parsed body) in index order."""
    out: list[OwnerKeyChange] = []
    prev_keys: dict[str, Keys] = {}
    prev: Mapping[str, Any] = {}
    for index, entry in entries:
        keys = policy_keys(entry)
        for owner in sorted(set(prev_keys) | set(keys)):
            before, after = prev_keys.get(owner, ((), 0)), keys.get(owner, ((), 0))
            if before == after:
                continue
            change = "added" if not before[0] else "removed" if not after[0] else "replaced"
            outcome = _outcome(_status(prev, owner), _status(entry, owner), after)
            time = entry.get("time")
            out.append(
                OwnerKeyChange(
                    owner, index, time if isinstance(time, str) else "", change,
                    before[0], after[0], before[1], after[1], outcome,
                )
            )  # fmt: skip
        prev_keys, prev = keys, entry
    return out
