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
 8. ``case_number_required``      the purpose needs a case number and none (or a blank: no letter
                                  or digit once invisible characters are removed) was given
 9. ``justification_required``    justification missing, shorter than the policy minimum, or
                                  without a letter or digit
10. ``justification_flagged``     the justification, the case number or the on_behalf_of person
                                  contains a prohibited term
11. ``lookback_exceeded``         ``from`` is before ``now - max_lookback_days``
12. ``invalid_request``           the query lacks what its type needs (a normalised pattern of
                                  at least 4 known characters; a finite area with a positive
                                  radius). ``proxy.search.parse`` already guarantees this; it is
                                  checked again so a caller's bug cannot become a dragnet.
13. ``area_too_large``            area searches: ``radius_m > area_max_radius_m`` or
                                  ``to - from > area_max_window_hours`` (the limits are allowed)
14. ``sensitive_location``        area searches: the circle overlaps the refusal disk of a
                                  sensitive location that is active at any instant of
                                  ``[from, to)`` (``GeofenceIndex.refuses``: a disk around the
                                  location's 400 m grid square, so refusals do not locate it)
15. ``exigent_review_overdue``    exigent purposes: the person's overdue reviews or daily cap
16. ``approval_invalid``          the search names an approval that does not hold for it
17. ``approval_required``         the search meets a condition of the purpose's
                                  ``approval_required`` and names no approval
                                  (15-17: ``proxy.policy.approvals``, over facts passed in)

The area checks come last because they are the only ones that look at where and when. The
sensitive-location refusal applies whatever the purpose's ``sensitive_locations`` setting says:
that setting governs which *reads* are withheld, while SPEC §6 refuses an area search over an
active sensitive location outright (a canvass around a clinic is the harm, not one read).

Refusal messages explain what to fix but never reveal data (nor anything about reads). The
sensitive-location refusal is one message for every location: no name, shape, event window or
category (a category narrows down which place it is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from proxy.errors import ErrorCode
from proxy.model import Principal, SearchQuery
from proxy.policy import approvals
from proxy.policy.approvals import NO_FACTS, TwoPersonFacts
from proxy.policy.disclosure import Disclosure
from proxy.policy.model import Policy, Purpose
from proxy.policy.plates import normalize_pattern
from proxy.policy.text import has_text, visible_length

# Search types the proxy can execute (all of SPEC §6); a purpose still has to permit each.
SUPPORTED_QUERY_TYPES: frozenset[str] = frozenset({"plate", "partial_plate", "area"})
# One message for every sensitive location: a category would narrow down which place it is.
SENSITIVE_LOCATION_MESSAGE = (
    "the search area is too close to a sensitive location during the requested time"
)
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
    approval: int | None = None  # the approval this search uses up (SPEC §12)
    exigent: bool = False  # an exigent purpose's search: to be reviewed afterwards


Decision = Allowed | Refused


def _text(query: SearchQuery, purpose: Purpose, policy: Policy) -> Refused | None:
    """The case number, the justification and the prohibited-term screen. Text counts only
    with a letter or digit once invisible characters are removed."""
    if purpose.case_number == "required" and not has_text(query.case_number):
        return Refused("case_number_required", f"purpose {purpose.code} requires a case number")
    minimum = policy.settings.justification_min_chars
    justification = query.justification or ""
    if visible_length(justification) < minimum or not has_text(justification):
        return Refused(
            "justification_required",
            f"a justification of at least {minimum} characters is required",
        )
    return _flagged(query, policy)


def decide(
    principal: Principal,
    query: SearchQuery,
    policy: Policy,
    now: datetime,
    facts: TwoPersonFacts = NO_FACTS,
) -> Decision:
    """Apply the checks listed in the module docstring; ``now`` must be timezone-aware.
    ``facts``: what the log says about the approval and exigent searches (checks 15-17)."""
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
        return Refused("unknown_purpose", _unknown_purpose(policy))
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

    refused = _text(query, purpose, policy)
    if refused is not None:
        return refused

    limit = now - timedelta(days=purpose.max_lookback_days)
    if query.from_ < limit:
        return Refused(
            "lookback_exceeded",
            f"purpose {purpose.code} may look back at most {purpose.max_lookback_days} days",
        )

    refused = _shape(query) or _area(query, purpose, policy)
    if refused is not None:
        return refused
    return _two_people(principal, query, purpose, policy, recipients, facts, now)


def _two_people(
    principal: Principal,
    query: SearchQuery,
    purpose: Purpose,
    policy: Policy,
    recipients: tuple[str, ...],
    facts: TwoPersonFacts,
    now: datetime,
) -> Decision:
    """Checks 15-17 (proxy.policy.approvals), then the allowed decision."""
    two = approvals.check(principal, query, purpose, policy, recipients, facts, now)
    if two is not None:
        return Refused(two.code, two.message)
    return Allowed(
        recipients=recipients,
        purpose=purpose,
        max_results=policy.settings.max_results,
        disclosure=Disclosure.build(policy, recipients, purpose, now, query.declaration),
        approval=query.approval,
        exigent=purpose.exigent,
    )


def _unknown_purpose(policy: Policy) -> str:
    codes = sorted(code for code, p in policy.purposes.items() if not p.prohibited)
    valid = ", ".join(codes) if codes else "none"
    return f"the purpose code is not in the policy; valid codes: {valid}"


def _flagged(query: SearchQuery, policy: Policy) -> Refused | None:
    """The first free-text field holding a prohibited term. The case number and the person
    are screened like the justification, so a term cannot be moved out of its reach."""
    person = query.on_behalf_of.person if query.on_behalf_of is not None else None
    fields = (
        ("justification", query.justification),
        ("case_number", query.case_number),
        ("on_behalf_of.person", person),
    )
    for name, text in fields:
        term = policy.terms.find(text) if text else None
        if term is not None:
            # Naming the term lets an investigator with a legitimate reason rephrase; the
            # refusal is audited either way.
            return Refused(
                "justification_flagged", f"the {name} contains the prohibited term {term!r}"
            )
    return None


def _shape(query: SearchQuery) -> Refused | None:
    if query.type == "partial_plate":
        if query.pattern is None or normalize_pattern(query.pattern) != query.pattern:
            return Refused(
                "invalid_request", "a partial_plate search needs a pattern of 4+ known characters"
            )
    elif query.type == "area":
        a = query.area
        ok = (
            a is not None
            and math.isfinite(a.radius_m)
            and a.radius_m > 0
            and -90.0 <= a.lat <= 90.0
            and -180.0 <= a.lon <= 180.0
        )
        if not ok:
            return Refused("invalid_request", "an area search needs lat, lon and a radius > 0")
    elif query.plate is None:
        return Refused("invalid_request", "a plate search needs a plate")
    return None


def _area(query: SearchQuery, purpose: Purpose, policy: Policy) -> Refused | None:
    area = query.area
    if query.type != "area" or area is None:
        return None
    # Document validation makes both limits present whenever "area" is permitted; a missing
    # one would admit nothing rather than everything.
    max_radius = purpose.area_max_radius_m or 0.0
    max_hours = purpose.area_max_window_hours or 0.0
    if not area.radius_m <= max_radius:
        return Refused(
            "area_too_large",
            f"purpose {purpose.code} allows a radius of at most {max_radius:g} m",
        )
    if query.to - query.from_ > timedelta(hours=max_hours):
        return Refused(
            "area_too_large",
            f"purpose {purpose.code} allows a time window of at most {max_hours:g} hours",
        )
    loc = policy.geofence.refuses(area.lat, area.lon, area.radius_m, query.from_, query.to)
    if loc is None:
        return None
    return Refused("sensitive_location", SENSITIVE_LOCATION_MESSAGE)
