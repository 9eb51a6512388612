"""Owners' own retention (SPEC §11): parsed from [[agencies]], the shorter one applies, and the
filter, explain and diff all read it the same way."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from proxy.policy import Disclosure, PolicyError, parse_policy
from proxy.policy.diff import diff
from proxy.policy.explain import explain, render
from proxy.policy.retention import owner_cutoffs, retention_days, shorter_retention

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OAK, UNION, BRK = "CA0010900", "CA0011000", "CA0010800"
FAR = (37.9, -122.1)

TEXT = f"""
[settings]
retention_days = 365
max_results = 100
justification_min_chars = 5
rate_limit_per_minute = 60

[[agencies]]
ori = "{OAK}"
name = "Oakland PD"
kind = "local"
state = "CA"

[[agencies]]
ori = "{UNION}"
name = "Union City PD"
kind = "local"
state = "CA"
retention_days = 21

[[agencies]]
ori = "{BRK}"
name = "Berkeley PD"
kind = "local"
state = "CA"
retention_days = 400

[[purposes]]
code = "HOMICIDE"
max_lookback_days = 365

[[sharing]]
owner = "{UNION}"
to_kinds = ["local"]
purposes = ["*"]

[[sharing]]
owner = "{BRK}"
to_kinds = ["local"]
purposes = ["*"]
"""
POLICY = parse_policy(TEXT.encode())


def test_retention_days_on_agencies_is_parsed_into_the_owner_mapping() -> None:
    assert dict(POLICY.owner_retention_days) == {UNION: 21, BRK: 400}
    assert POLICY.agencies[OAK].retention_days is None


@pytest.mark.parametrize("value", ["0", "-3", '"21"', "2.5", "true"])
def test_invalid_retention_days_names_its_field(value: str) -> None:
    bad = TEXT.replace("retention_days = 21", f"retention_days = {value}")
    with pytest.raises(PolicyError) as caught:
        parse_policy(bad.encode())
    assert [e.path for e in caught.value.errors] == ["agencies[1].retention_days"]


def test_the_shorter_retention_applies_and_a_longer_one_is_ignored() -> None:
    assert retention_days(POLICY, UNION) == 21
    assert retention_days(POLICY, BRK) == 365  # 400 cannot lengthen the global 365
    assert retention_days(POLICY, OAK) == 365
    assert retention_days(POLICY, "ZZ9999999") == 365  # not in the policy: the global one
    assert dict(shorter_retention(POLICY)) == {UNION: 21}
    assert dict(owner_cutoffs(POLICY, NOW)) == {UNION: NOW - timedelta(days=21)}


def _reason(owner: str, age: timedelta) -> str | None:
    d = Disclosure.build(POLICY, (OAK,), POLICY.purposes["HOMICIDE"], NOW)
    return d.withhold_reason(owner, NOW - age, *FAR)


def test_the_filter_withholds_an_owners_reads_past_its_own_retention() -> None:
    assert _reason(UNION, timedelta(days=21)) is None  # exactly at the cutoff: kept
    assert _reason(UNION, timedelta(days=21, microseconds=1)) == "retention"
    assert _reason(UNION, timedelta(days=100)) == "retention"
    # Others keep the global retention.
    assert _reason(BRK, timedelta(days=100)) is None
    assert _reason(OAK, timedelta(days=100)) is None
    assert _reason(BRK, timedelta(days=366)) == "retention"


def test_explain_shows_each_owners_effective_retention() -> None:
    e = explain(POLICY, OAK, None, "HOMICIDE", date(2026, 3, 1))
    assert {o.owner.ori: o.retention_days for o in e.owners} == {OAK: 365, UNION: 21, BRK: 365}
    row = next(line for line in render(e).splitlines() if line.startswith(UNION))
    assert row.split()[:3] == [UNION, "yes", "21d"]


def test_diff_reports_effective_retention_changes_and_lengthening() -> None:
    longer = parse_policy(TEXT.replace("retention_days = 21", "retention_days = 90").encode())
    changes = diff(POLICY, longer)
    assert changes["retention"] == {
        "changed": [{"ori": UNION, "before": 21, "after": 90}],
        "lengthened": [UNION],
    }
    shorter = parse_policy(TEXT.replace("retention_days = 400", "retention_days = 30").encode())
    assert diff(POLICY, shorter)["retention"] == {
        "changed": [{"ori": BRK, "before": 365, "after": 30}]
    }
    # 400 -> 500 changes nothing that applies: the global 365 still wins.
    same = parse_policy(TEXT.replace("retention_days = 400", "retention_days = 500").encode())
    assert "retention" not in diff(POLICY, same)


def test_check_summarises_own_retention_and_warns_when_it_has_no_effect() -> None:
    from proxy.policy.lint import lint
    from proxy.policy.summary import summarize

    assert summarize(POLICY).splitlines()[-1] == f"owners' own retention: {UNION} 21 days"
    warnings = [w for w in lint(POLICY, date(2026, 3, 1)) if w.code == "retention_ignored"]
    assert [(w.path, w.message) for w in warnings] == [
        (
            "agencies[2].retention_days",
            "400 days is not shorter than settings.retention_days (365): it has no effect",
        )
    ]
