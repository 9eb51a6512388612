"""The two-person decision (proxy.policy.approvals) as pure data in, decision out: every
reason an approval does not hold, the exigent limits, the order of checks, the decider."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from proxy.model import OnBehalfOf, Principal, SearchQuery
from proxy.policy import Allowed, Refused, decide, parse_policy
from proxy.policy.approvals import (
    ApprovalFacts,
    DecisionOnRecord,
    ExigentFacts,
    RequestOnRecord,
    TwoPersonFacts,
    check_decider,
    conditions_met,
    same_search,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OAK, FBI, RENO, CHP = "CA0010900", "FBISF0000", "NV0160200", "CA0349400"
POLICY = parse_policy(
    f"""
[settings]
retention_days = 365
max_results = 100
justification_min_chars = 10
rate_limit_per_minute = 60
home_state = "CA"
approval_valid_hours = 12
exigent_per_user_per_day = 2
exigent_review_hours = 48

[[agencies]]
ori = "{OAK}"
name = "Oakland PD"
kind = "local"
state = "CA"

[[agencies]]
ori = "{CHP}"
name = "CHP"
kind = "state"
state = "CA"

[[agencies]]
ori = "{FBI}"
name = "FBI"
kind = "federal"
state = "CA"

[[agencies]]
ori = "{RENO}"
name = "Reno PD"
kind = "local"
state = "NV"

[[purposes]]
code = "HOMICIDE"
max_lookback_days = 365
query_types = ["plate", "partial_plate"]
approval_required = ["partial_plate", "federal_recipient", "out_of_state_recipient"]

[[purposes]]
code = "AMBER_ALERT"
max_lookback_days = 30
exigent = true
""".encode()
)
DET = Principal("det.a", OAK, frozenset({"investigator"}), 0.0, iss="https://idp")
SUP = Principal("sgt.b", OAK, frozenset({"supervisor"}), 0.0, iss="https://idp")
PARTIAL = SearchQuery(
    type="partial_plate",
    pattern="7AB*23",
    from_=NOW - timedelta(days=3),
    to=NOW,
    purpose="HOMICIDE",
    case_number="26-1",
    justification="witness saw the car",
)
APPROVED = DecisionOnRecord(SUP.person, "approve", NOW - timedelta(hours=1))


def facts(**changes: object) -> TwoPersonFacts:
    base = ApprovalFacts(7, RequestOnRecord(DET.person, PARTIAL), APPROVED, used=False)
    return TwoPersonFacts(approval=replace(base, **changes))  # type: ignore[arg-type]


def refused(decision: object) -> str:
    assert isinstance(decision, Refused), decision
    return decision.code + ": " + decision.message


def test_a_listed_condition_needs_approval_after_every_other_check() -> None:
    assert refused(decide(DET, PARTIAL, POLICY, NOW)).startswith("approval_required")
    # A search wrong in another way is refused for that, not for approval.
    old = replace(PARTIAL, from_=NOW - timedelta(days=400))
    assert refused(decide(DET, old, POLICY, NOW)).startswith("lookback_exceeded")
    plate = replace(PARTIAL, type="plate", pattern=None, plate="7ABC123")
    assert isinstance(decide(DET, plate, POLICY, NOW), Allowed)


@pytest.mark.parametrize(
    ("obo", "met"),
    [
        (None, ()),
        (CHP, ()),
        (FBI, ("federal_recipient",)),
        (RENO, ("out_of_state_recipient",)),
    ],
)
def test_recipients(obo: str | None, met: tuple[str, ...]) -> None:
    plate = replace(PARTIAL, type="plate", pattern=None, plate="7ABC123")
    if obo is not None:
        plate = replace(plate, on_behalf_of=OnBehalfOf(obo, "X"))
    recipients = (OAK,) if obo is None else (OAK, obo)
    assert conditions_met(plate, POLICY.purposes["HOMICIDE"], POLICY, recipients) == met


def test_a_valid_approval_runs_and_is_named() -> None:
    decision = decide(DET, replace(PARTIAL, approval=7), POLICY, NOW, facts())
    assert isinstance(decision, Allowed) and decision.approval == 7 and not decision.exigent


@pytest.mark.parametrize(
    ("who", "query_change", "fact_changes", "why"),
    [
        (DET, {}, {"request": None}, "not a request"),
        (DET, {}, {"index": 8}, "not a request"),
        (replace(DET, sub="det.c"), {}, {}, "another person"),
        (replace(DET, iss="https://other-idp"), {}, {}, "another person"),
        (DET, {"pattern": "7AB*24"}, {}, "different search"),
        (DET, {"justification": "witness saw the van"}, {}, "different search"),
        (DET, {"on_behalf_of": OnBehalfOf(CHP, "X")}, {}, "different search"),
        (DET, {}, {"request": RequestOnRecord(DET.person, None)}, "different search"),
        (DET, {}, {"decision": None}, "not been decided"),
        (DET, {}, {"decision": replace(APPROVED, verdict="deny")}, "denied"),
        (DET, {}, {"decision": replace(APPROVED, approver=DET.person)}, "by the requester"),
        (
            DET,
            {},
            {"decision": replace(APPROVED, at=NOW - timedelta(hours=12))},
            "expired",
        ),
        (DET, {}, {"used": True}, "already been used"),
    ],
)
def test_every_way_an_approval_does_not_hold(
    who: Principal, query_change: dict[str, object], fact_changes: dict[str, object], why: str
) -> None:
    query = replace(PARTIAL, approval=7, **query_change)  # type: ignore[arg-type]
    answer = refused(decide(who, query, POLICY, NOW, facts(**fact_changes)))
    assert answer.startswith("approval_invalid") and why in answer, answer


def test_missing_facts_fail_closed() -> None:
    query = replace(PARTIAL, approval=7)
    assert refused(decide(DET, query, POLICY, NOW)).startswith("approval_invalid")
    amber = replace(PARTIAL, type="plate", pattern=None, plate="7ABC1", purpose="AMBER_ALERT")
    assert refused(decide(DET, amber, POLICY, NOW)).startswith("exigent_review_overdue")


def test_same_search_ignores_only_the_approval_and_the_offset() -> None:
    shifted = replace(PARTIAL, to=NOW.astimezone(UTC).replace(tzinfo=UTC), approval=3)
    assert same_search(PARTIAL, shifted)
    assert not same_search(PARTIAL, replace(PARTIAL, case_number="26-2"))


@pytest.mark.parametrize(
    ("recent", "overdue", "allowed"),
    [(0, 0, True), (1, 0, True), (2, 0, False), (0, 1, False)],
)
def test_exigent_cap_and_overdue(recent: int, overdue: int, allowed: bool) -> None:
    amber = replace(PARTIAL, type="plate", pattern=None, plate="7ABC1", purpose="AMBER_ALERT")
    two = TwoPersonFacts(exigent=ExigentFacts(recent, overdue))
    decision = decide(DET, amber, POLICY, NOW, two)
    if allowed:
        assert isinstance(decision, Allowed) and decision.exigent
    else:
        assert refused(decision).startswith("exigent_review_overdue")


def test_decider_checks_in_order() -> None:
    request = RequestOnRecord(DET.person, PARTIAL)
    assert check_decider(SUP, request, decided=False) is None
    other_agency = replace(SUP, ori=CHP)
    no_role = replace(SUP, roles=frozenset({"oversight"}))
    for who in (other_agency, no_role):
        found = check_decider(who, request, decided=False)
        assert found is not None and found.code == "forbidden_role"
    both = replace(DET, roles=frozenset({"investigator", "supervisor"}))
    found = check_decider(both, request, decided=True)  # self before already-decided
    assert found is not None and found.code == "self_approval"
    for req, decided in ((None, False), (request, True)):
        found = check_decider(SUP, req, decided)
        assert found is not None and found.code == "invalid_request"
