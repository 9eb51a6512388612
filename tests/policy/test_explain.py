"""explain: a hand-worked matrix of who sees whose reads, and agreement with disclosure."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

from proxy.policy import Disclosure, explain, parse_policy
from proxy.policy.explain import OWN, render
from tests.policy_text import CHP, FBI, OAKLAND, RENO, SETTINGS, SFPD

TODAY = date(2026, 3, 1)

POLICY = parse_policy(
    (
        SETTINGS
        + OAKLAND
        + SFPD
        + CHP
        + RENO
        + FBI
        + """
[[agencies]]
ori = "CA0999999"
name = "County Sheriff (287(g))"
kind = "local"
state = "CA"
immigration_enforcement = true

[[purposes]]
code = "HOMICIDE"
max_lookback_days = 365
query_types = ["plate", "area"]
area_max_radius_m = 500
area_max_window_hours = 6

[[purposes]]
code = "STOLEN"
max_lookback_days = 30
case_number = "optional"
sensitive_locations = "include"

[[purposes]]
code = "CIVIL_IMMIGRATION"
prohibited = true

# sharing[0]
[[sharing]]
owner = "CA0010900"
to_kinds = ["local", "state"]
to_states = ["CA"]
purposes = ["*"]
expires = 2027-06-30

# sharing[1]
[[sharing]]
owner = "CA0010900"
to_agencies = ["DOJFBI000"]
purposes = ["HOMICIDE"]
expires = 2027-06-30

# sharing[2]: expired on 2026-01-31
[[sharing]]
owner = "CA0380100"
to_kinds = ["local"]
to_states = ["CA"]
purposes = ["HOMICIDE"]
expires = 2026-01-31

# sharing[3]
[[sharing]]
owner = "CA0380100"
to_kinds = ["state"]
to_states = ["CA"]
purposes = ["STOLEN"]
expires = 2027-06-30

# sharing[4]: anyone but tribal/private, any state, immigration enforcement included
[[sharing]]
owner = "CA0349400"
to_kinds = ["local", "state", "federal"]
purposes = ["*"]
exclude_immigration_enforcement = false
expires = 2027-06-30

# sharing[5]
[[sharing]]
owner = "NV0160100"
to_kinds = ["local"]
to_states = ["NV"]
purposes = ["*"]
"""
    ).encode()
)

OAK, SFPD, CHP, RENO, FBI, SHRF = (
    "CA0010900",
    "CA0380100",
    "CA0349400",
    "NV0160100",
    "DOJFBI000",
    "CA0999999",
)
NONE = "the owner has no sharing rules"

# Worked out by hand from the rules above, on 2026-03-01. For each owner: (reads returned?,
# then per recipient the admitting rule, OWN, or the reason text for a refusal).
MATRIX: dict[tuple[str, str | None, str], dict[str, tuple[bool, tuple[str, ...]]]] = {
    (OAK, None, "HOMICIDE"): {
        CHP: (True, ("sharing[4]",)),
        SFPD: (
            False,
            ("sharing[2] expired on 2026-01-31; sharing[3] does not list purpose HOMICIDE",),
        ),
        OAK: (True, (OWN,)),
        SHRF: (False, (NONE,)),
        FBI: (False, (NONE,)),
        RENO: (False, ("sharing[5] does not admit state CA",)),
    },
    (SFPD, FBI, "HOMICIDE"): {
        CHP: (True, ("sharing[4]", "sharing[4]")),
        SFPD: (
            False,
            (OWN, "sharing[2] expired on 2026-01-31; sharing[3] does not list purpose HOMICIDE"),
        ),
        OAK: (True, ("sharing[0]", "sharing[1]")),
        SHRF: (False, (NONE, NONE)),
        FBI: (False, (NONE, OWN)),
        RENO: (
            False,
            ("sharing[5] does not admit state CA", "sharing[5] does not admit kind federal"),
        ),
    },
    (SFPD, FBI, "STOLEN"): {
        CHP: (True, ("sharing[4]", "sharing[4]")),
        SFPD: (
            False,
            (OWN, "sharing[2] expired on 2026-01-31; sharing[3] does not admit kind federal"),
        ),
        OAK: (
            False,
            (
                "sharing[0]",
                "sharing[0] does not admit kind federal; sharing[1] does not list purpose STOLEN",
            ),
        ),
        SHRF: (False, (NONE, NONE)),
        FBI: (False, (NONE, OWN)),
        RENO: (
            False,
            ("sharing[5] does not admit state CA", "sharing[5] does not admit kind federal"),
        ),
    },
    (SHRF, None, "HOMICIDE"): {
        CHP: (True, ("sharing[4]",)),  # exclude_immigration_enforcement = false
        SFPD: (
            False,
            ("sharing[2] expired on 2026-01-31; sharing[3] does not list purpose HOMICIDE",),
        ),
        OAK: (
            False,
            (
                "sharing[0] excludes immigration-enforcement agencies;"
                " sharing[1] excludes immigration-enforcement agencies",
            ),
        ),
        SHRF: (True, (OWN,)),
        FBI: (False, (NONE,)),
        # The exclusion is checked before kind and state (and sharing[5] leaves it on).
        RENO: (False, ("sharing[5] excludes immigration-enforcement agencies",)),
    },
    (CHP, RENO, "STOLEN"): {
        CHP: (True, (OWN, "sharing[4]")),
        SFPD: (
            False,
            (
                "sharing[3]",
                "sharing[2] expired on 2026-01-31; sharing[3] does not admit kind local",
            ),
        ),
        OAK: (
            False,
            (
                "sharing[0]",
                "sharing[0] does not admit state NV; sharing[1] does not list purpose STOLEN",
            ),
        ),
        SHRF: (False, (NONE, NONE)),
        FBI: (False, (NONE, NONE)),
        RENO: (False, ("sharing[5] does not admit kind state", OWN)),
    },
}


@pytest.mark.parametrize("case", list(MATRIX), ids=lambda c: "-".join(str(x) for x in c))
def test_matrix(case: tuple[str, str | None, str]) -> None:
    requester, obo, purpose = case
    e = explain(POLICY, requester, obo, purpose, TODAY)
    assert e.problems == () and e.purpose_status == "allowed" and not e.unknown
    got = {
        o.owner.ori: (o.receives, tuple(v.via or v.why_not() for v in o.recipients))
        for o in e.owners
    }
    assert got == MATRIX[case]
    assert [o.owner.ori for o in e.owners] == sorted(POLICY.agencies)


def test_sfpd_rule_before_it_expired() -> None:
    e = explain(POLICY, OAK, None, "HOMICIDE", date(2026, 1, 31))
    sfpd = next(o for o in e.owners if o.owner.ori == SFPD)
    assert sfpd.receives and sfpd.recipients[0].via == "sharing[2]"


def test_agrees_with_disclosure_everywhere() -> None:
    """explain must never claim what a search would not do, for any combination."""
    codes = ["HOMICIDE", "STOLEN"]
    oris = sorted(POLICY.agencies)
    for day in (date(2026, 1, 31), TODAY, date(2027, 7, 1)):
        now = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        for requester, obo, code in itertools.product(oris, [None, *oris], codes):
            if obo == requester:
                continue
            e = explain(POLICY, requester, obo, code, day)
            recipients = (requester,) if obo is None else (requester, obo)
            d = Disclosure.build(POLICY, recipients, POLICY.purposes[code], now)
            for o in e.owners:
                assert o.receives == d.shares(o.owner.ori), (requester, obo, code, o.owner.ori)


def test_purpose_status_and_problems() -> None:
    e = explain(POLICY, OAK, None, "CIVIL_IMMIGRATION", TODAY)
    assert e.purpose_status == "prohibited" and not e.unknown and e.owners == ()
    assert any("purpose_prohibited" in p for p in e.problems)

    e = explain(POLICY, OAK, None, "PARKING", TODAY)
    assert e.purpose_status == "unknown" and e.unknown and e.owners == ()

    e = explain(POLICY, "XX0000000", None, "HOMICIDE", TODAY)
    assert e.unknown and e.owners == () and "unknown_agency" in e.problems[0]

    e = explain(POLICY, OAK, "XX0000000", "HOMICIDE", TODAY)
    assert e.unknown and e.owners == ()

    e = explain(POLICY, OAK, OAK, "HOMICIDE", TODAY)
    assert not e.unknown and e.owners == () and "invalid_request" in e.problems[0]

    e = explain(POLICY, OAK, None, "STOLEN", TODAY)
    assert e.purpose is not None and e.purpose.sensitive_locations == "include"


def test_render_is_a_readable_table() -> None:
    text = render(explain(POLICY, SFPD, FBI, "HOMICIDE", TODAY))
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["requester", SFPD]
    assert "on behalf of  DOJFBI000  FBI San Francisco (federal)" in text
    assert "allowed: look back 365 days" in text and "area radius <= 500 m" in text
    row = next(line for line in lines if line.startswith(OAK))
    assert row.split()[:5] == [OAK, "yes", "365d", "sharing[0]", "sharing[1]"]
    assert f"  {SFPD} -> {FBI}: sharing[2] expired on 2026-01-31" in text
    assert lines[-1] == "reads of 2 of 6 agencies would be returned"

    refused = render(explain(POLICY, OAK, None, "CIVIL_IMMIGRATION", TODAY))
    assert "every search would be refused" in refused and "READS" not in refused
