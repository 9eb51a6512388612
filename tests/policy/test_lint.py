"""Policy lint: each warning fires exactly when it should."""

from __future__ import annotations

from datetime import date

import pytest

from proxy.policy import LintWarning, lint, parse_policy
from tests.policy_text import CHP, FBI, OAKLAND, RENO, SETTINGS, SFPD

TODAY = date(2026, 3, 1)

BASE = (
    SETTINGS
    + OAKLAND
    + SFPD
    + CHP
    + RENO
    + FBI
    + """
[[agencies]]
ori = "DHSICE000"
name = "ICE ERO San Francisco"
kind = "federal"
immigration_enforcement = true

[[agencies]]
ori = "CA0999999"
name = "County Sheriff (287(g))"
kind = "local"
state = "CA"
immigration_enforcement = true

[[agencies]]
ori = "PVT000001"
name = "Private lot operator"
kind = "private"

[[purposes]]
code = "HOMICIDE"
max_lookback_days = 365
"""
)

CLEAN = {
    "owner": '"CA0010900"',
    "to_kinds": '["local", "state"]',
    "to_states": '["CA"]',
    "purposes": '["HOMICIDE"]',
    "expires": "2027-06-30",
}


def rule(**changes: str | None) -> str:
    fields = {**CLEAN, **changes}
    body = "\n".join(f"{k} = {v}" for k, v in fields.items() if v is not None)
    return f"\n[[sharing]]\n{body}\n"


def warnings(*rules: str, today: date = TODAY) -> list[LintWarning]:
    return lint(parse_policy((BASE + "".join(rules)).encode()), today)


def codes(*rules: str, today: date = TODAY) -> list[str]:
    return [w.code for w in warnings(*rules, today=today)]


def test_clean_rule_has_no_warnings() -> None:
    assert warnings(rule()) == []
    assert warnings() == []  # no rules at all


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # expiry
        ({"expires": None}, ["no_expiry"]),
        ({"expires": "2026-02-28"}, ["expired"]),
        ({"expires": "2026-03-01"}, []),  # still applies on its last day
        # purposes
        ({"purposes": '["*"]'}, ["all_purposes"]),
        ({"purposes": '["HOMICIDE", "*"]'}, ["all_purposes"]),
        # federal
        ({"to_kinds": '["local", "federal"]'}, ["federal"]),
        ({"to_agencies": '["DOJFBI000"]'}, ["federal"]),
        # out of state
        ({"to_states": '["CA", "NV"]'}, ["out_of_state"]),
        ({"to_states": None}, ["out_of_state"]),
        ({"to_agencies": '["NV0160100"]'}, ["out_of_state"]),
        ({"to_agencies": '["PVT000001"]'}, ["out_of_state"]),  # no state is not in CA
        ({"to_agencies": '["CA0380100"]'}, []),  # named, but in state
        ({"to_states": '["CA"]', "to_kinds": '["tribal"]'}, []),
        # immigration enforcement: only when a marked agency is actually admitted
        ({"exclude_immigration_enforcement": "false"}, ["immigration"]),  # the sheriff
        ({"exclude_immigration_enforcement": "false", "to_kinds": '["state"]'}, []),
        ({"exclude_immigration_enforcement": "true", "to_agencies": '["CA0999999"]'}, []),
        (
            {"exclude_immigration_enforcement": "false", "to_agencies": '["DHSICE000"]'},
            ["federal", "immigration"],
        ),
        # several at once, in field order
        (
            {
                "expires": None,
                "purposes": '["*"]',
                "to_kinds": '["federal", "local"]',
                "to_states": None,
            },
            ["no_expiry", "all_purposes", "federal", "out_of_state"],
        ),
    ],
)
def test_each_warning(changes: dict[str, str | None], expected: list[str]) -> None:
    assert codes(rule(**changes)) == expected


def test_paths_name_the_rule_and_field() -> None:
    found = warnings(rule(), rule(expires=None), rule(to_agencies='["DOJFBI000"]'))
    assert [(w.path, w.code) for w in found] == [
        ("sharing[1].expires", "no_expiry"),
        ("sharing[2].to_agencies", "federal"),
    ]
    assert "DOJFBI000" in found[1].message
    assert str(found[0]).startswith("sharing[1].expires: ")


def test_expired_depends_on_today() -> None:
    r = rule(expires="2026-06-30")
    assert codes(r, today=date(2026, 6, 30)) == []
    assert codes(r, today=date(2026, 7, 1)) == ["expired"]


def test_immigration_agency_as_owner_is_not_reported_for_itself() -> None:
    # The sheriff's own reads are its own; a rule of its own admitting "local" does not widen
    # anything toward immigration enforcement unless another marked agency matches.
    own = rule(owner='"CA0999999"', exclude_immigration_enforcement="false", to_kinds='["local"]')
    assert codes(own) == []


def test_immigration_message_names_the_agencies() -> None:
    r = rule(
        exclude_immigration_enforcement="false", to_kinds='["local", "federal"]', to_states=None
    )
    found = [w for w in warnings(r) if w.code == "immigration"]
    assert len(found) == 1
    # DHSICE000 has no state but to_states is empty, so it matches as a federal agency.
    assert "CA0999999" in found[0].message and "DHSICE000" in found[0].message
    assert found[0].path == "sharing[0].exclude_immigration_enforcement"


def test_stateless_owner_has_no_out_of_state_warning() -> None:
    r = rule(owner='"DOJFBI000"', to_kinds='["local"]', to_states=None)
    assert codes(r) == []
