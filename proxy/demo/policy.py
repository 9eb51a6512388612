"""The demo policy: what a Bay Area regional fusion center's policy file could look like.

Rendered relative to `now` so that expiry dates and event windows stay meaningful whenever the
demo runs. Keys follow SPEC §7 exactly; the comments are the operator's legal annotations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from proxy.demo.city import (
    ALAMEDA_SO,
    BERKELEY_PD,
    CHP,
    OAKLAND_PD,
    PIEDMONT_PD,
    SITES,
    UC_BERKELEY_PD,
    Site,
)


@dataclass(frozen=True, slots=True)
class Agency:
    ori: str
    name: str
    kind: str  # local | state | federal | tribal | private
    state: str
    immigration_enforcement: bool = False


@dataclass(frozen=True, slots=True)
class DemoUser:
    sub: str
    ori: str
    roles: tuple[str, ...]


SF_PD: Final = "CA0380100"
CA_DOJ: Final = "CA0349410"
TRIBAL_PD: Final = "CA0120190"
FBI_SF: Final = "CAFBISF00"
IMMIGRATION_ORI: Final = "CAICESF00"
OUT_OF_STATE_ORI: Final = "NV0160200"

AGENCIES: Final[tuple[Agency, ...]] = (
    Agency(OAKLAND_PD, "Oakland Police Department", "local", "CA"),
    Agency(ALAMEDA_SO, "Alameda County Sheriff's Office", "local", "CA"),
    Agency(BERKELEY_PD, "Berkeley Police Department", "local", "CA"),
    Agency(PIEDMONT_PD, "Piedmont Police Department", "local", "CA"),
    Agency(UC_BERKELEY_PD, "University of California, Berkeley Police Department", "local", "CA"),
    Agency(SF_PD, "San Francisco Police Department", "local", "CA"),
    Agency(CHP, "California Highway Patrol, Golden Gate Division", "state", "CA"),
    Agency(CA_DOJ, "California Department of Justice, Division of Law Enforcement", "state", "CA"),
    Agency(TRIBAL_PD, "Hoopa Valley Tribal Police Department", "tribal", "CA"),
    Agency(FBI_SF, "Federal Bureau of Investigation, San Francisco Field Office", "federal", "CA"),
    # The one agency marked immigration_enforcement: no rule may ever admit it (SB 54).
    Agency(IMMIGRATION_ORI, "ICE ERO San Francisco Field Office", "federal", "CA", True),
    Agency(OUT_OF_STATE_ORI, "Reno Police Department", "local", "NV"),
)

# For the demo CLI's example tokens and curl commands.
DEMO_INVESTIGATOR: Final = DemoUser("det.ralvarez", OAKLAND_PD, ("investigator",))
DEMO_AUDITOR: Final = DemoUser("sgt.kwong.audit", OAKLAND_PD, ("auditor",))
DEMO_OVERSIGHT: Final = DemoUser("oversight.cadoj", CA_DOJ, ("oversight",))
DEMO_PLATE: Final = "6TRE418"  # seeded with reads from six owners (see seed.DEMO_PLATE_READS)
DEMO_PURPOSE: Final = "HOMICIDE"
DEMO_CASE_NUMBER: Final = "26-004211"
DEMO_JUSTIFICATION: Final = "Vehicle seen leaving scene of 1/14 homicide, witness statement"
DEMO_FLAGGED_JUSTIFICATION: Final = "Locate subject for ICE detainer and deportation"

_SETTINGS_AND_PURPOSES: Final = """\
# Automated license plate recognition (ALPR) usage and privacy policy, as enforced by alpr-proxy.
# Civil Code 1798.90.51 requires every ALPR operator and end-user to maintain such a policy;
# this file is the machine-enforced part of it.

[settings]
# Reads older than a year are never released, whatever the purpose. Owners may keep less:
# CHP deletes its own reads after 60 days unless held for a felony case (Vehicle Code 2413).
retention_days = 365
max_results = 5000
justification_min_chars = 20
# California Values Act (SB 54, Gov. Code 7284.6): no agency resources for immigration
# enforcement. A justification, case number or person using a prohibited term (the built-in
# list: "immigration", "ICE", "deport" and their inflections and long forms, matched through
# look-alike letters) is refused and flagged for review; these add Spanish ones.
extra_prohibited_terms = ["inmigración", "deportación", "deportar", "migra"]
rate_limit_per_minute = 60

# Purposes follow NIBRS offense categories. Lookback and query types are the least each
# investigation needs; area searches are the most invasive and the most tightly bounded.

[[purposes]]
code = "HOMICIDE"
description = "Homicide investigation (NIBRS 09A)"
max_lookback_days = 365
case_number = "required"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 500
area_max_window_hours = 6
sensitive_locations = "withhold"

[[purposes]]
code = "KIDNAPPING"
description = "Kidnapping or abduction (NIBRS 100)"
max_lookback_days = 180
case_number = "required"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 1000
area_max_window_hours = 12
sensitive_locations = "withhold"

[[purposes]]
code = "HUMAN_TRAFFICKING"
description = "Human trafficking, commercial sex acts or involuntary servitude (NIBRS 64A/64B)"
max_lookback_days = 365
case_number = "required"
query_types = ["plate", "partial_plate"]
sensitive_locations = "withhold"

[[purposes]]
code = "ROBBERY"
description = "Robbery (NIBRS 120)"
max_lookback_days = 90
case_number = "required"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 300
area_max_window_hours = 4
sensitive_locations = "withhold"

[[purposes]]
code = "AGGRAVATED_ASSAULT"
description = "Aggravated assault (NIBRS 13A)"
max_lookback_days = 90
case_number = "required"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 300
area_max_window_hours = 4
sensitive_locations = "withhold"

[[purposes]]
code = "MOTOR_VEHICLE_THEFT"
description = "Stolen vehicle or plates (NIBRS 240)"
max_lookback_days = 60
case_number = "required"
query_types = ["plate", "partial_plate"]
sensitive_locations = "withhold"

[[purposes]]
code = "DRUG_OFFENSES"
description = "Felony drug/narcotic violations (NIBRS 35A)"
max_lookback_days = 30
case_number = "required"
query_types = ["plate"]
sensitive_locations = "withhold"

[[purposes]]
code = "MISSING_PERSON"
description = "At-risk missing person (Penal Code 14205)"
max_lookback_days = 30
case_number = "required"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 2000
area_max_window_hours = 24
sensitive_locations = "withhold"

# AMBER Alert (Gov. Code 8594): minutes matter, and the abductor's car may well be parked at
# a hospital, church or shelter. A child's life outweighs the privacy of those visits, so this
# purpose alone includes reads at sensitive locations; the audit log still records each one.
# The case number is optional because the alert often precedes the report number.
[[purposes]]
code = "AMBER_ALERT"
description = "Child abduction under an active AMBER Alert"
max_lookback_days = 7
case_number = "optional"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 5000
area_max_window_hours = 24
sensitive_locations = "include"

# Never a lawful purpose here (SB 54). Kept in the file so such requests are refused by name
# with purpose_prohibited, and show up as such in oversight reports.
[[purposes]]
code = "CIVIL_IMMIGRATION"
description = "Civil immigration enforcement"
prohibited = true
"""

_AGENCIES_HEADER: Final = """
# Agencies that may hold accounts. Federal and out-of-state agencies are listed so that their
# searches are recognised and audited; no sharing rule admits them, so they receive nothing
# (Civil Code 1798.90.55(b) allows sharing only with California public agencies; Attorney
# General Bulletin 2023-DLE-06).
"""

_SHARING_HEADER: Final = """
# Sharing rules, one or more per owning agency, from the signed data-sharing agreements.
# Every rule: California public agencies only (1798.90.55(b)), never an agency marked
# immigration_enforcement, even if named in to_agencies (SB 54). No rule = no sharing.
"""

_SITES_HEADER: Final = """
# Sensitive locations: reads taken inside them are withheld (unless the purpose says include),
# and area searches overlapping them are refused. Events are protected only while they last.
"""


def _q(text: str) -> str:
    """A TOML basic string (JSON escapes are a subset TOML accepts)."""
    return json.dumps(text, ensure_ascii=False)


def _dt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _agency(a: Agency) -> str:
    return (
        f"[[agencies]]\nori = {_q(a.ori)}\nname = {_q(a.name)}\nkind = {_q(a.kind)}\n"
        f"state = {_q(a.state)}\n"
        f"immigration_enforcement = {str(a.immigration_enforcement).lower()}\n"
    )


def _rule(owner: str, expires: date, purposes: str = '["*"]', note: str = "") -> str:
    comment = f"# {note}\n" if note else ""
    return (
        f"{comment}[[sharing]]\nowner = {_q(owner)}\n"
        'to_kinds = ["local", "state", "tribal"]\nto_states = ["CA"]\nto_agencies = []\n'
        f"exclude_immigration_enforcement = true\npurposes = {purposes}\n"
        f"expires = {expires.isoformat()}\n"
    )


def _site(site: Site, now: datetime) -> str:
    lines = [
        f"# {site.note}",
        "[[sensitive_locations]]",
        f"name = {_q(site.name)}",
        f"category = {_q(site.category)}",
    ]
    if site.polygon is not None:
        ring = ", ".join(f"[{lon}, {lat}]" for lon, lat in site.polygon)
        lines.append(f"polygon = [{ring}]")
    else:
        circle = f"lat = {site.lat}, lon = {site.lon}, radius_m = {site.radius_m}"
        lines.append(f"circle = {{ {circle} }}")
    if site.event is not None:
        start, end = site.event.window(now)
        lines += [f"active_from = {_dt(start)}", f"active_until = {_dt(end)}"]
    return "\n".join(lines) + "\n"


def _fiscal_year_end(day: date) -> date:
    """Agreements run to June 30, the end of California's fiscal year."""
    return date(day.year if day.month <= 6 else day.year + 1, 6, 30)


def demo_policy_toml(now: datetime) -> str:
    """The demo policy as TOML text, with dates placed relative to `now` (timezone-aware)."""
    today = now.astimezone(UTC).date()
    renewal = _fiscal_year_end(today + timedelta(days=60))
    lapsed = today - timedelta(days=30)
    # The Sheriff's renewed MOU covers violent felonies and missing persons only.
    violent = '["HOMICIDE", "KIDNAPPING", "HUMAN_TRAFFICKING", "MISSING_PERSON", "AMBER_ALERT"]'
    sharing = [
        _rule(OAKLAND_PD, renewal, note="Oakland PD: regional MOU, all purposes."),
        _rule(ALAMEDA_SO, lapsed, note="Sheriff: all-purpose MOU, lapsed; kept on record."),
        _rule(ALAMEDA_SO, renewal, violent, note="Sheriff: renewed MOU, violent crime only."),
        _rule(PIEDMONT_PD, renewal, note="Piedmont PD: city council approved, all purposes."),
        _rule(CHP, renewal, note="CHP: statewide agreement, all purposes."),
        "# Berkeley PD: no rule. Sharing outside the city needs council approval under the\n"
        "# surveillance technology ordinance (BMC 2.99), not granted.\n"
        "# UC Berkeley PD: no rule. Campus reads are not shared outside the department.\n",
    ]
    parts = [
        _SETTINGS_AND_PURPOSES,
        _AGENCIES_HEADER,
        "\n".join(_agency(a) for a in AGENCIES),
        _SHARING_HEADER,
        "\n".join(sharing),
        _SITES_HEADER,
        "\n".join(_site(s, now) for s in SITES),
    ]
    return "\n".join(parts)
