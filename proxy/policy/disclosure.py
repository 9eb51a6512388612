"""Which reads of an allowed search may be disclosed (SPEC §7), row by row.

``Disclosure.withhold_reason`` is called for every candidate read, so everything that depends
only on the search (retention cutoff, recipients, purpose, today's date) is fixed when the
``Disclosure`` is built, and the sharing verdict is computed once per owning agency and cached.

Checks, first hit wins: ``retention`` (observed before ``now`` minus the owner's effective
retention, ``proxy.policy.retention``; a read exactly at the cutoff is kept), then ``sharing``,
then ``sensitive_location`` (only when the purpose says ``withhold``; a location counts if it
was active when the read was *taken*).

Sharing: a read is disclosed only if every recipient is the read's owner or is admitted by one of
the owner's applicable rules. A rule applies while today (UTC) is on or before ``expires`` and
only for the purposes it lists (or ``"*"``). A rule with ``declaration_required`` admits only
for a search whose ``declaration``, normalised (``proxy.policy.declaration``), is exactly that
text; any other search is judged by the owner's other rules. An owner that is not in the policy
has no rules, so it shares with nobody but itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

from proxy.policy.declaration import normalize_declaration
from proxy.policy.model import ALL_PURPOSES, Agency, Policy, Purpose, SharingRule
from proxy.policy.retention import cutoff, owner_cutoffs

WithholdReason = Literal["retention", "sharing", "sensitive_location"]
_MEMO_LIMIT = 100_000


def rule_applies(rule: SharingRule, purpose_code: str, today: date) -> bool:
    if rule.expires is not None and today > rule.expires:
        return False
    return purpose_code in rule.purposes or ALL_PURPOSES in rule.purposes


def rule_admits(rule: SharingRule, agency: Agency) -> bool:
    # The immigration exclusion beats everything, including naming the agency in to_agencies.
    if rule.exclude_immigration_enforcement and agency.immigration_enforcement:
        return False
    if agency.ori in rule.to_agencies:
        return True
    return agency.kind in rule.to_kinds and (not rule.to_states or agency.state in rule.to_states)


def rule_declared(rule: SharingRule, declaration: str | None) -> bool:
    """Whether the search carries the declaration ``rule`` requires (normalised), if any."""
    return rule.declaration_required is None or rule.declaration_required == declaration


def admits(
    policy: Policy,
    owner: str,
    recipient_ori: str,
    purpose_code: str,
    today: date,
    declaration: str | None = None,
) -> SharingRule | None:
    """The first of ``owner``'s rules admitting ``recipient_ori`` for the purpose today, given
    the search's normalised ``declaration`` (None: it carries none), or None.

    An owner's access to its own reads comes from no rule, so this may return None when
    ``recipient_ori == owner``; callers treat that case separately.
    """
    agency = policy.agencies.get(recipient_ori)
    if agency is None:
        return None
    for rule in policy.rules_by_owner.get(owner, ()):
        if (
            rule_applies(rule, purpose_code, today)
            and rule_declared(rule, declaration)
            and rule_admits(rule, agency)
        ):
            return rule
    return None


@dataclass(frozen=True, slots=True)
class Disclosure:
    policy: Policy
    recipients: tuple[str, ...]
    purpose: Purpose
    now: datetime
    retention_cutoff: datetime  # the global one
    # Owners with a shorter retention of their own -> their (later) cutoff; usually empty.
    owner_cutoffs: Mapping[str, datetime]
    today: date  # UTC date of `now`, for rule expiry
    withhold_sensitive: bool  # purpose withholds and there are locations to check
    # The search's normalised declaration if a rule of the policy requires exactly it, else
    # None: any other text admits nothing more than none (and keeps the memo bounded).
    declaration: str | None = None
    # owner ORI -> may every recipient see its reads? Filled lazily; never shared across searches.
    _shared: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        policy: Policy,
        recipients: tuple[str, ...],
        purpose: Purpose,
        now: datetime,
        declaration: str | None = None,
    ) -> Disclosure:
        """``declaration``: the search's, as asked (None: it carries none)."""
        declared = normalize_declaration(declaration) if declaration is not None else None
        return cls(
            policy=policy,
            recipients=recipients,
            purpose=purpose,
            now=now,
            retention_cutoff=cutoff(now, policy.settings.retention_days),
            owner_cutoffs=owner_cutoffs(policy, now),
            today=now.astimezone(UTC).date(),
            withhold_sensitive=purpose.sensitive_locations == "withhold"
            and len(policy.geofence) > 0,
            declaration=declared if declared in policy.required_declarations else None,
        )

    def shares(self, owner: str) -> bool:
        """Whether ``owner``'s reads may go to every recipient of this search."""
        ok = self._shared.get(owner)
        if ok is None:
            # The same owners, recipients and purpose come up search after search: the verdict
            # is remembered with the policy, per day (rules expire by date).
            key = (owner, self.recipients, self.purpose.code, self.today, self.declaration)
            memo = self.policy.sharing_memo
            ok = memo.get(key)
            if ok is None:
                ok = all(
                    r == owner
                    or admits(
                        self.policy, owner, r, self.purpose.code, self.today, self.declaration
                    )
                    is not None
                    for r in self.recipients
                )
                if len(memo) >= _MEMO_LIMIT:  # bounded: owners x recipients x purposes x days
                    memo.clear()
                memo[key] = ok
            self._shared[owner] = ok
        return ok

    def admitted_owners(self) -> tuple[str, ...]:
        """Every owner whose reads may go to every recipient of this search, sorted: the
        owners with rules, and the recipients themselves (an owner without rules shares with
        itself alone). The store returns only these owners' reads (proxy.store.postgres)."""
        candidates = set(self.policy.rules_by_owner) | set(self.recipients)
        return tuple(sorted(o for o in candidates if self.shares(o)))

    def withhold_reason(
        self, owner: str, observed_at: datetime, lat: float, lon: float
    ) -> WithholdReason | None:
        """Why this read must be withheld, or None to disclose it."""
        if observed_at < self.retention_cutoff:
            return "retention"
        if self.owner_cutoffs and observed_at < self.owner_cutoffs.get(owner, observed_at):
            return "retention"
        # shares(), inlined for the cached case: this runs for every candidate read.
        shared = self._shared.get(owner)
        if not (self.shares(owner) if shared is None else shared):
            return "sharing"
        geofence = self.policy.geofence
        if self.withhold_sensitive and geofence.contains(lat, lon, observed_at) is not None:
            return "sensitive_location"
        return None
