from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from proxy.model import OnBehalfOf, Principal, SearchQuery
from proxy.policy import Allowed, Disclosure, Policy, admits, decide, parse_policy

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # today (UTC) = 2026-03-01

OAK = "CA0010900"  # local CA
SFPD = "CA0380100"  # local CA
CHP = "CA0349400"  # state CA
SJPD = "CA0430300"  # local CA
RENO = "NV0160200"  # local NV
FBI = "FBISF0000"  # federal, no state
ICE = "ICEERO000"  # federal, immigration enforcement
UNKNOWN = "ZZ9999999"  # owns reads in the store but is not in the policy

POLICY_TEXT = f"""
[settings]
retention_days = 365
max_results = 5000
justification_min_chars = 20
rate_limit_per_minute = 60

[[agencies]]
ori = "{OAK}"
name = "Oakland PD"
kind = "local"
state = "CA"

[[agencies]]
ori = "{SFPD}"
name = "San Francisco PD"
kind = "local"
state = "CA"

[[agencies]]
ori = "{CHP}"
name = "California Highway Patrol"
kind = "state"
state = "CA"

[[agencies]]
ori = "{SJPD}"
name = "San Jose PD"
kind = "local"
state = "CA"

[[agencies]]
ori = "{RENO}"
name = "Reno PD"
kind = "local"
state = "NV"

[[agencies]]
ori = "{FBI}"
name = "FBI San Francisco"
kind = "federal"

[[agencies]]
ori = "{ICE}"
name = "ICE ERO"
kind = "federal"
immigration_enforcement = true

[[purposes]]
code = "HOMICIDE"
max_lookback_days = 365
sensitive_locations = "withhold"

[[purposes]]
code = "STOLEN_VEHICLE"
max_lookback_days = 30
sensitive_locations = "include"

# OAK: California locals and state agencies, any purpose.
[[sharing]]
owner = "{OAK}"
to_kinds = ["local", "state"]
to_states = ["CA"]
exclude_immigration_enforcement = true
purposes = ["*"]

# SFPD: names FBI and ICE explicitly, but the exclusion still keeps ICE out.
[[sharing]]
owner = "{SFPD}"
to_agencies = ["{FBI}", "{ICE}"]
exclude_immigration_enforcement = true
purposes = ["*"]

# CHP: all locals, any state; last valid day is today.
[[sharing]]
owner = "{CHP}"
to_kinds = ["local"]
purposes = ["*"]
expires = 2026-03-01

# SJPD: all locals, but expired yesterday.
[[sharing]]
owner = "{SJPD}"
to_kinds = ["local"]
purposes = ["*"]
expires = 2026-02-28

# RENO: only for stolen vehicles, to OAK and (no exclusion) ICE.
[[sharing]]
owner = "{RENO}"
to_agencies = ["{OAK}", "{ICE}"]
exclude_immigration_enforcement = false
purposes = ["STOLEN_VEHICLE"]

# FBI and ICE share with nobody (no rules).

[[sensitive_locations]]
name = "Lincoln Elementary School"
category = "school"
circle = {{ lat = 37.8012, lon = -122.2710, radius_m = 150 }}

[[sensitive_locations]]
name = "May Day march"
category = "protest"
circle = {{ lat = 37.8052, lon = -122.2725, radius_m = 100 }}
active_from = 2026-02-01T16:00:00Z
active_until = 2026-02-01T22:00:00Z
"""
POLICY = parse_policy(POLICY_TEXT.encode())

FAR = (38.5, -121.5)  # Sacramento: no sensitive location near
SCHOOL = (37.8012, -122.2710)
MARCH = (37.8052, -122.2725)
RECENT = NOW - timedelta(days=1)


def disclosed(
    owner: str, requester: str, on_behalf: str | None, purpose: str, now: datetime = NOW
) -> bool:
    recipients = (requester,) if on_behalf is None else (requester, on_behalf)
    d = Disclosure.build(POLICY, recipients, POLICY.purposes[purpose], now)
    reason = d.withhold_reason(owner, RECENT, *FAR)
    assert reason in (None, "sharing")
    return reason is None


# (owner, requester, on_behalf_of, purpose, disclosed?) -- worked by hand from POLICY_TEXT.
MATRIX = [
    # OAK: CA local/state only
    (OAK, OAK, None, "HOMICIDE", True),  # own reads
    (OAK, SFPD, None, "HOMICIDE", True),  # local, CA
    (OAK, CHP, None, "HOMICIDE", True),  # state, CA
    (OAK, SJPD, None, "STOLEN_VEHICLE", True),  # "*" covers every purpose
    (OAK, RENO, None, "HOMICIDE", False),  # local but NV
    (OAK, FBI, None, "HOMICIDE", False),  # federal
    (OAK, ICE, None, "HOMICIDE", False),  # federal and immigration
    (OAK, SFPD, RENO, "HOMICIDE", False),  # admitted detective on behalf of a non-admitted agency
    (OAK, RENO, OAK, "HOMICIDE", False),  # even on behalf of the owner: RENO still receives
    (OAK, SFPD, CHP, "HOMICIDE", True),  # both admitted
    (OAK, SFPD, OAK, "HOMICIDE", True),  # the other recipient is the owner
    (OAK, SFPD, ICE, "HOMICIDE", False),
    # SFPD: to_agencies FBI, ICE; exclusion wins over naming ICE
    (SFPD, FBI, None, "HOMICIDE", True),
    (SFPD, ICE, None, "HOMICIDE", False),
    (SFPD, OAK, None, "HOMICIDE", False),  # not named, no kinds
    (SFPD, SFPD, FBI, "STOLEN_VEHICLE", True),
    (SFPD, FBI, ICE, "HOMICIDE", False),
    # CHP: expires today, still applies; any state
    (CHP, RENO, None, "HOMICIDE", True),
    (CHP, SJPD, None, "HOMICIDE", True),
    (CHP, FBI, None, "HOMICIDE", False),  # federal is not local
    (CHP, ICE, None, "HOMICIDE", False),
    # SJPD: expired yesterday
    (SJPD, OAK, None, "HOMICIDE", False),
    (SJPD, SJPD, None, "HOMICIDE", True),
    (SJPD, SJPD, OAK, "HOMICIDE", False),
    # RENO: STOLEN_VEHICLE only; exclusion off, so ICE is admitted
    (RENO, OAK, None, "STOLEN_VEHICLE", True),
    (RENO, OAK, None, "HOMICIDE", False),
    (RENO, ICE, None, "STOLEN_VEHICLE", True),
    (RENO, ICE, None, "HOMICIDE", False),
    (RENO, SFPD, None, "STOLEN_VEHICLE", False),
    (RENO, OAK, SFPD, "STOLEN_VEHICLE", False),
    (RENO, RENO, OAK, "STOLEN_VEHICLE", True),
    # FBI, ICE: no rules
    (FBI, OAK, None, "HOMICIDE", False),
    (FBI, SFPD, None, "HOMICIDE", False),
    (FBI, FBI, None, "HOMICIDE", True),
    (ICE, OAK, None, "HOMICIDE", False),
    # an owner missing from the policy shares with nobody
    (UNKNOWN, OAK, None, "HOMICIDE", False),
    (UNKNOWN, CHP, SFPD, "STOLEN_VEHICLE", False),
]


@pytest.mark.parametrize(("owner", "requester", "on_behalf", "purpose", "expected"), MATRIX)
def test_sharing_matrix(
    owner: str, requester: str, on_behalf: str | None, purpose: str, expected: bool
) -> None:
    assert disclosed(owner, requester, on_behalf, purpose) is expected


@pytest.mark.parametrize(("owner", "requester", "on_behalf", "purpose", "expected"), MATRIX)
def test_admitted_owners_are_exactly_the_owners_that_share(
    owner: str, requester: str, on_behalf: str | None, purpose: str, expected: bool
) -> None:
    """The store is asked only for these owners' reads: the set must agree with the per-read
    verdict for every owner, or reads would be lost or fetched needlessly."""
    recipients = (requester,) if on_behalf is None else (requester, on_behalf)
    d = Disclosure.build(POLICY, recipients, POLICY.purposes[purpose], NOW)
    owners = d.admitted_owners()
    assert (owner in owners) is expected
    assert list(owners) == sorted(set(owners))


def test_expiry_uses_the_utc_date() -> None:
    # 23:30 in Pacific time on 1 March is already 2 March in UTC: CHP's rule has expired.
    late = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-8)))
    assert disclosed(CHP, RENO, None, "HOMICIDE", now=late) is False
    early = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
    assert disclosed(CHP, RENO, None, "HOMICIDE", now=early) is True
    # And SJPD's rule did apply the day before.
    assert disclosed(SJPD, OAK, None, "HOMICIDE", now=NOW - timedelta(days=1)) is True


def test_remembered_verdicts_are_per_recipients_purpose_and_day() -> None:
    """Sharing verdicts are memoised with the policy: a second pass over the whole matrix, in
    reverse, after days on which rules had expired and before it, gives the same answers."""
    after = datetime(2026, 3, 2, 12, tzinfo=UTC)  # CHP's rule has expired
    assert disclosed(CHP, RENO, None, "HOMICIDE", now=after) is False
    assert disclosed(CHP, RENO, None, "HOMICIDE") is True  # the day before: it applies
    assert disclosed(CHP, RENO, None, "HOMICIDE", now=after) is False
    for owner, requester, on_behalf, purpose, expected in reversed(MATRIX):
        assert disclosed(owner, requester, on_behalf, purpose) is expected
    key = (CHP, (RENO,), "HOMICIDE", after.date(), None)  # None: no declaration carried
    assert POLICY.sharing_memo[key] is False


def test_admits_returns_the_rule() -> None:
    today = date(2026, 3, 1)
    rule = admits(POLICY, SFPD, FBI, "HOMICIDE", today)
    assert rule is not None and rule.owner == SFPD and FBI in rule.to_agencies
    assert admits(POLICY, SFPD, ICE, "HOMICIDE", today) is None
    assert admits(POLICY, CHP, RENO, "HOMICIDE", today) is not None
    assert admits(POLICY, CHP, RENO, "HOMICIDE", date(2026, 3, 2)) is None
    assert admits(POLICY, RENO, OAK, "HOMICIDE", today) is None
    assert admits(POLICY, SFPD, SFPD, "HOMICIDE", today) is None  # self access is not a rule
    assert admits(POLICY, OAK, UNKNOWN, "HOMICIDE", today) is None
    assert admits(POLICY, UNKNOWN, OAK, "HOMICIDE", today) is None


def test_decide_end_to_end_on_behalf_of_non_admitted_agency() -> None:
    principal = Principal("det.lee", SFPD, frozenset({"investigator"}), 0.0)
    query = SearchQuery(
        type="plate",
        plate="7ABC123",
        from_=NOW - timedelta(days=10),
        to=NOW,
        purpose="HOMICIDE",
        case_number="26-1",
        justification="Vehicle seen leaving homicide scene, witness statement",
        on_behalf_of=OnBehalfOf(RENO),
    )
    d = decide(principal, query, POLICY, NOW)
    assert isinstance(d, Allowed)
    assert d.disclosure.withhold_reason(OAK, RECENT, *FAR) == "sharing"  # RENO may not see it
    assert d.disclosure.withhold_reason(SFPD, RECENT, *FAR) == "sharing"  # nor SFPD's own
    assert d.disclosure.withhold_reason(CHP, RECENT, *FAR) is None  # CHP shares with both


def test_verdict_per_owner_is_stable_across_rows() -> None:
    d = Disclosure.build(POLICY, (SFPD, RENO), POLICY.purposes["HOMICIDE"], NOW)
    rows = [(OAK, False), (CHP, True), (OAK, False), (UNKNOWN, False), (CHP, True)] * 3
    for owner, ok in rows:
        assert (d.withhold_reason(owner, RECENT, *FAR) is None) is ok


def _withhold(
    policy: Policy, owner: str, at: datetime, lat: float, lon: float, purpose: str
) -> str | None:
    return Disclosure.build(policy, (OAK,), policy.purposes[purpose], NOW).withhold_reason(
        owner, at, lat, lon
    )


def test_retention_boundary() -> None:
    cutoff = NOW - timedelta(days=365)
    assert _withhold(POLICY, OAK, cutoff, *FAR, "HOMICIDE") is None
    assert _withhold(POLICY, OAK, cutoff - timedelta(microseconds=1), *FAR, "HOMICIDE") == (
        "retention"
    )
    # Retention is decided first: an old read from a non-sharing owner counts as retention.
    assert _withhold(POLICY, FBI, cutoff - timedelta(days=1), *FAR, "HOMICIDE") == "retention"


def test_sensitive_location_withhold_vs_include() -> None:
    assert _withhold(POLICY, OAK, RECENT, *SCHOOL, "HOMICIDE") == "sensitive_location"
    assert _withhold(POLICY, OAK, RECENT, *SCHOOL, "STOLEN_VEHICLE") is None
    assert _withhold(POLICY, OAK, RECENT, *FAR, "HOMICIDE") is None
    # Sharing is decided before the location.
    assert _withhold(POLICY, FBI, RECENT, *SCHOOL, "HOMICIDE") == "sharing"


def test_event_location_counts_only_for_reads_taken_during_the_event() -> None:
    during = datetime(2026, 2, 1, 18, 0, tzinfo=UTC)
    after = datetime(2026, 2, 1, 22, 0, tzinfo=UTC)
    assert _withhold(POLICY, OAK, during, *MARCH, "HOMICIDE") == "sensitive_location"
    assert _withhold(POLICY, OAK, after, *MARCH, "HOMICIDE") is None
    assert _withhold(POLICY, OAK, during, *MARCH, "STOLEN_VEHICLE") is None


def test_policy_without_locations_never_withholds_for_location() -> None:
    bare = parse_policy(POLICY_TEXT.split("[[sensitive_locations]]")[0].encode())
    assert _withhold(bare, OAK, RECENT, *SCHOOL, "HOMICIDE") is None
