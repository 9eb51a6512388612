from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import pytest

from proxy.policy import PolicyError, parse_policy, summarize
from proxy.policy.document import DEFAULT_PROHIBITED_TERMS
from proxy.policy.geo import Circle

# A Northern California fusion center's policy, in the shape of SPEC §7.
CA_POLICY = """\
[settings]
retention_days = 365
max_results = 5000
justification_min_chars = 20
prohibited_terms = ["immigration", "ICE", "ERO", "deport", "deportation", "illegal alien"]
rate_limit_per_minute = 60

[[agencies]]
ori = "CA0010900"
name = "Oakland Police Department"
kind = "local"
state = "CA"
immigration_enforcement = false

[[agencies]]
ori = "CA0380100"
name = "San Francisco Police Department"
kind = "local"
state = "CA"

[[agencies]]
ori = "CA0349400"
name = "California Highway Patrol"
kind = "state"
state = "CA"

[[agencies]]
ori = "CANCRIC00"
name = "Northern California Regional Intelligence Center"
kind = "state"
state = "CA"

[[agencies]]
ori = "NV0160200"
name = "Reno Police Department"
kind = "local"
state = "NV"

[[agencies]]
ori = "FBISF0000"
name = "FBI San Francisco Field Office"
kind = "federal"

[[agencies]]
ori = "ICEERO000"
name = "ICE Enforcement and Removal Operations"
kind = "federal"
immigration_enforcement = true

[[agencies]]
ori = "CA0239900"
name = "Round Valley Tribal Police"
kind = "tribal"
state = "CA"

[[purposes]]
code = "HOMICIDE"
description = "Homicide investigation"
max_lookback_days = 365
case_number = "required"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 500
area_max_window_hours = 6
sensitive_locations = "withhold"

[[purposes]]
code = "STOLEN_VEHICLE"
description = "Stolen vehicle recovery"
max_lookback_days = 30
case_number = "optional"
query_types = ["plate", "partial_plate"]
sensitive_locations = "include"

[[purposes]]
code = "AMBER_ALERT"
description = "Child abduction alert"
max_lookback_days = 7

[[purposes]]
code = "CIVIL_IMMIGRATION"
description = "Civil immigration enforcement"
prohibited = true

[[purposes]]
code = "REPRODUCTIVE_HEALTH"
prohibited = true

[[sharing]]
owner = "CA0010900"
to_kinds = ["local", "state"]
to_states = ["CA"]
to_agencies = []
exclude_immigration_enforcement = true
purposes = ["*"]
expires = 2027-06-30

[[sharing]]
owner = "CA0380100"
to_agencies = ["FBISF0000"]
purposes = ["HOMICIDE", "AMBER_ALERT"]

[[sharing]]
owner = "CA0349400"
to_kinds = ["local", "state", "tribal"]
purposes = ["*"]

[[sensitive_locations]]
name = "Lincoln Elementary School"
category = "school"
circle = { lat = 37.8012, lon = -122.2710, radius_m = 150 }

[[sensitive_locations]]
name = "Planned Parenthood, Oakland"
category = "medical"
polygon = [[-122.2650, 37.8040], [-122.2640, 37.8040], [-122.2640, 37.8048], [-122.2650, 37.8048]]

[[sensitive_locations]]
name = "May Day march, Frank Ogawa Plaza"
category = "protest"
circle = { lat = 37.8052, lon = -122.2725, radius_m = 400.5 }
active_from = 2026-05-01T16:00:00Z
active_until = 2026-05-01T22:00:00-00:00
"""


def test_full_policy_parses() -> None:
    p = parse_policy(CA_POLICY.encode())
    assert len(p.agencies) == 8
    oak = p.agencies["CA0010900"]
    assert (oak.name, oak.kind, oak.state, oak.immigration_enforcement) == (
        "Oakland Police Department",
        "local",
        "CA",
        False,
    )
    assert p.agencies["ICEERO000"].immigration_enforcement is True
    assert p.agencies["FBISF0000"].state is None
    hom = p.purposes["HOMICIDE"]
    assert hom.query_types == frozenset({"plate", "partial_plate", "area"})
    assert (hom.area_max_radius_m, hom.area_max_window_hours) == (500.0, 6.0)
    assert hom.max_lookback_days == 365
    assert p.purposes["STOLEN_VEHICLE"].case_number == "optional"
    assert p.purposes["STOLEN_VEHICLE"].sensitive_locations == "include"
    assert p.purposes["CIVIL_IMMIGRATION"].prohibited
    rule = p.sharing[0]
    assert rule.to_kinds == frozenset({"local", "state"})
    assert rule.to_states == frozenset({"CA"})
    assert rule.purposes == frozenset({"*"})
    assert rule.expires == date(2027, 6, 30)
    assert [r.owner for r in p.rules_by_owner["CA0380100"]] == ["CA0380100"]
    school, clinic, march = p.sensitive_locations
    assert school.circle == Circle(37.8012, -122.2710, 150.0)
    assert clinic.polygon is not None and len(clinic.polygon) == 4
    assert march.active_from == datetime(2026, 5, 1, 16, tzinfo=UTC)
    assert march.active_until == datetime(2026, 5, 1, 22, tzinfo=UTC)
    assert len(p.geofence) == 3
    assert p.terms.find("per ICE request") == "ICE"


def test_version_is_sha256_of_exact_bytes() -> None:
    data = CA_POLICY.encode()
    assert parse_policy(data).version == "sha256:" + hashlib.sha256(data).hexdigest()
    # A comment-only change still changes the version: it names the file, not its meaning.
    assert parse_policy(data + b"# reviewed\n").version != parse_policy(data).version


def test_defaults() -> None:
    p = parse_policy(CA_POLICY.encode())
    amber = p.purposes["AMBER_ALERT"]
    assert amber.case_number == "required"
    assert amber.query_types == frozenset({"plate"})
    assert amber.sensitive_locations == "withhold"
    assert amber.area_max_radius_m is None
    assert amber.prohibited is False
    repro = p.purposes["REPRODUCTIVE_HEALTH"]  # prohibited: only a code given
    assert repro.prohibited and repro.description == "" and repro.query_types == frozenset()
    sf_rule = p.rules_by_owner["CA0380100"][0]
    assert sf_rule.exclude_immigration_enforcement is True  # the safe default
    assert sf_rule.to_kinds == frozenset() and sf_rule.to_states == frozenset()
    assert sf_rule.expires is None
    assert p.agencies["CA0380100"].immigration_enforcement is False
    minimal = parse_policy(
        b"[settings]\nretention_days = 1\nmax_results = 1\njustification_min_chars = 1\n"
        b"rate_limit_per_minute = 1\n"
    )
    assert minimal.settings.prohibited_terms == DEFAULT_PROHIBITED_TERMS  # issue 13 item 3
    assert minimal.terms.find("the subject was deported") == "deported"
    assert minimal.settings.extra_prohibited_terms == ()
    assert minimal.agencies == {} and minimal.sharing == ()


def test_summarize() -> None:
    text = summarize(parse_policy(CA_POLICY.encode()))
    assert "agencies: 8 (federal 2, local 3, state 2, tribal 1)" in text
    assert "purposes: 5 (2 prohibited: CIVIL_IMMIGRATION, REPRODUCTIVE_HEALTH)" in text
    assert "sharing rules: 3" in text
    assert "sensitive locations: 3 (medical 1, protest 1, school 2)" not in text
    assert "sensitive locations: 3 (medical 1, protest 1, school 1)" in text
    assert "sha256:" in text


def _errors(text: str) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text.encode())
    return [(e.path, e.message) for e in info.value.errors]


def _mutate(old: str, new: str) -> str:
    assert CA_POLICY.count(old) == 1, old
    return CA_POLICY.replace(old, new)


OAK_KIND = 'kind = "local"\nstate = "CA"\nimmigration_enforcement = false'
HOM = 'code = "HOMICIDE"'
HOM_TYPES = 'query_types = ["plate", "partial_plate", "area"]'
OAK_RULE = 'owner = "CA0010900"'
SCHOOL = "circle = { lat = 37.8012, lon = -122.2710, radius_m = 150 }"
MARCH_FROM = "active_from = 2026-05-01T16:00:00Z"


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment"),
    [
        # unknown keys, anywhere
        ("[settings]", "[settings]\nmax_result = 10", "settings.max_result", "unknown key"),
        (OAK_KIND, OAK_KIND + "\nimmigration = true", "agencies[0].immigration", "unknown key"),
        (HOM, HOM + "\nlookback = 3", "purposes[0].lookback", "unknown key"),
        (OAK_RULE, OAK_RULE + "\nto_kind = []", "sharing[0].to_kind", "unknown key"),
        (SCHOOL, SCHOOL + "\nradius = 1", "sensitive_locations[0].radius", "unknown key"),
        (
            "radius_m = 150 }",
            "radius_m = 150, r = 1 }",
            "sensitive_locations[0].circle.r",
            "unknown",
        ),
        (
            '[[sharing]]\nowner = "CA0349400"',
            '[[sharingg]]\nowner = "CA0349400"',
            "sharingg",
            "unknown",
        ),
        # settings
        ("max_results = 5000", "max_results = 0", "settings.max_results", ">= 1"),
        ("max_results = 5000", 'max_results = "5000"', "settings.max_results", "integer"),
        ("retention_days = 365", "retention_days = true", "settings.retention_days", "integer"),
        ("rate_limit_per_minute = 60\n", "", "settings.rate_limit_per_minute", "required"),
        ('"illegal alien"]', '"illegal alien", " "]', "settings.prohibited_terms[6]", "word"),
        # agencies
        (
            'kind = "federal"\nimmigration_enforcement = true',
            'kind = "fed"\nimmigration_enforcement = true',
            "agencies[6].kind",
            "one of",
        ),
        ('ori = "CA0380100"', 'ori = "ca0380100"', "agencies[1].ori", "not an ORI"),
        ('ori = "CA0380100"', 'ori = "CA 0380100"', "agencies[1].ori", "not an ORI"),
        # NCIC ORIs are 9 characters: "*" must never name an agency (the reports' all scope).
        ('ori = "CA0380100"', 'ori = "*"', "agencies[1].ori", "not an ORI (9 upper-case"),
        ('ori = "CA0380100"', 'ori = "CA03801"', "agencies[1].ori", "not an ORI"),
        ('ori = "CA0380100"', 'ori = "CA03801000"', "agencies[1].ori", "not an ORI"),
        ('owner = "CA0349400"', 'owner = "*"', "sharing[2].owner", "not an ORI"),
        (
            '"illegal alien"]',
            '"illegal alien"]\nextra_prohibited_terms = ["inmigración", "-"]',
            "settings.extra_prohibited_terms[1]",
            "word",
        ),
        ('ori = "CA0380100"', 'ori = ""', "agencies[1].ori", "non-empty"),
        ('ori = "CA0380100"', 'ori = "CA0010900"', "agencies[1].ori", "duplicate"),
        (
            'ori = "NV0160200"\nname = "Reno Police Department"',
            'ori = "NV0160200"',
            "agencies[4].name",
            "required",
        ),
        ('state = "NV"', 'state = "Nevada"', "agencies[4].state", "state code"),
        ('state = "NV"', 'state = "nv"', "agencies[4].state", "state code"),
        (
            "immigration_enforcement = false",
            'immigration_enforcement = "no"',
            "agencies[0].immigration_enforcement",
            "true or false",
        ),
        # purposes
        (HOM, 'code = "homicide"', "purposes[0].code", "purpose code"),
        ('code = "AMBER_ALERT"', 'code = "HOMICIDE"', "purposes[2].code", "duplicate"),
        ("max_lookback_days = 7", "max_lookback_days = 0", "purposes[2].max_lookback_days", ">= 1"),
        ("max_lookback_days = 7\n", "", "purposes[2].max_lookback_days", "required"),
        (HOM_TYPES, 'query_types = ["plate", "geo"]', "purposes[0].query_types[1]", "query type"),
        (HOM_TYPES, "query_types = []", "purposes[0].query_types", "empty"),
        ("area_max_radius_m = 500\n", "", "purposes[0].area_max_radius_m", '"area"'),
        ("area_max_window_hours = 6\n", "", "purposes[0].area_max_window_hours", '"area"'),
        (
            "area_max_radius_m = 500",
            "area_max_radius_m = 0",
            "purposes[0].area_max_radius_m",
            "positive",
        ),
        (
            "area_max_radius_m = 500",
            "area_max_radius_m = nan",
            "purposes[0].area_max_radius_m",
            "positive",
        ),
        ('case_number = "required"', 'case_number = "maybe"', "purposes[0].case_number", "one of"),
        (
            'sensitive_locations = "withhold"',
            'sensitive_locations = "hide"',
            "purposes[0].sensitive_locations",
            "one of",
        ),
        (
            "prohibited = true\n\n[[purposes]]",
            'prohibited = "yes"\n\n[[purposes]]',
            "purposes[3].prohibited",
            "true or false",
        ),
        # sharing
        (OAK_RULE, 'owner = "CA9999999"', "sharing[0].owner", "not an agency"),
        (
            'to_agencies = ["FBISF0000"]',
            'to_agencies = ["FBISF0001"]',
            "sharing[1].to_agencies[0]",
            "not an agency",
        ),
        (
            'purposes = ["HOMICIDE", "AMBER_ALERT"]',
            'purposes = ["HOMICIDE", "ROBBERY"]',
            "sharing[1].purposes[1]",
            "purpose code",
        ),
        ('purposes = ["HOMICIDE", "AMBER_ALERT"]\n', "", "sharing[1].purposes", "required"),
        ('purposes = ["HOMICIDE", "AMBER_ALERT"]', "purposes = []", "sharing[1].purposes", "empty"),
        (
            'to_kinds = ["local", "state", "tribal"]',
            'to_kinds = ["local", "county"]',
            "sharing[2].to_kinds[1]",
            "agency kind",
        ),
        (
            'to_states = ["CA"]',
            'to_states = ["CA", "Calif"]',
            "sharing[0].to_states[1]",
            "state code",
        ),
        (
            "expires = 2027-06-30",
            "expires = 2027-06-30T00:00:00Z",
            "sharing[0].expires",
            "TOML date",
        ),
        ("expires = 2027-06-30", 'expires = "2027-06-30"', "sharing[0].expires", "TOML date"),
        ('to_kinds = ["local", "state", "tribal"]\n', "", "sharing[2]", "admits no agency"),
        ('to_kinds = ["local", "state"]\n', "", "sharing[0].to_states", "without to_kinds"),
        (
            "exclude_immigration_enforcement = true",
            "exclude_immigration_enforcement = 1",
            "sharing[0].exclude_immigration_enforcement",
            "true or false",
        ),
        # sensitive locations
        (
            "radius_m = 150 }",
            "radius_m = 0 }",
            "sensitive_locations[0].circle.radius_m",
            "positive",
        ),
        (
            "radius_m = 150 }",
            "radius_m = -5 }",
            "sensitive_locations[0].circle.radius_m",
            "positive",
        ),
        ("lat = 37.8012", "lat = 91", "sensitive_locations[0].circle.lat", "[-90, 90]"),
        ("lon = -122.2710", "lon = -181.0", "sensitive_locations[0].circle.lon", "[-180, 180]"),
        ("lat = 37.8012, ", "", "sensitive_locations[0].circle.lat", "required"),
        (SCHOOL, 'circle = "here"', "sensitive_locations[0].circle", "table"),
        (
            SCHOOL,
            SCHOOL + "\npolygon = [[0, 0], [1, 0], [1, 1]]",
            "sensitive_locations[0]",
            "exactly one",
        ),
        (SCHOOL + "\n", "", "sensitive_locations[0]", "exactly one"),
        ('category = "school"', 'category = "church"', "sensitive_locations[0].category", "one of"),
        ('name = "Lincoln Elementary School"\n', "", "sensitive_locations[0].name", "required"),
        (
            "[-122.2640, 37.8048], [-122.2650, 37.8048]]",
            "]",
            "sensitive_locations[1].polygon",
            "at least 3",
        ),
        (
            "[-122.2640, 37.8048], [-122.2650, 37.8048]]",
            "[-122.2640, 37.8040]]",
            "sensitive_locations[1].polygon",
            "distinct",
        ),
        (
            "[-122.2640, 37.8048], [-122.2650, 37.8048]]",
            "[-122.2650, 37.8048], [-122.2640, 37.8048]]",
            "sensitive_locations[1].polygon",
            "not a valid polygon",
        ),  # a bow-tie
        (
            "[-122.2640, 37.8048], [-122.2650",
            "[-122.2640, 97.8048], [-122.2650",
            "sensitive_locations[1].polygon[2][1]",
            "[-90, 90]",
        ),
        (
            "[-122.2640, 37.8048], [-122.2650",
            "[-122.2640, 37.8048, 3], [-122.2650",
            "sensitive_locations[1].polygon[2]",
            "[lon, lat] pair",
        ),
        (
            "[-122.2650, 37.8040], [-122.2640, 37.8040]",
            "[179.9, 37.8040], [-179.9, 37.8040]",
            "sensitive_locations[1].polygon",
            "antimeridian",
        ),
        (
            MARCH_FROM,
            "active_from = 2026-05-01T16:00:00",
            "sensitive_locations[2].active_from",
            "offset date-time",
        ),
        (
            MARCH_FROM,
            "active_from = 2026-05-01",
            "sensitive_locations[2].active_from",
            "offset date-time",
        ),
        (
            MARCH_FROM,
            "active_from = 2026-05-01T22:00:00Z",
            "sensitive_locations[2].active_until",
            "later than",
        ),
    ],
)
def test_each_validation_error_has_its_path(old: str, new: str, path: str, fragment: str) -> None:
    errors = _errors(_mutate(old, new))
    matching = [msg for p, msg in errors if p == path]
    assert matching, errors
    assert any(fragment in m for m in matching), errors


def test_only_errors_for_the_mutated_field() -> None:
    # No cascades: a bad agency kind does not also make every rule naming that agency fail.
    errors = _errors(
        _mutate(
            'kind = "local"\nstate = "CA"\nimmigration', 'kind = "city"\nstate = "CA"\nimmigration'
        )
    )
    assert [p for p, _ in errors] == ["agencies[0].kind"]


def test_every_error_is_reported_at_once() -> None:
    text = CA_POLICY
    for old, new in [
        ("max_results = 5000", "max_results = -1"),
        ('ori = "CA0380100"', 'ori = "ca0380100"'),
        ("max_lookback_days = 7", "max_lookback_days = 0"),
        (OAK_RULE, 'owner = "XX0000000"'),
        ("radius_m = 150 }", "radius_m = 0 }"),
        (MARCH_FROM, "active_from = 2026-05-01T16:00:00"),
        ("[settings]", "[settings]\ncolour = 1"),
    ]:
        text = text.replace(old, new, 1)
    paths = {p for p, _ in _errors(text)}
    assert paths == {
        "settings.max_results",
        "settings.colour",
        "agencies[1].ori",
        "sharing[1].owner",  # rightly: with agencies[1] broken, CA0380100 is not defined
        "purposes[2].max_lookback_days",
        "sharing[0].owner",
        "sensitive_locations[0].circle.radius_m",
        "sensitive_locations[2].active_from",
    }


def test_error_string_lists_paths() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(_mutate("max_results = 5000", "max_results = 0").encode())
    assert "settings.max_results: must be an integer >= 1" in str(info.value)


@pytest.mark.parametrize("data", [b"[settings\n", b"a = \n", b"\xff\xfe[settings]"])
def test_not_toml(data: bytes) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(data)
    (err,) = info.value.errors
    assert err.path == "" and "TOML" in err.message


def test_array_of_tables_written_as_a_table() -> None:
    settings = CA_POLICY.split("[[agencies]]")[0]
    errors = _errors(settings + '[agencies]\nori = "CA0010900"\n')
    assert errors == [("agencies", "must be an array of tables ([[agencies]])")]


def test_missing_settings() -> None:
    assert ("settings", "is required") in _errors(
        '[[agencies]]\nori = "A1"\nname = "x"\nkind = "local"\n'
    )


def test_sharing_wildcard_and_extra_keys_are_fine_where_valid() -> None:
    p = parse_policy(
        _mutate('purposes = ["HOMICIDE", "AMBER_ALERT"]', 'purposes = ["*", "HOMICIDE"]').encode()
    )
    assert p.rules_by_owner["CA0380100"][0].purposes == frozenset({"*", "HOMICIDE"})
