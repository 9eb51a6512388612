"""Who wrote an owner's sharing rules, for its transparency page (SPEC §11): the agency itself
(a signed grant in force: when, until when, with which keys, the SHA-256 of its text), the
fusion center (no grant keys: the operator's policy), or nobody (the agency registered keys
but no valid grant is in force, so it shares with no one; why, in plain words). And every
change of its grant keys in the operator's policy, from the log. Pure: the live holder's
statuses and the changes read from the log in, a plain view out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from proxy.grants import PLAIN_REASONS, OwnerStatus
from proxy.grants.key_history import OwnerKeyChange, key_label

AGENCY, OPERATOR, NO_GRANT = "agency", "operator", "none"


@dataclass(frozen=True, slots=True)
class Signing:
    author: str  # AGENCY | OPERATOR | NO_GRANT
    issued: datetime | None = None  # the grant in force (AGENCY)
    expires: datetime | None = None
    keys: tuple[str, ...] = ()  # name+hash of the keys that signed it (AGENCY)
    sha256: str | None = None
    reason: str | None = None  # plain words (NO_GRANT)
    key_changes: tuple[OwnerKeyChange, ...] = ()

    @property
    def label(self) -> str:
        """A few words for the index's mark."""
        return {
            AGENCY: "rules signed by the agency",
            OPERATOR: "rules written by the fusion center",
            NO_GRANT: "no valid signed grant: shared with no one",
        }[self.author]


def _names(status: OwnerStatus) -> dict[str, str]:
    """name+hash of each key on record, by its 8-hex-digit hash."""
    return {key_label(k).rpartition("+")[2]: key_label(k) for k in status.record.keys}


def signing_of(
    statuses: Mapping[str, OwnerStatus], ori: str, changes: tuple[OwnerKeyChange, ...] = ()
) -> Signing:
    status = statuses.get(ori)
    if status is None or (not status.record.keys and status.reason is None):
        return Signing(OPERATOR, key_changes=changes)  # no keys, or released to the operator
    g = status.in_force
    if g is None:
        reason = PLAIN_REASONS.get(status.reason or "", "the grant could not be checked")
        return Signing(NO_GRANT, reason=reason, key_changes=changes)
    names = _names(status)
    keys = tuple(names.get(h, h) for h in g.signed_by)
    return Signing(AGENCY, g.issued, g.expires, keys, g.sha256, key_changes=changes)
