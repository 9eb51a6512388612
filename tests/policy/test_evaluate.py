from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from proxy.model import Area, OnBehalfOf, Principal, SearchQuery
from proxy.policy import Allowed, Policy, Refused, decide, parse_policy

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

POLICY = parse_policy(
    b"""
[settings]
retention_days = 365
max_results = 2500
justification_min_chars = 20
prohibited_terms = ["immigration", "ICE", "ERO", "deport", "deportation", "illegal alien"]
rate_limit_per_minute = 60

[[agencies]]
ori = "CA0010900"
name = "Oakland Police Department"
kind = "local"
state = "CA"

[[agencies]]
ori = "CA0380100"
name = "San Francisco Police Department"
kind = "local"
state = "CA"

[[purposes]]
code = "HOMICIDE"
description = "Homicide investigation"
max_lookback_days = 365
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 500
area_max_window_hours = 6

[[purposes]]
code = "STOLEN_VEHICLE"
max_lookback_days = 30
case_number = "optional"

[[purposes]]
code = "AREA_ONLY"
max_lookback_days = 30
query_types = ["area"]
area_max_radius_m = 100
area_max_window_hours = 1

[[purposes]]
code = "CIVIL_IMMIGRATION"
prohibited = true

[[sensitive_locations]]
name = "Lincoln Elementary School"
category = "school"
circle = { lat = 37.8012, lon = -122.2710, radius_m = 150 }
"""
)

INVESTIGATOR = Principal(
    sub="det.alvarez", ori="CA0010900", roles=frozenset({"investigator"}), expires_at=0.0
)
GOOD_JUSTIFICATION = "Vehicle seen leaving scene of 1/14 homicide, witness statement"
QUERY = SearchQuery(
    type="plate",
    plate="7ABC123",
    from_=NOW - timedelta(days=30),
    to=NOW,
    purpose="HOMICIDE",
    case_number="26-004211",
    justification=GOOD_JUSTIFICATION,
)


def refusal(policy: Policy = POLICY, principal: Principal = INVESTIGATOR, **changes: Any) -> str:
    d = decide(principal, replace(QUERY, **changes), policy, NOW)
    assert isinstance(d, Refused), d
    assert d.message  # always something to tell the user
    return d.code


def allowed(principal: Principal = INVESTIGATOR, **changes: Any) -> Allowed:
    d = decide(principal, replace(QUERY, **changes), POLICY, NOW)
    assert isinstance(d, Allowed), d
    return d


def test_baseline_is_allowed() -> None:
    d = allowed()
    assert d.recipients == ("CA0010900",)
    assert d.purpose.code == "HOMICIDE"
    assert d.max_results == 2500
    assert d.disclosure.recipients == ("CA0010900",)
    assert d.disclosure.purpose is d.purpose
    assert d.disclosure.now == NOW


def test_on_behalf_of_adds_a_recipient() -> None:
    d = allowed(on_behalf_of=OnBehalfOf("CA0380100", "Sgt. Kim"))
    assert d.recipients == ("CA0010900", "CA0380100")
    assert d.disclosure.recipients == ("CA0010900", "CA0380100")


@pytest.mark.parametrize("roles", [set(), {"auditor"}, {"oversight", "admin"}, {"Investigator"}])
def test_forbidden_role(roles: set[str]) -> None:
    p = replace(INVESTIGATOR, roles=frozenset(roles))
    assert refusal(principal=p) == "forbidden_role"
    # It wins over everything else that is wrong with the request.
    stranger = replace(p, ori="ZZ0000000")
    assert refusal(principal=stranger, purpose="CIVIL_IMMIGRATION") == "forbidden_role"
    assert allowed(principal=replace(p, roles=frozenset(roles) | {"investigator"}))


def test_unknown_requesting_agency() -> None:
    for ori in ["ZZ0000000", "ca0010900", " CA0010900"]:
        stranger = replace(INVESTIGATOR, ori=ori)
        assert refusal(principal=stranger) == "unknown_agency"
        # Checked before on_behalf_of and purpose.
        assert refusal(principal=stranger, on_behalf_of=OnBehalfOf(ori)) == "unknown_agency"
        assert refusal(principal=stranger, purpose="NOPE") == "unknown_agency"


def test_on_behalf_of_own_agency_is_invalid() -> None:
    assert refusal(on_behalf_of=OnBehalfOf("CA0010900")) == "invalid_request"
    assert refusal(on_behalf_of=OnBehalfOf("CA0010900"), purpose="NOPE") == "invalid_request"


@pytest.mark.parametrize("ori", [" ca0010900", "ca0380100", " CA0380100", "CA0380100 ", "XX1"])
def test_unknown_on_behalf_of_agency_is_exact_match(ori: str) -> None:
    assert refusal(on_behalf_of=OnBehalfOf(ori)) == "unknown_agency"
    assert refusal(on_behalf_of=OnBehalfOf(ori), purpose="CIVIL_IMMIGRATION") == "unknown_agency"


@pytest.mark.parametrize("purpose", ["ROBBERY", "homicide", "HOMICIDE ", ""])
def test_unknown_purpose(purpose: str) -> None:
    assert refusal(purpose=purpose) == "unknown_purpose"
    assert refusal(purpose=purpose, case_number=None, justification=None) == "unknown_purpose"


def test_prohibited_purpose_beats_later_checks() -> None:
    assert refusal(purpose="CIVIL_IMMIGRATION") == "purpose_prohibited"
    assert (
        refusal(purpose="CIVIL_IMMIGRATION", case_number=None, justification="deport")
        == "purpose_prohibited"
    )


def test_query_type_not_permitted() -> None:
    area = Area(37.8, -122.30, 100.0)
    short = {"from_": NOW - timedelta(hours=1)}
    # Every type is supported; the purpose decides.
    assert allowed(type="partial_plate", plate=None, pattern="7AB*12")
    assert allowed(type="area", plate=None, area=area, **short)
    assert allowed(purpose="AREA_ONLY", type="area", plate=None, area=area, **short)
    # Purpose does not permit it.
    assert refusal(purpose="AREA_ONLY") == "query_type_not_permitted"
    assert (
        refusal(purpose="AREA_ONLY", type="partial_plate", plate=None, pattern="7AB*12")
        == "query_type_not_permitted"
    )
    assert (
        refusal(purpose="STOLEN_VEHICLE", type="partial_plate", plate=None, pattern="7AB*12")
        == "query_type_not_permitted"
    )
    assert refusal(purpose="STOLEN_VEHICLE", type="area", area=area) == "query_type_not_permitted"
    # Before case number and justification.
    assert (
        refusal(purpose="AREA_ONLY", case_number=None, justification=None)
        == "query_type_not_permitted"
    )


@pytest.mark.parametrize("case_number", [None, "", "   ", "\t"])
def test_case_number_required(case_number: str | None) -> None:
    assert refusal(case_number=case_number) == "case_number_required"
    assert refusal(case_number=case_number, justification=None) == "case_number_required"
    # Optional for STOLEN_VEHICLE.
    assert allowed(purpose="STOLEN_VEHICLE", case_number=case_number).purpose.code == (
        "STOLEN_VEHICLE"
    )


def test_justification_required_and_min_length_boundary() -> None:
    assert refusal(justification=None) == "justification_required"
    assert refusal(justification="") == "justification_required"
    assert refusal(justification="x" * 19) == "justification_required"
    assert allowed(justification="x" * 20)
    # Surrounding whitespace and invisible padding do not count.
    assert refusal(justification="   " + "x" * 19 + "\n ") == "justification_required"
    assert refusal(justification="x" * 19 + "\u200b" * 5) == "justification_required"
    # Checked before prohibited terms.
    assert refusal(justification="ICE") == "justification_required"


@pytest.mark.parametrize(
    "text",
    [
        "ICE asked us to find this car for them",
        "per ice request, locate vehicle owner",
        "Deportation case: locate vehicle of subject",
        "suspect is an illegal alien, locate vehicle",
        "suspect is an illegal   \n ALIEN, locate vehicle",
        "request from I\u200bCE field office about vehicle",
        "request from \uff29\uff23\uff25 field office about vehicle",  # full-width ICE
        "ERO/ICE joint operation regarding this vehicle",
        "(immigration) hold on subject, find the vehicle",
    ],
)
def test_justification_flagged(text: str) -> None:
    assert refusal(justification=text) == "justification_flagged"


@pytest.mark.parametrize(
    "text",
    [
        "Oakland police homicide, vehicle left the scene at 22:03",
        "Department of Justice task force, homicide suspect vehicle",
        "Service station attendant saw the vehicle leave the scene",
        "Deported? no. Suspect fled the scene, homicide 26-004211",
        "Immigrations is not a word we flag; robbery homicide vehicle",
    ],
)
def test_justification_not_flagged(text: str) -> None:
    assert allowed(justification=text)


def test_flagged_message_names_the_term() -> None:
    d = decide(
        INVESTIGATOR, replace(QUERY, justification="ICE wants the car, homicide"), POLICY, NOW
    )
    assert isinstance(d, Refused)
    assert "ICE" in d.message


def test_lookback_boundary() -> None:
    limit = NOW - timedelta(days=365)
    assert allowed(from_=limit)
    assert refusal(from_=limit - timedelta(seconds=1)) == "lookback_exceeded"
    short = NOW - timedelta(days=30)
    assert allowed(purpose="STOLEN_VEHICLE", from_=short)
    assert refusal(purpose="STOLEN_VEHICLE", from_=short - timedelta(seconds=1)) == (
        "lookback_exceeded"
    )


def test_each_check_in_order() -> None:
    """Fix one problem at a time; each step must surface the next check's code."""
    principal = replace(INVESTIGATOR, roles=frozenset({"auditor"}), ori="ZZ0000000")
    query = replace(
        QUERY,
        on_behalf_of=OnBehalfOf("CA0010900"),  # becomes "own agency" once ori is fixed
        purpose="NOPE",
        type="area",
        plate=None,
        area=Area(37.8, -122.27, 501.0),  # too large, and over Lincoln Elementary
        case_number=None,
        justification="ICE",
        from_=NOW - timedelta(days=999),
    )
    steps: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("forbidden_role", {"roles": frozenset({"investigator"})}, {}),
        ("unknown_agency", {"ori": "CA0010900"}, {}),
        ("invalid_request", {}, {"on_behalf_of": OnBehalfOf("XX0000000")}),
        ("unknown_agency", {}, {"on_behalf_of": OnBehalfOf("CA0380100")}),
        ("unknown_purpose", {}, {"purpose": "CIVIL_IMMIGRATION"}),
        ("purpose_prohibited", {}, {"purpose": "STOLEN_VEHICLE"}),
        ("query_type_not_permitted", {}, {"purpose": "HOMICIDE"}),
        ("case_number_required", {}, {"case_number": "26-1"}),
        ("justification_required", {}, {"justification": "ICE " + GOOD_JUSTIFICATION}),
        ("justification_flagged", {}, {"justification": GOOD_JUSTIFICATION}),
        ("lookback_exceeded", {}, {"from_": NOW - timedelta(days=1)}),
        ("area_too_large", {}, {"area": Area(37.8, -122.27, 500.0)}),
        ("area_too_large", {}, {"from_": NOW - timedelta(hours=6)}),
        ("sensitive_location", {}, {"area": Area(37.8, -122.30, 500.0)}),
    ]
    for code, fix_principal, fix_query in steps:
        d = decide(principal, query, POLICY, NOW)
        assert isinstance(d, Refused) and d.code == code, (code, d)
        principal = replace(principal, **fix_principal)
        query = replace(query, **fix_query)
    assert isinstance(decide(principal, query, POLICY, NOW), Allowed)


def refused(**changes: Any) -> Refused:
    decision = decide(INVESTIGATOR, replace(QUERY, **changes), POLICY, NOW)
    assert isinstance(decision, Refused)
    return decision


def test_unknown_purpose_lists_the_valid_codes() -> None:
    message = refused(purpose="HOMICDE").message
    assert message.endswith("valid codes: AREA_ONLY, HOMICIDE, STOLEN_VEHICLE")
    assert "CIVIL_IMMIGRATION" not in message  # prohibited: not a code to use


@pytest.mark.parametrize("case_number", ["\u200b\u200b", "\u3164", "\u2800\u2800", "-", "\u00ad"])
def test_invisible_or_letterless_case_number_is_no_case_number(case_number: str) -> None:
    assert refusal(case_number=case_number) == "case_number_required"


@pytest.mark.parametrize("filler", ["\u3164", "\u2800", "\u115f", "\uffa0", "!"])
def test_justification_needs_letters_or_digits(filler: str) -> None:
    assert refusal(justification=filler * 25) == "justification_required"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"case_number": "ICE-2026-1"}, "case_number"),
        ({"case_number": "26-\u0406\u0421\u0415"}, "case_number"),
        (
            {"on_behalf_of": OnBehalfOf("CA0380100", "Deportation officer Smith")},
            "on_behalf_of.person",
        ),
        ({"on_behalf_of": OnBehalfOf("CA0380100", "ERO liaison")}, "on_behalf_of.person"),
    ],
)
def test_case_number_and_person_are_screened_too(changes: dict[str, Any], field: str) -> None:
    r = refused(**changes)
    assert r.code == "justification_flagged"
    assert r.message.startswith(f"the {field} contains the prohibited term")
