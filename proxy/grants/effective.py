"""The policy in force once owners' grants are applied (SPEC §11). Pure: the operator's policy,
the grant files' bytes, the record (from the log), this log's origin and ``now`` in; the
effective policy and one ``OwnerStatus`` per owner out. A bad grant never raises here: it
only takes that owner's sharing away.

For each owner with grant keys (in the policy, or on record): the keys it is judged by are the
ones on record, unless the policy's equal them or a valid ``<ORI>.keys`` note moves the record
to the policy's (the first registration needs none); then its grant must be in force and not
a rollback. The operator's ``[[sharing]]`` rules for such an owner are always dropped; the
grant's rules take their place when it is in force, and nothing otherwise (the owner still
sees its own reads: proxy.policy.disclosure).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from proxy.grants.grant import Grant, check_grant, check_key_change
from proxy.grants.reasons import GrantRefused
from proxy.grants.record import InForce, LastGrant, OwnerRecord, OwnerStatus
from proxy.policy.model import Policy, SharingRule


@dataclass(frozen=True, slots=True)
class Effective:
    policy: Policy  # the operator's, with granting owners' rules replaced
    statuses: Mapping[str, OwnerStatus]  # by owner ORI, sorted

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {ori: s.to_json() for ori, s in self.statuses.items()}


def _policy_keys(policy: Policy, owner: str) -> tuple[tuple[str, ...], int]:
    agency = policy.agencies.get(owner)
    if agency is None or not agency.grant_keys:
        return (), 0
    return agency.grant_keys, agency.grant_quorum


def _keys(
    owner: str,
    policy: Policy,
    files: Mapping[str, bytes],
    rec: OwnerRecord | None,
    origin: str,
    now: datetime,
) -> OwnerRecord:
    """The owner's record with the keys it is judged by; GrantRefused(keys_changed) when the
    policy moved them without the owner's signed consent (the record is then unchanged)."""
    keys, quorum = _policy_keys(policy, owner)
    if rec is None:  # first registration: the operator's word, now on record
        return OwnerRecord(keys, quorum, None, None)
    if not rec.keys:  # registered again after a release: what the record remembers stays,
        return replace(rec, keys=keys, quorum=quorum)  # so no old grant or change is new
    if set(keys) == set(rec.keys) and quorum == rec.quorum:
        return rec
    data = files.get(f"{owner}.keys")
    if data is None:
        raise GrantRefused("keys_changed", f"no {owner}.keys note for the policy's new keys")
    try:
        change = check_key_change(data, owner, rec.keys, rec.quorum, origin, now)
    except GrantRefused as exc:
        raise GrantRefused("keys_changed", f"{owner}.keys: {exc}") from None
    body = change.body
    if (set(body.next_keys), body.next_quorum) != (set(keys), quorum):
        raise GrantRefused("keys_changed", f"{owner}.keys names other keys than the policy")
    if rec.keys_issued is not None and body.issued <= rec.keys_issued:
        raise GrantRefused("keys_changed", f"{owner}.keys is not newer than the last key change")
    return OwnerRecord(keys, quorum, rec.last_grant, body.issued)


def _grant(
    owner: str, rec: OwnerRecord, files: Mapping[str, bytes], origin: str, now: datetime
) -> Grant:
    data = files.get(f"{owner}.grant")
    if data is None:
        raise GrantRefused("missing", f"no {owner}.grant in grants_dir")
    grant = check_grant(data, owner, rec.keys, rec.quorum, origin, now)
    last, body = rec.last_grant, grant.body
    if last is not None and (
        body.issued < last.issued
        or (body.issued == last.issued and grant.signed.digest != last.sha256)
    ):
        raise GrantRefused(
            "rollback",
            f"issued {body.issued.isoformat()}; the last grant in force on record was issued"
            f" {last.issued.isoformat()} ({last.sha256})",
        )
    return grant


def owner_status(
    owner: str,
    policy: Policy,
    files: Mapping[str, bytes],
    rec: OwnerRecord | None,
    origin: str,
    now: datetime,
) -> tuple[OwnerStatus, Grant | None]:
    try:
        judged = _keys(owner, policy, files, rec, origin, now)
    except GrantRefused as exc:
        assert rec is not None
        return OwnerStatus(owner, rec, None, exc.reason, exc.detail), None
    if not judged.keys:  # released by a valid key change: the operator's rules again
        return OwnerStatus(owner, judged, None, None, "keys released to the operator"), None
    try:
        grant = _grant(owner, judged, files, origin, now)
    except GrantRefused as exc:
        return OwnerStatus(owner, judged, None, exc.reason, exc.detail), None
    b, s = grant.body, grant.signed
    in_force = InForce(b.issued, b.expires, s.signed_by, s.digest, b.retention_days, s.text)
    judged = replace(judged, last_grant=LastGrant(b.issued, s.digest))
    return OwnerStatus(owner, judged, in_force, None, None), grant


def apply_grants(
    policy: Policy,
    files: Mapping[str, bytes],
    record: Mapping[str, OwnerRecord],
    origin: str,
    now: datetime,
) -> Effective:
    """``files``: grants_dir's ``<ORI>.grant`` / ``<ORI>.keys`` contents by file name."""
    owners = {o for o in policy.agencies if _policy_keys(policy, o)[0]}
    owners |= set(record)  # keys on record, or a last grant to remember after a release
    statuses: dict[str, OwnerStatus] = {}
    granted: dict[str, Grant] = {}
    for owner in sorted(owners):
        statuses[owner], grant = owner_status(owner, policy, files, record.get(owner), origin, now)
        if grant is not None:
            granted[owner] = grant
    # Owners with a grant, or whose keys are withheld, lose the operator's rules.
    taken = {o for o, s in statuses.items() if s.record.keys or s.reason is not None}
    rules = {o: g.body.rules for o, g in granted.items()}
    retention = {o: g.body.retention_days for o, g in granted.items() if g.body.retention_days}
    return Effective(with_owner_rules(policy, taken, rules, retention), MappingProxyType(statuses))


def with_owner_rules(
    policy: Policy,
    taken: Set[str],
    rules: Mapping[str, tuple[SharingRule, ...]],
    retention: Mapping[str, int],
) -> Policy:
    """``policy`` without the operator's rules for the ``taken`` owners, with their own
    ``rules`` and ``retention`` days instead."""
    sharing = [r for r in policy.sharing if r.owner not in taken]
    for owner in sorted(rules):
        sharing += rules[owner]
    by_owner: dict[str, list[SharingRule]] = {}
    for rule in sharing:
        by_owner.setdefault(rule.owner, []).append(rule)
    return replace(
        policy,
        sharing=tuple(sharing),
        rules_by_owner=MappingProxyType({k: tuple(v) for k, v in by_owner.items()}),
        # SPEC §11: an owner with grant keys keeps only its grant's retention, never the
        # operator's retention_days (the global one applies when its grant sets none).
        owner_retention_days=MappingProxyType(
            {o: d for o, d in policy.owner_retention_days.items() if o not in taken}
            | dict(retention)
        ),
        sharing_memo={},
    )
