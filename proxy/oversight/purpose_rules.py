"""Which purposes need two people and which are exigent (SPEC §12), for the public transparency
index: derived from the policy in force, in plain words, nothing typed by hand. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.policy.model import Policy
from proxy.policy.two_person_fields import FEDERAL_RECIPIENT, OUT_OF_STATE_RECIPIENT

_SEARCH_TYPES = {
    "plate": "an exact-plate search",
    "partial_plate": "a partial-plate search",
    "area": "an area search",
}


@dataclass(frozen=True, slots=True)
class PurposeRule:
    code: str
    description: str
    approval_when: tuple[str, ...]  # when a supervisor must approve first; () never
    exigent: bool  # runs at once, reviewed afterwards


@dataclass(frozen=True, slots=True)
class TwoPersonRules:
    purposes: tuple[PurposeRule, ...]  # every purpose that is not prohibited, policy order
    approval_valid_hours: int
    exigent_review_hours: int


def _conditions(conditions: frozenset[str], home_state: str | None) -> tuple[str, ...]:
    out = [_SEARCH_TYPES[t] for t in ("plate", "partial_plate", "area") if t in conditions]
    if FEDERAL_RECIPIENT in conditions:
        out.append("a federal agency receives the results")
    if OUT_OF_STATE_RECIPIENT in conditions:
        out.append(f"an agency outside {home_state or 'the home state'} receives the results")
    return tuple(out)


def two_person_rules(policy: Policy) -> TwoPersonRules:
    home = policy.settings.home_state
    return TwoPersonRules(
        purposes=tuple(
            PurposeRule(p.code, p.description, _conditions(p.approval_required, home), p.exigent)
            for p in policy.purposes.values()
            if not p.prohibited
        ),
        approval_valid_hours=policy.settings.approval_valid_hours,
        exigent_review_hours=policy.settings.exigent_review_hours,
    )
