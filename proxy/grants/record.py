"""What the audit log remembers per owner (SPEC §11), and each load's per-owner status.

Every ``policy_loaded`` entry carries, under ``grants``, one ``OwnerStatus`` per owner with
keys: the grant in force (or the reason none is) and the owner's record after that load: its
keys on record, the last grant that was ever in force (for no-rollback) and the last key
change. So the latest ``policy_loaded`` entry alone is the record: a restarted proxy, or one on
a wiped host, reads it back from the log (``record_from_entry``), and each entry can be checked
against the one before it by replaying the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class RecordError(ValueError):
    """A ``policy_loaded`` entry's ``grants`` section this version cannot read."""


@dataclass(frozen=True, slots=True)
class LastGrant:
    issued: datetime
    sha256: str


@dataclass(frozen=True, slots=True)
class OwnerRecord:
    keys: tuple[str, ...]  # the owner's vkeys on record; () once released to the operator
    quorum: int
    last_grant: LastGrant | None  # the last grant in force, ever
    keys_issued: datetime | None  # `issued` of the last key change accepted


@dataclass(frozen=True, slots=True)
class InForce:
    issued: datetime
    expires: datetime
    signed_by: tuple[str, ...]  # key hashes, 8 lowercase hex digits
    sha256: str  # "sha256:" + hex of the text through the final LF
    retention_days: int | None
    text: str


@dataclass(frozen=True, slots=True)
class OwnerStatus:
    owner: str
    record: OwnerRecord  # after this load
    in_force: InForce | None
    reason: str | None  # a key of proxy.grants.reasons.REASONS when nothing is in force
    detail: str | None

    def to_json(self) -> dict[str, Any]:
        g, r = self.in_force, self.record
        return {
            "keys": list(r.keys),
            "quorum": r.quorum,
            "in_force": None
            if g is None
            else {
                "issued": g.issued.isoformat(),
                "expires": g.expires.isoformat(),
                "signed_by": list(g.signed_by),
                "sha256": g.sha256,
                "retention_days": g.retention_days,
                "text": g.text,
            },
            "reason": self.reason,
            "detail": self.detail,
            "last_in_force": None
            if r.last_grant is None
            else {"issued": r.last_grant.issued.isoformat(), "sha256": r.last_grant.sha256},
            "keys_issued": None if r.keys_issued is None else r.keys_issued.isoformat(),
        }


def _when(value: object) -> datetime:
    if not isinstance(value, str):
        raise RecordError(f"not a date-time: {value!r}")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"not a date-time: {value!r}") from None
    if at.utcoffset() is None:
        raise RecordError(f"date-time without offset: {value!r}")
    return at


def _owner(v: Any) -> OwnerRecord:
    keys, quorum = v["keys"], v["quorum"]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise RecordError("keys must be a list of strings")
    if not isinstance(quorum, int) or isinstance(quorum, bool):
        raise RecordError("quorum must be an integer")
    last = v.get("last_in_force")
    if last is not None and not isinstance(last.get("sha256"), str):
        raise RecordError("last_in_force.sha256 must be a string")
    return OwnerRecord(
        keys=tuple(keys),
        quorum=quorum,
        last_grant=None if last is None else LastGrant(_when(last["issued"]), last["sha256"]),
        keys_issued=None if v.get("keys_issued") is None else _when(v["keys_issued"]),
    )


def record_from_entry(entry: Mapping[str, Any] | None) -> dict[str, OwnerRecord]:
    """The record by owner ORI, from the latest ``policy_loaded`` entry (parsed JSON); empty
    before the first entry with a ``grants`` section."""
    grants = None if entry is None else entry.get("grants")
    if grants is None:
        return {}
    try:
        return {ori: _owner(v) for ori, v in grants.items() if v["keys"] or v["last_in_force"]}
    except (AttributeError, KeyError, TypeError) as exc:
        raise RecordError(f"policy_loaded grants section unreadable: {exc!r}") from None
