"""The two-person fields of SPEC §12: settings, per-purpose approval_required and exigent."""

from __future__ import annotations

from datetime import date

import pytest

from proxy.policy import PolicyError, diff, explain, parse_policy
from proxy.policy.explain import describe_purpose
from proxy.policy.two_person_fields import (
    DEFAULT_APPROVAL_VALID_HOURS,
    DEFAULT_EXIGENT_PER_USER_PER_DAY,
    DEFAULT_EXIGENT_REVIEW_HOURS,
)
from tests.policy_text import OAKLAND, SETTINGS

PURPOSE = """
[[purposes]]
code = "HOMICIDE"
max_lookback_days = 30
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 500
area_max_window_hours = 6
"""


def policy(settings_extra: str = "", purpose_extra: str = "") -> bytes:
    return (SETTINGS + settings_extra + OAKLAND + PURPOSE + purpose_extra).encode()


def errors(data: bytes) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as info:
        parse_policy(data)
    return [(e.path, e.message) for e in info.value.errors]


def test_defaults_ask_for_no_approval_and_are_not_exigent() -> None:
    p = parse_policy(policy())
    assert p.settings.home_state is None
    assert p.settings.approval_valid_hours == DEFAULT_APPROVAL_VALID_HOURS == 24
    assert p.settings.exigent_review_hours == DEFAULT_EXIGENT_REVIEW_HOURS == 72
    assert p.settings.exigent_per_user_per_day == DEFAULT_EXIGENT_PER_USER_PER_DAY == 3
    assert p.purposes["HOMICIDE"].approval_required == frozenset()
    assert p.purposes["HOMICIDE"].exigent is False


def test_spec_example_parses() -> None:
    settings = (
        'home_state = "CA"\napproval_valid_hours = 12\nexigent_review_hours = 48\n'
        "exigent_per_user_per_day = 2\n"
    )
    conditions = 'approval_required = ["area", "partial_plate", "federal_recipient", '
    conditions += '"out_of_state_recipient"]\nexigent = false\n'
    p = parse_policy(policy(settings, conditions))
    assert (p.settings.home_state, p.settings.approval_valid_hours) == ("CA", 12)
    assert (p.settings.exigent_review_hours, p.settings.exigent_per_user_per_day) == (48, 2)
    assert p.purposes["HOMICIDE"].approval_required == {
        "area",
        "partial_plate",
        "federal_recipient",
        "out_of_state_recipient",
    }


@pytest.mark.parametrize(
    ("settings_extra", "purpose_extra", "path", "fragment"),
    [
        ('home_state = "California"\n', "", "settings.home_state", "two-letter"),
        ("approval_valid_hours = 0\n", "", "settings.approval_valid_hours", ">= 1"),
        ('exigent_review_hours = "72"\n', "", "settings.exigent_review_hours", ">= 1"),
        ("exigent_per_user_per_day = true\n", "", "settings.exigent_per_user_per_day", ">= 1"),
        ("", 'approval_required = ["car"]\n', "purposes[0].approval_required[0]", "condition"),
        ("", 'approval_required = "area"\n', "purposes[0].approval_required", "list"),
        ("", 'exigent = "yes"\n', "purposes[0].exigent", "true or false"),
        (
            "",
            'approval_required = ["out_of_state_recipient"]\n',
            "purposes[0].approval_required",
            "home_state",
        ),
        (
            "",
            'approval_required = ["area"]\nexigent = true\n',
            "purposes[0].exigent",
            "both exigent and approval_required",
        ),
    ],
)
def test_each_error_names_its_field(
    settings_extra: str, purpose_extra: str, path: str, fragment: str
) -> None:
    found = errors(policy(settings_extra, purpose_extra))
    assert [p for p, _ in found] == [path], found
    assert fragment in found[0][1]


def test_exigent_alone_is_fine() -> None:
    assert parse_policy(policy("", "exigent = true\n")).purposes["HOMICIDE"].exigent


def test_explain_shows_approval_and_exigent() -> None:
    p = parse_policy(policy('home_state = "CA"\n', 'approval_required = ["area"]\n'))
    shown = describe_purpose(explain(p, "CA0010900", None, "HOMICIDE", date(2026, 6, 1)))
    assert "supervisor approval first for: area" in shown
    p = parse_policy(policy("", "exigent = true\n"))
    shown = describe_purpose(explain(p, "CA0010900", None, "HOMICIDE", date(2026, 6, 1)))
    assert "exigent" in shown and "approval" not in shown


def test_diff_reports_the_two_person_fields() -> None:
    old = parse_policy(policy())
    new = parse_policy(policy('home_state = "CA"\n', 'approval_required = ["area"]\n'))
    d = diff(old, new)
    assert d["settings"]["home_state"] == {"before": None, "after": "CA"}
    (changed,) = d["purposes"]["changed"]
    assert changed["fields"]["approval_required"] == {"before": [], "after": ["area"]}
    d = diff(old, parse_policy(policy("", "exigent = true\n")))
    assert d["purposes"]["changed"][0]["fields"]["exigent"] == {"before": False, "after": True}
