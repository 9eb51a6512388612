"""The demo policy: valid SPEC §7 TOML that reads as California law requires."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from proxy.demo.city import build_cameras
from proxy.demo.policy import (
    AGENCIES,
    DEMO_INVESTIGATOR,
    DEMO_PURPOSE,
    IMMIGRATION_ORI,
    OUT_OF_STATE_ORI,
    demo_policy_toml,
)
from proxy.policy.document import parse_policy

NOW = datetime(2026, 3, 15, 19, 30, tzinfo=UTC)

# SPEC §7, exactly: the validator rejects anything else.
KEYS = {
    "settings": {
        "retention_days",
        "max_results",
        "justification_min_chars",
        "prohibited_terms",
        "extra_prohibited_terms",  # an extension: terms added to the built-in list
        "rate_limit_per_minute",
        # SPEC §12
        "home_state",
        "approval_valid_hours",
        "exigent_review_hours",
        "exigent_per_user_per_day",
    },
    # grant_keys and grant_quorum (SPEC §11) only with demo_policy_toml(now, grant_keys)
    "agencies": {"ori", "name", "kind", "state", "immigration_enforcement"},
    "purposes": {
        "code",
        "description",
        "prohibited",
        "max_lookback_days",
        "case_number",
        "query_types",
        "area_max_radius_m",
        "area_max_window_hours",
        "sensitive_locations",
        "approval_required",  # SPEC §12
        "exigent",
    },
    "sharing": {
        "owner",
        "to_kinds",
        "to_states",
        "to_agencies",
        "exclude_immigration_enforcement",
        "purposes",
        "expires",
    },
    "sensitive_locations": {"name", "category", "circle", "polygon", "active_from", "active_until"},
}
CATEGORIES = {"school", "medical", "place_of_worship", "protest", "ceremony", "shelter", "other"}


def doc(now: datetime = NOW) -> dict[str, Any]:
    return tomllib.loads(demo_policy_toml(now))


def test_parses_with_only_spec_keys() -> None:
    d = doc()
    assert set(d) == set(KEYS)
    assert set(d["settings"]) <= KEYS["settings"]
    for section in ("agencies", "purposes", "sharing", "sensitive_locations"):
        assert d[section], section
        for table in d[section]:
            assert set(table) <= KEYS[section], (section, set(table) - KEYS[section])
    for loc in d["sensitive_locations"]:
        assert set(loc.get("circle", {})) <= {"lat", "lon", "radius_m"}


def test_agencies() -> None:
    agencies = {a["ori"]: a for a in doc()["agencies"]}
    assert len(agencies) == len(AGENCIES) >= 8
    assert {a["kind"] for a in agencies.values()} >= {"local", "state", "federal", "tribal"}
    assert agencies[IMMIGRATION_ORI]["immigration_enforcement"] is True
    assert agencies[IMMIGRATION_ORI]["kind"] == "federal"
    assert sum(a["immigration_enforcement"] for a in agencies.values()) == 1
    assert agencies[OUT_OF_STATE_ORI]["state"] != "CA"
    assert agencies[DEMO_INVESTIGATOR.ori]["name"] == "Oakland Police Department"


def test_purposes() -> None:
    purposes = {p["code"]: p for p in doc()["purposes"]}
    assert purposes["CIVIL_IMMIGRATION"]["prohibited"] is True
    assert DEMO_PURPOSE in purposes
    assert {
        "HOMICIDE",
        "ROBBERY",
        "KIDNAPPING",
        "MOTOR_VEHICLE_THEFT",
        "HUMAN_TRAFFICKING",
        "DRUG_OFFENSES",
        "AGGRAVATED_ASSAULT",
        "MISSING_PERSON",
        "AMBER_ALERT",
    } <= set(purposes)
    allowed = [p for p in purposes.values() if not p.get("prohibited", False)]
    for p in allowed:
        assert "plate" in p["query_types"]
        assert p["case_number"] in {"required", "optional"}
        has_area = "area" in p["query_types"]
        assert ("area_max_radius_m" in p) == has_area == ("area_max_window_hours" in p)
    assert any("partial_plate" in p["query_types"] for p in allowed)
    assert any("partial_plate" not in p["query_types"] for p in allowed)
    amber = purposes["AMBER_ALERT"]
    assert amber["case_number"] == "optional"
    assert amber["sensitive_locations"] == "include"
    assert all(p["sensitive_locations"] == "withhold" for p in allowed if p is not amber)


def test_two_people_for_area_searches_and_federal_recipients() -> None:
    policy = parse_policy(demo_policy_toml(NOW).encode())
    assert policy.settings.home_state == "CA"
    usable = [p for p in policy.purposes.values() if not p.prohibited]
    for p in usable:
        if p.exigent:  # AMBER Alert: runs at once, reviewed afterwards
            assert p.code == "AMBER_ALERT" and not p.approval_required
        elif "area" in p.query_types:
            assert "area" in p.approval_required, p.code
    # Federal recipients: all but homicide, whose walk-through step 3 shows reads withheld.
    federal = {p.code for p in usable if "federal_recipient" in p.approval_required}
    assert federal == {p.code for p in usable if not p.exigent} - {DEMO_PURPOSE}


def test_owners_with_grant_keys_lose_the_operators_rules() -> None:
    keys = {"CA0010900": "oaklandca.demo.invalid/grants+01234567+AQ" + "A" * 42 + "="}
    d = tomllib.loads(demo_policy_toml(NOW, keys))
    oakland = {a["ori"]: a for a in d["agencies"]}["CA0010900"]
    assert oakland["grant_keys"] == list(keys.values()) and oakland["grant_quorum"] == 1
    assert "CA0010900" not in {r["owner"] for r in d["sharing"]}
    assert "CA0010900" in {r["owner"] for r in doc()["sharing"]}


def test_prohibited_terms() -> None:
    # The built-in list (inflections, look-alikes) and the policy's Spanish additions.
    terms = parse_policy(demo_policy_toml(NOW).encode()).terms
    for text in ("deported last year", "for \u0406\u0421\u0415", "para la migra", "deportación"):
        assert terms.find(text), text
    assert terms.find("Vehicle seen leaving scene of homicide") is None


def test_sharing_only_within_california_public_agencies() -> None:
    d = doc()
    kinds = {a["ori"]: a["kind"] for a in d["agencies"]}
    states = {a["ori"]: a["state"] for a in d["agencies"]}
    codes = {p["code"] for p in d["purposes"]}
    for rule in d["sharing"]:
        assert rule["exclude_immigration_enforcement"] is True
        assert set(rule["to_kinds"]) <= {"local", "state", "tribal"}
        assert rule["to_states"] == ["CA"]  # empty would mean any state
        for ori in rule["to_agencies"]:
            assert kinds[ori] != "federal" and states[ori] == "CA"
        assert rule["purposes"] == ["*"] or set(rule["purposes"]) <= codes
        assert "CIVIL_IMMIGRATION" not in rule["purposes"]


def test_sharing_dates_and_scopes() -> None:
    rules = doc()["sharing"]
    expiries: list[date] = [r["expires"] for r in rules]
    assert all(isinstance(e, date) and not isinstance(e, datetime) for e in expiries)
    assert NOW.date() - timedelta(days=30) in expiries  # lapsed a month ago
    assert any(e > NOW.date() for e in expiries)
    assert any(r["purposes"] != ["*"] for r in rules)


def test_some_camera_owners_share_with_nobody() -> None:
    owners = {c.agency_ori for c in build_cameras()}
    with_rules = {r["owner"] for r in doc()["sharing"]}
    assert with_rules <= owners
    assert len(owners - with_rules) >= 2


def test_every_category_of_sensitive_location() -> None:
    locations = doc()["sensitive_locations"]
    assert {loc["category"] for loc in locations} == CATEGORIES
    assert sum("polygon" in loc for loc in locations) >= 2
    for loc in locations:
        assert ("circle" in loc) != ("polygon" in loc)
        if "polygon" in loc:
            ring = loc["polygon"]
            assert len(ring) >= 4 and ring[0] == ring[-1]
            assert all(-123 < lon < -122 and 37 < lat < 38 for lon, lat in ring)


def _windows(now: datetime) -> dict[str, tuple[datetime, datetime]]:
    return {
        loc["category"]: (loc["active_from"], loc["active_until"])
        for loc in doc(now)["sensitive_locations"]
        if "active_from" in loc
    }


def test_event_windows_are_relative_to_now() -> None:
    windows = _windows(NOW)
    assert set(windows) == {"protest", "ceremony"}
    for start, end in windows.values():
        assert start.tzinfo is not None and start.utcoffset() == timedelta(0)
        assert NOW - timedelta(days=60) < start < end < NOW
    later = _windows(NOW + timedelta(days=100))
    for category, (start, end) in windows.items():
        assert later[category] == (start + timedelta(days=100), end + timedelta(days=100))


def test_deterministic() -> None:
    assert demo_policy_toml(NOW) == demo_policy_toml(NOW)


def test_passes_the_policy_validator() -> None:
    document = pytest.importorskip("proxy.policy.document")
    policy = document.parse_policy(demo_policy_toml(NOW).encode())
    assert len(policy.agencies) == len(AGENCIES)
