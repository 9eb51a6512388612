"""The search decision (SPEC §6): may this principal run this query under this policy, now?

Checks run in this order and the first failure is the answer, so a search that is wrong in
several ways is always refused for the same, most fundamental reason:

 1. ``forbidden_role``            the token lacks the ``investigator`` role
 2. ``unknown_agency``            the requester's agency is not in the policy
 3. ``invalid_request``           ``on_behalf_of`` names the requester's own agency
 4. ``unknown_agency``            the ``on_behalf_of`` agency is not in the policy (exact match)
 5. ``unknown_purpose``           the purpose code is not in the policy
 6. ``purpose_prohibited``        the purpose is prohibited
 7. ``query_type_not_permitted``  the purpose does not allow the search type, or the proxy does
                                  not support it yet
 8. ``case_number_required``      the purpose needs a case number and none (or a blank) was given
 9. ``justification_required``    justification missing or shorter than the policy minimum
10. ``justification_flagged``     the justification contains a prohibited term
11. ``lookback_exceeded``         ``from`` is before ``now - max_lookback_days``

Refusal messages explain what to fix but never reveal data (nor anything about reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from proxy.errors import ErrorCode
from proxy.model import Principal, SearchQuery
from proxy.policy.disclosure import Disclosure
from proxy.policy.document import Policy, Purpose
from proxy.policy.text import visible_length

# Search types the proxy can execute. Area and partial-plate searches need their own checks
# (area_too_large, sensitive_location, pattern limits) which a later change adds together with
# the types themselves; until then they are refused whatever the purpose allows.
SUPPORTED_QUERY_TYPES: frozenset[str] = frozenset({"plate"})
SEARCH_ROLE = "investigator"


@dataclass(frozen=True, slots=True)
class Refused:
    code: ErrorCode
    message: str


@dataclass(frozen=True, slots=True)
class Allowed:
    recipients: tuple[str, ...]  # requester's agency, then the on_behalf_of agency if any
    purpose: Purpose
    max_results: int
    disclosure: Disclosure


Decision = Allowed | Refused


def decide(principal: Principal, query: SearchQuery, policy: Policy, now: datetime) -> Decision:
    """Apply the checks listed in the module docstring; ``now`` must be timezone-aware."""
    if SEARCH_ROLE not in principal.roles:
        return Refused("forbidden_role", "searching requires the investigator role")
    if principal.ori not in policy.agencies:
        return Refused("unknown_agency", "your agency is not in the policy")
    recipients: tuple[str, ...] = (principal.ori,)
    if query.on_behalf_of is not None:
        other = query.on_behalf_of.ori
        if other == principal.ori:
            return Refused(
                "invalid_request", "on_behalf_of must name an agency other than your own"
            )
        if other not in policy.agencies:
            return Refused("unknown_agency", "the on_behalf_of agency is not in the policy")
        recipients = (principal.ori, other)

    purpose = policy.purposes.get(query.purpose)
    if purpose is None:
        return Refused("unknown_purpose", "the purpose code is not in the policy")
    if purpose.prohibited:
        return Refused("purpose_prohibited", f"searches for purpose {purpose.code} are prohibited")
    if query.type not in SUPPORTED_QUERY_TYPES:
        return Refused(
            "query_type_not_permitted", f"{query.type} searches are not supported by this proxy"
        )
    if query.type not in purpose.query_types:
        return Refused(
            "query_type_not_permitted",
            f"purpose {purpose.code} does not permit {query.type} searches",
        )

    if purpose.case_number == "required" and not (query.case_number or "").strip():
        return Refused("case_number_required", f"purpose {purpose.code} requires a case number")
    minimum = policy.settings.justification_min_chars
    justification = query.justification or ""
    if visible_length(justification) < minimum:
        return Refused(
            "justification_required",
            f"a justification of at least {minimum} characters is required",
        )
    term = policy.terms.find(justification)
    if term is not None:
        # Naming the term lets an investigator with a legitimate reason rephrase; the refusal
        # is audited either way.
        return Refused(
            "justification_flagged", f"the justification contains the prohibited term {term!r}"
        )

    limit = now - timedelta(days=purpose.max_lookback_days)
    if query.from_ < limit:
        return Refused(
            "lookback_exceeded",
            f"purpose {purpose.code} may look back at most {purpose.max_lookback_days} days",
        )

    return Allowed(
        recipients=recipients,
        purpose=purpose,
        max_results=policy.settings.max_results,
        disclosure=Disclosure.build(policy, recipients, purpose, now),
    )
