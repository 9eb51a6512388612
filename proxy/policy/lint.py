"""Warnings about a *valid* policy that is probably wider than its author meant.

``lint(policy, today)`` returns one ``LintWarning`` per finding, in [[sharing]] order and, within
a rule, in the order below (``to_agencies`` findings after the ``to_kinds``/``to_states`` ones).
Each has a ``code`` (stable, for scripts and tests), the ``path`` of the field to look at, and a
message. A warning is never an error: the policy still loads.

Per sharing rule:

* ``expired``: ``expires`` is before ``today``; the rule admits nobody and is dead weight (or a
  renewal somebody forgot).
* ``no_expiry``: no ``expires``; sharing agreements should be renewed deliberately.
* ``all_purposes``: ``purposes`` contains ``"*"``, so every purpose added later is shared too.
* ``federal``: ``to_kinds`` includes ``federal``, or ``to_agencies`` names a federal agency.
* ``out_of_state``: the owner has a state and the rule admits agencies elsewhere: ``to_kinds``
  with ``to_states`` empty or listing another state, or ``to_agencies`` naming an agency of
  another (or no) state that is not federal (already reported as ``federal``).
* ``immigration``: ``exclude_immigration_enforcement = false`` and an agency of this policy
  marked ``immigration_enforcement`` (other than the owner) is admitted by the rule.

Per agency:

* ``retention_ignored``: its ``retention_days`` is not shorter than ``settings.retention_days``,
  so it has no effect (an owner's own retention can only shorten the global one).

The shape checks (``federal``, ``out_of_state``, ``all_purposes``) look at what a rule *could*
admit, not only at the agencies listed today, because agencies are added later without anyone
re-reading old rules. Expired rules are still checked: renewing one revives all of it.

* ``ignored_for_grant_owner``: the rule's owner has ``grant_keys``, so only the rules it signs
  (SPEC §11) decide who receives its reads; the operator's rule is ignored (reported alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from proxy.policy.disclosure import rule_admits
from proxy.policy.model import ALL_PURPOSES, Policy, SharingRule


@dataclass(frozen=True, slots=True)
class LintWarning:
    path: str  # e.g. "sharing[3].to_kinds"
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def lint(policy: Policy, today: date) -> list[LintWarning]:
    out: list[LintWarning] = []
    for i, rule in enumerate(policy.sharing):
        owner = policy.agencies.get(rule.owner)
        if owner is not None and owner.grant_keys:
            message = f"ignored: {rule.owner} has grant_keys, only rules it signs apply"
            out.append(LintWarning(f"sharing[{i}]", "ignored_for_grant_owner", message))
            continue
        out.extend(_rule(policy, rule, f"sharing[{i}]", today))
    out.extend(_retention(policy))
    return out


def _retention(policy: Policy) -> list[LintWarning]:
    days = policy.settings.retention_days
    return [
        LintWarning(
            f"agencies[{i}].retention_days",
            "retention_ignored",
            f"{a.retention_days} days is not shorter than settings.retention_days ({days}):"
            " it has no effect",
        )
        for i, a in enumerate(policy.agencies.values())
        if a.retention_days is not None and a.retention_days >= days
    ]


def _rule(policy: Policy, rule: SharingRule, p: str, today: date) -> list[LintWarning]:
    out: list[LintWarning] = []
    if rule.expires is None:
        out.append(
            LintWarning(
                f"{p}.expires", "no_expiry", "never expires; set expires = YYYY-MM-DD to renew"
            )
        )
    elif rule.expires < today:
        out.append(
            LintWarning(
                f"{p}.expires",
                "expired",
                f"expired on {rule.expires.isoformat()}; it admits nobody (remove or renew it)",
            )
        )
    if ALL_PURPOSES in rule.purposes:
        out.append(
            LintWarning(
                f"{p}.purposes",
                "all_purposes",
                'shares for "*" (every purpose, including ones added later)',
            )
        )
    out.extend(_reach(policy, rule, p))
    if not rule.exclude_immigration_enforcement:
        admitted = sorted(
            a.ori
            for a in policy.agencies.values()
            if a.immigration_enforcement and a.ori != rule.owner and rule_admits(rule, a)
        )
        if admitted:
            out.append(
                LintWarning(
                    f"{p}.exclude_immigration_enforcement",
                    "immigration",
                    "admits immigration-enforcement agencies: " + ", ".join(admitted),
                )
            )
    return out


def _reach(policy: Policy, rule: SharingRule, p: str) -> list[LintWarning]:
    """``federal`` and ``out_of_state`` findings."""
    out: list[LintWarning] = []
    owner = policy.agencies.get(rule.owner)
    home = owner.state if owner is not None else None
    if "federal" in rule.to_kinds:
        out.append(LintWarning(f"{p}.to_kinds", "federal", "admits federal agencies"))
    # Still a warning: the declaration is the search's word, not a check of its purpose.
    declared = " (for searches carrying its declaration)" if rule.declaration_required else ""
    if home is not None and rule.to_kinds:
        elsewhere = sorted(rule.to_states - {home})
        if not rule.to_states:
            out.append(
                LintWarning(
                    f"{p}.to_states",
                    "out_of_state",
                    f"is empty, so agencies of every state are admitted (owner is in {home})"
                    + declared,
                )
            )
        elif elsewhere:
            out.append(
                LintWarning(
                    f"{p}.to_states",
                    "out_of_state",
                    f"admits agencies outside {home}: {', '.join(elsewhere)}" + declared,
                )
            )
    for ori in sorted(rule.to_agencies):
        agency = policy.agencies.get(ori)
        if agency is None or ori == rule.owner:
            continue
        if agency.kind == "federal":
            out.append(LintWarning(f"{p}.to_agencies", "federal", f"names federal agency {ori}"))
        elif home is not None and agency.state != home:
            where = agency.state or "no state"
            out.append(
                LintWarning(
                    f"{p}.to_agencies",
                    "out_of_state",
                    f"names {ori} ({where}), outside the owner's state {home}",
                )
            )
    return out
