"""Two people for the risky searches (SPEC §12): pure checks over facts the caller fetched.

The search flow fetches, from the audit log and its claims table, what the log says about the
approval a search names and about the searcher's exigent searches; these functions decide. They
run after every other check of ``proxy.policy.evaluate`` has passed, in this order:

1. exigent purposes (which take no ``approval``: ``approval_invalid``):
   ``exigent_review_overdue`` when the person has an exigent search whose
   review is overdue (older than ``exigent_review_hours``, not reviewed), or has run
   ``exigent_per_user_per_day`` exigent searches in the 24 hours before ``now`` (a sliding
   window, not a calendar day: no midnight burst);
2. a search naming ``"approval": N``: ``approval_invalid`` unless request N is an
   ``approval_required`` refusal of the same person (iss, sub, ori), its normalised query equals
   this one apart from ``approval``, it was approved (not denied) by another person less than
   ``approval_valid_hours`` ago, and no search has used the approval;
3. otherwise ``approval_required`` when the search meets one of the purpose's conditions.

Missing facts fail closed: an exigent purpose without exigent facts, or an approval without its
facts, is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from proxy.model import Principal, SearchQuery
from proxy.policy.model import Policy, Purpose
from proxy.policy.two_person_fields import FEDERAL_RECIPIENT, OUT_OF_STATE_RECIPIENT

Person = tuple[str, str, str]  # (iss, sub, ori)
Verdict = Literal["approve", "deny"]
EXIGENT_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class RequestOnRecord:
    """Request N as the log records it: an ``approval_required`` refusal."""

    person: Person
    query: SearchQuery | None  # None: the recorded query does not parse now (cannot match)


@dataclass(frozen=True, slots=True)
class DecisionOnRecord:
    """The allowed ``approval`` entry that decided request N."""

    approver: Person
    verdict: Verdict
    at: datetime


@dataclass(frozen=True, slots=True)
class ApprovalFacts:
    index: int
    request: RequestOnRecord | None  # None: N is not an approval_required refusal
    decision: DecisionOnRecord | None  # None: not decided yet
    used: bool  # an allowed search already holds the approval


@dataclass(frozen=True, slots=True)
class ExigentFacts:
    recent: int  # the person's exigent searches in the EXIGENT_WINDOW before now
    overdue: int  # their exigent searches past the review deadline, not reviewed


@dataclass(frozen=True, slots=True)
class TwoPersonFacts:
    approval: ApprovalFacts | None = None  # fetched when the search names an approval
    exigent: ExigentFacts | None = None  # fetched when the purpose is exigent


NO_FACTS = TwoPersonFacts()


@dataclass(frozen=True, slots=True)
class TwoPersonRefusal:
    code: Literal["approval_required", "approval_invalid", "exigent_review_overdue"]
    message: str


def conditions_met(
    query: SearchQuery, purpose: Purpose, policy: Policy, recipients: tuple[str, ...]
) -> tuple[str, ...]:
    """The purpose's ``approval_required`` conditions this search meets, in a fixed order."""
    wanted = purpose.approval_required
    agencies = [policy.agencies[ori] for ori in recipients if ori in policy.agencies]
    met: list[str] = []
    if query.type in wanted:
        met.append(query.type)
    if FEDERAL_RECIPIENT in wanted and any(a.kind == "federal" for a in agencies):
        met.append(FEDERAL_RECIPIENT)
    home = policy.settings.home_state
    # An agency without a state is out of state: the closed side.
    if OUT_OF_STATE_RECIPIENT in wanted and any(a.state != home for a in agencies):
        met.append(OUT_OF_STATE_RECIPIENT)
    return tuple(met)


def same_search(a: SearchQuery, b: SearchQuery) -> bool:
    """Equal parsed, normalised queries apart from ``approval``: type, from/to (as instants),
    plate, plate_state, pattern, area, purpose, case number, justification, on_behalf_of."""
    return replace(a, approval=None) == replace(b, approval=None)


def check_exigent(facts: ExigentFacts | None, policy: Policy) -> TwoPersonRefusal | None:
    s = policy.settings
    if facts is None:
        return TwoPersonRefusal(
            "exigent_review_overdue", "your exigent searches could not be counted; try again"
        )
    if facts.overdue > 0:
        return TwoPersonRefusal(
            "exigent_review_overdue",
            f"{facts.overdue} of your exigent searches await review for more than "
            f"{s.exigent_review_hours} hours; no further exigent search until they are reviewed",
        )
    if facts.recent >= s.exigent_per_user_per_day:
        return TwoPersonRefusal(
            "exigent_review_overdue",
            f"at most {s.exigent_per_user_per_day} exigent searches per person in 24 hours",
        )
    return None


def check_approval(
    principal: Principal,
    query: SearchQuery,
    facts: ApprovalFacts | None,
    policy: Policy,
    now: datetime,
) -> TwoPersonRefusal | None:
    """Is ``query.approval`` a valid, unused approval of exactly this search by this person?"""
    n = query.approval

    def invalid(why: str) -> TwoPersonRefusal:
        return TwoPersonRefusal("approval_invalid", f"approval {n} {why}")

    if facts is None or facts.index != n or facts.request is None:
        return invalid("is not a request that needed approval")
    request = facts.request
    if request.person != principal.person:
        return invalid("was requested by another person")
    if request.query is None or not same_search(request.query, query):
        return invalid("was given for a different search; send the request exactly as approved")
    decision = facts.decision
    if decision is None:
        return invalid("has not been decided by a supervisor yet")
    if decision.verdict != "approve":
        return invalid("was denied")
    if decision.approver == principal.person:
        return invalid("was decided by the requester")  # POST /v1/approvals refuses it already
    hours = policy.settings.approval_valid_hours
    if now - decision.at >= timedelta(hours=hours):
        return invalid(f"has expired (approvals are valid for {hours} hours)")
    if facts.used:
        return invalid("has already been used")
    return None


def check(
    principal: Principal,
    query: SearchQuery,
    purpose: Purpose,
    policy: Policy,
    recipients: tuple[str, ...],
    facts: TwoPersonFacts,
    now: datetime,
) -> TwoPersonRefusal | None:
    """The checks of the module docstring, for a search every other check allowed."""
    if purpose.exigent:
        if query.approval is not None:  # an exigent search holds its own claim (one per entry)
            return TwoPersonRefusal(
                "approval_invalid", f"purpose {purpose.code} is exigent and takes no approval"
            )
        return check_exigent(facts.exigent, policy)
    if query.approval is not None:
        return check_approval(principal, query, facts.approval, policy, now)
    met = conditions_met(query, purpose, policy, recipients)
    if met:
        return TwoPersonRefusal(
            "approval_required",
            f"purpose {purpose.code} needs a supervisor's approval for this search "
            f"({', '.join(met)}); the audit_index of this refusal identifies the request: once "
            'it is approved, send the same search again with "approval": <audit_index>',
        )
    return None


APPROVER_ROLE = "supervisor"


@dataclass(frozen=True, slots=True)
class DeciderRefusal:
    code: Literal["forbidden_role", "self_approval", "invalid_request"]
    message: str


def check_decider(
    principal: Principal, request: RequestOnRecord | None, decided: bool
) -> DeciderRefusal | None:
    """May this caller decide request N (``POST /v1/approvals``)? SPEC §12's order: not a
    supervisor of the requester's agency, the requester themselves, then N is not an
    ``approval_required`` refusal (``request`` None) or was already decided."""
    if APPROVER_ROLE not in principal.roles or (
        request is not None and request.person[2] != principal.ori
    ):
        return DeciderRefusal(
            "forbidden_role", "only a supervisor of the requester's agency may decide a request"
        )
    if request is not None and request.person == principal.person:
        return DeciderRefusal("self_approval", "nobody decides their own request")
    if request is None:
        return DeciderRefusal("invalid_request", "that index is not a request awaiting approval")
    if decided:
        return DeciderRefusal("invalid_request", "that request has already been decided")
    return None
