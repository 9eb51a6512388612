"""The transparency page's recipients agree with the live read filter, agency by agency, purpose
by purpose, day by day: it can neither undercount nor overcount who may receive reads."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from proxy.demo.policy import demo_policy_toml
from proxy.oversight.transparency import (
    Activity,
    UsageRow,
    build_page,
    permitted_purposes,
    recipients,
)
from proxy.oversight.transparency_flows import build_overview
from proxy.policy.disclosure import Disclosure
from proxy.policy.document import parse_policy
from proxy.policy.model import Policy
from tests.http.conftest import NOW, policy_text
from tests.policies.packs import pack

EXTRA_RULES = """
[[sharing]]
owner = "CA0010900"
to_agencies = ["CA0389999"]
exclude_immigration_enforcement = false
purposes = ["HOMICIDE", "KIDNAPPING"]
expires = 2026-12-31

[[sharing]]
owner = "CA0010900"
to_kinds = ["local"]
purposes = ["AMBER_ALERT"]
"""


def policies() -> list[Policy]:
    return [
        parse_policy(policy_text().encode()),
        parse_policy((policy_text() + EXTRA_RULES).encode()),
        parse_policy(demo_policy_toml(NOW).encode()),
        pack("il"),  # rules that admit only with a declaration
        pack("ct"),
    ]


@pytest.mark.parametrize("policy", policies(), ids=["test", "test+extra", "demo", "il", "ct"])
@pytest.mark.parametrize("day", [date(2026, 6, 14), date(2026, 6, 15), date(2027, 1, 1)])
def test_recipients_are_exactly_whom_the_read_filter_serves(policy: Policy, day: date) -> None:
    now = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
    checked = 0
    for owner in policy.agencies:
        listed = {r.agency.ori: r for r in recipients(policy, owner, day)}
        for ori in policy.agencies:
            if ori == owner:
                assert ori not in listed
                continue
            for code in permitted_purposes(policy):
                purpose = policy.purposes[code]
                served = any(
                    Disclosure.build(policy, (ori,), purpose, now, text).shares(owner)
                    for text in (None, *policy.required_declarations)
                )
                shown = ori in listed and any(code in g.purposes for g in listed[ori].grants)
                assert served == shown, (owner, ori, code, day)
                checked += 1
    assert checked > 100


def test_until_is_the_latest_expiry_of_the_admitting_rules() -> None:
    policy = parse_policy((policy_text() + EXTRA_RULES).encode())
    by_ori = {r.agency.ori: r for r in recipients(policy, "CA0010900", date(2026, 6, 15))}
    ice = by_ori["CA0389999"]  # named by a rule without the immigration exclusion
    assert [(g.purposes, g.until) for g in ice.grants] == [
        (("HOMICIDE", "KIDNAPPING"), date(2026, 12, 31))
    ]
    reno = by_ori["NV0160200"]  # out of state: only the local AMBER_ALERT rule, no expiry
    assert [(g.purposes, g.until) for g in reno.grants] == [(("AMBER_ALERT",), None)]
    berkeley = by_ori["CA0010800"]  # both rules: AMBER_ALERT never expires, the rest in 2030
    assert berkeley.all_purposes
    assert [g.until for g in berkeley.grants] == [None, date(2030, 12, 31)]
    assert berkeley.grants[0].purposes == ("AMBER_ALERT",)
    page = build_page(policy, "CA0010900", NOW, Activity((), ()), None)
    assert page.exposure.any
    assert {a.ori for a in page.exposure.immigration} == {"CA0389999"}
    assert {a.ori for a in page.exposure.out_of_state} == {"NV0160200"}
    assert {a.ori for a in page.exposure.federal} == {"CA0389999"}


def test_index_flags_only_agencies_that_share_outside() -> None:
    policy = parse_policy((policy_text() + EXTRA_RULES).encode())
    rows = {r.agency.ori: r for r in build_overview(policy, NOW).rows}
    assert rows["CA0010900"].exposed and rows["CA0010900"].recipients == 6
    assert not rows["CA0010000"].exposed and rows["CA0010000"].recipients == 3
    assert rows["CA0380100"].recipients == 0  # its only rule expired the day before
    assert rows["CA0380100"].shares and not rows["CA0010800"].shares  # an owner, or none
    # The other direction: ICE can receive Oakland's reads (a rule names it), nobody else's.
    assert [s.owner.ori for s in rows["CA0389999"].sources] == ["CA0010900"]
    assert [r.agency.ori for r in build_overview(policy, NOW).watched_rows()] == [
        "CA0389900",
        "CA0389999",
    ]


@pytest.mark.parametrize("policy", policies(), ids=["test", "test+extra", "demo", "il", "ct"])
def test_the_other_direction_is_exactly_whom_the_read_filter_serves(policy: Policy) -> None:
    """Whose reads an agency can receive, as the index lists it, is what the read filter
    would disclose to it for some permitted purpose: owner by owner, nothing more or less."""
    for row in build_overview(policy, NOW).rows:
        served = {
            owner
            for owner in policy.agencies
            if owner != row.agency.ori
            and any(
                Disclosure.build(policy, (row.agency.ori,), policy.purposes[c], NOW, text).shares(
                    owner
                )
                for c in permitted_purposes(policy)
                for text in (None, *policy.required_declarations)  # any search may carry one
            )
        }
        assert {s.owner.ori for s in row.sources} == served, row.agency.ori


def test_chart_series_count_both_recipients_of_an_on_behalf_of_search() -> None:
    policy = parse_policy(policy_text().encode())
    usage = (
        UsageRow("CA0010800", "CA0349400", "ROBBERY", 2, 5),
        UsageRow("CA0010800", None, "HOMICIDE", 1, 1),
        UsageRow("CA0010900", None, "HOMICIDE", 4, 9),
    )
    page = build_page(policy, "CA0010900", NOW, Activity(usage, ()), None)
    assert page.searches_by_recipient() == [("CA0010900", 4), ("CA0010800", 3), ("CA0349400", 2)]
    assert page.reads_by_purpose() == [("HOMICIDE", 10), ("ROBBERY", 5)]


def test_recipients_who_need_a_declaration_are_listed() -> None:
    """Illinois: an out-of-state sheriff receives Mount Prospect's reads once it declares, so
    the public page lists it; the State Police has no declaration rule and does not list it."""
    il = pack("il")
    day = date(2026, 12, 1)
    assert "TX1260000" in {r.agency.ori for r in recipients(il, "IL0161300", day)}
    assert "TX1260000" not in {r.agency.ori for r in recipients(il, "IL0849800", day)}
