"""Policy diff for policy_loaded audit entries: what changed, compact and deterministic."""

from __future__ import annotations

import json

from proxy.policy import Policy, diff, parse_policy

BASE = """
[settings]
retention_days = 365
max_results = 5000
justification_min_chars = 20
prohibited_terms = ["ICE"]
rate_limit_per_minute = 60

[[agencies]]
ori = "CA0010900"
name = "Oakland PD"
kind = "local"
state = "CA"

[[agencies]]
ori = "CA0380100"
name = "San Francisco PD"
kind = "local"
state = "CA"

[[agencies]]
ori = "DOJFBI000"
name = "FBI San Francisco"
kind = "federal"

[[purposes]]
code = "HOMICIDE"
max_lookback_days = 365

[[purposes]]
code = "ROBBERY"
max_lookback_days = 90
"""

RULE_A = """
[[sharing]]
owner = "CA0010900"
to_kinds = ["local", "state"]
to_states = ["CA"]
purposes = ["HOMICIDE"]
expires = 2027-06-30
"""

RULE_B = """
[[sharing]]
owner = "CA0380100"
to_kinds = ["local"]
to_states = ["CA"]
purposes = ["*"]
expires = 2027-06-30
"""

SCHOOL = """
[[sensitive_locations]]
name = "Lincoln Elementary"
category = "school"
circle = { lat = 37.8012, lon = -122.2710, radius_m = 150 }
"""

RALLY = """
[[sensitive_locations]]
name = "May Day rally"
category = "protest"
circle = { lat = 37.8030, lon = -122.2570, radius_m = 300 }
active_from = 2026-05-01T16:00:00Z
active_until = 2026-05-01T22:00:00Z
"""


def policy(*parts: str) -> Policy:
    return parse_policy("".join(parts).encode())


OLD = policy(BASE, RULE_A, RULE_B, SCHOOL, RALLY)


def test_unchanged_reload_is_just_the_versions() -> None:
    assert diff(OLD, policy(BASE, RULE_A, RULE_B, SCHOOL, RALLY)) == {
        "from": OLD.version,
        "to": OLD.version,
    }
    # Reordering rules and locations changes the file (and its version), not the policy.
    moved = policy(BASE, RULE_B, RULE_A, RALLY, SCHOOL)
    assert diff(OLD, moved) == {"from": OLD.version, "to": moved.version}


def test_quietly_widened_rule_is_visible() -> None:
    wide = policy(
        BASE,
        RULE_A.replace('["local", "state"]', '["local", "state", "federal"]'),
        RULE_B,
        SCHOOL,
        RALLY,
    )
    d = diff(OLD, wide)
    assert set(d) == {"from", "to", "sharing"}
    assert d["sharing"] == {
        "changed": [
            {
                "owner": "CA0010900",
                "old_index": 0,
                "new_index": 0,
                "fields": {
                    "to_kinds": {
                        "before": ["local", "state"],
                        "after": ["federal", "local", "state"],
                    }
                },
                "widened": ["to_kinds"],
            }
        ]
    }


def test_widening_and_narrowing_fields() -> None:
    def widened(new_rule: str) -> list[str]:
        d = diff(OLD, policy(BASE, new_rule, RULE_B, SCHOOL, RALLY))
        (change,) = d["sharing"]["changed"]
        return list(change["widened"])

    assert widened(RULE_A.replace('to_states = ["CA"]\n', "")) == ["to_states"]
    assert widened(RULE_A.replace('["CA"]', '["CA", "NV"]')) == ["to_states"]
    assert widened(RULE_A.replace('["HOMICIDE"]', '["*"]')) == ["purposes"]
    assert widened(RULE_A.replace("2027-06-30", "2030-01-01")) == ["expires"]
    assert widened(RULE_A.replace("expires = 2027-06-30\n", "")) == ["expires"]
    assert widened(RULE_A + "exclude_immigration_enforcement = false\n") == [
        "exclude_immigration_enforcement"
    ]
    assert widened(
        RULE_A.replace("[[sharing]]\n", '[[sharing]]\nto_agencies = ["DOJFBI000"]\n')
    ) == ["to_agencies"]
    # Narrowing changes are reported, but nothing is widened.
    assert widened(RULE_A.replace('["local", "state"]', '["local"]')) == []
    assert widened(RULE_A.replace("2027-06-30", "2026-12-31")) == []
    assert widened(RULE_A.replace('["HOMICIDE"]', '["HOMICIDE", "ROBBERY"]')) == ["purposes"]


def test_rules_added_and_removed_in_full() -> None:
    new_rule = RULE_B.replace('owner = "CA0380100"', 'owner = "DOJFBI000"')
    d = diff(OLD, policy(BASE, RULE_A, new_rule, SCHOOL, RALLY))
    assert d["sharing"]["removed"] == [
        {
            "old_index": 1,
            "rule": {
                "owner": "CA0380100",
                "to_kinds": ["local"],
                "to_states": ["CA"],
                "to_agencies": [],
                "exclude_immigration_enforcement": True,
                "purposes": ["*"],
                "expires": "2027-06-30",
            },
        }
    ]
    assert d["sharing"]["added"][0]["new_index"] == 1
    assert d["sharing"]["added"][0]["rule"]["owner"] == "DOJFBI000"
    assert "changed" not in d["sharing"]


def test_agencies_added_removed_changed() -> None:
    base = BASE.replace(
        'ori = "DOJFBI000"\nname = "FBI San Francisco"\nkind = "federal"\n',
        'ori = "DHSICE000"\nname = "FBI San Francisco"\nkind = "federal"\n',
    ).replace(
        'name = "San Francisco PD"\nkind = "local"\nstate = "CA"\n',
        'name = "San Francisco PD"\nkind = "local"\nstate = "CA"\nimmigration_enforcement = true\n',
    )
    d = diff(OLD, policy(base, RULE_A, RULE_B, SCHOOL, RALLY))
    assert d["agencies"] == {
        "added": ["DHSICE000"],
        "removed": ["DOJFBI000"],
        "changed": [
            {
                "ori": "CA0380100",
                "fields": {"immigration_enforcement": {"before": False, "after": True}},
            }
        ],
    }


def test_settings_and_purposes_changed() -> None:
    base = (
        BASE.replace("max_results = 5000", "max_results = 10000")
        .replace('prohibited_terms = ["ICE"]', "prohibited_terms = []")
        .replace("max_lookback_days = 90", "max_lookback_days = 900")
        + '\n[[purposes]]\ncode = "CIVIL_IMMIGRATION"\nprohibited = true\n'
    )
    d = diff(OLD, policy(base, RULE_A, RULE_B, SCHOOL, RALLY))
    assert d["settings"] == {
        "max_results": {"before": 5000, "after": 10000},
        "prohibited_terms": {"before": ["ICE"], "after": []},
    }
    assert d["purposes"] == {
        "added": ["CIVIL_IMMIGRATION"],
        "changed": [
            {"code": "ROBBERY", "fields": {"max_lookback_days": {"before": 90, "after": 900}}}
        ],
    }


def test_sensitive_locations() -> None:
    moved = RALLY.replace("2026-05-01T22:00:00Z", "2026-05-01T20:00:00Z")
    clinic = SCHOOL.replace("Lincoln Elementary", "Eastside Clinic").replace("school", "medical")
    d = diff(OLD, policy(BASE, RULE_A, RULE_B, clinic, moved))
    assert d["sensitive_locations"] == {
        "added": ["Eastside Clinic"],
        "removed": ["Lincoln Elementary"],
        "changed": [
            {
                "name": "May Day rally",
                "fields": {
                    "active_until": {
                        "before": "2026-05-01T22:00:00+00:00",
                        "after": "2026-05-01T20:00:00+00:00",
                    }
                },
            }
        ],
    }


def test_first_load_is_counts_only() -> None:
    assert diff(None, OLD) == {
        "from": None,
        "to": OLD.version,
        "initial": {"agencies": 3, "purposes": 2, "sharing": 2, "sensitive_locations": 2},
    }


def test_json_ready_and_deterministic() -> None:
    new = policy(
        BASE.replace("max_results = 5000", "max_results = 1"),
        RULE_B.replace('["local"]', '["state", "local", "federal"]'),
        RULE_A.replace("expires = 2027-06-30\n", ""),
        RALLY.replace("300", "301"),
    )
    d = diff(OLD, new)
    text = json.dumps(d, allow_nan=False)  # plain types only
    assert json.loads(text) == d
    assert json.dumps(diff(OLD, new)) == text
    assert d["sharing"]["changed"][0]["owner"] == "CA0010900"  # sorted by owner
    assert d["sharing"]["changed"][1]["fields"]["to_kinds"]["after"] == [
        "federal",
        "local",
        "state",
    ]
    assert d["sensitive_locations"]["changed"][0]["fields"] == {
        "circle": {
            "before": {"lat": 37.803, "lon": -122.257, "radius_m": 300.0},
            "after": {"lat": 37.803, "lon": -122.257, "radius_m": 301.0},
        }
    }


def test_a_new_rule_is_a_widening() -> None:
    # Issue 13: a rule added beside an unchanged one, sharing with federal agencies for any
    # purpose and never expiring, was listed without saying it widens anything.
    federal = '\n[[sharing]]\nowner = "CA0010900"\nto_kinds = ["federal"]\npurposes = ["*"]\n'
    d = diff(OLD, policy(BASE, RULE_A, RULE_B, federal, SCHOOL, RALLY))
    (added,) = d["sharing"]["added"]
    assert added["rule"]["to_kinds"] == ["federal"] and added["rule"]["expires"] is None
    assert added["widened"] == ["purposes", "to_kinds"]
    agency = federal.replace('to_kinds = ["federal"]', 'to_agencies = ["DOJFBI000"]')
    (added,) = diff(OLD, policy(BASE, RULE_A, RULE_B, agency, SCHOOL, RALLY))["sharing"]["added"]
    assert added["widened"] == ["purposes", "to_agencies"]
