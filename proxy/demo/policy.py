"""The demo policy: what a Bay Area regional fusion center's policy file could look like.

Rendered relative to `now` so that expiry dates and event windows stay meaningful whenever the
demo runs. Keys follow SPEC §7 exactly; the comments are the operator's legal annotations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from proxy.demo.purposes import SETTINGS_AND_PURPOSES


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
DEMO_SUPERVISOR: Final = DemoUser("lt.mchen", OAKLAND_PD, ("supervisor",))  # approves (§12)
DEMO_OVERSIGHT: Final = DemoUser("oversight.cadoj", CA_DOJ, ("oversight",))
DEMO_PLATE: Final = "6TRE418"  # seeded with reads from six owners (see seed.DEMO_PLATE_READS)
DEMO_PURPOSE: Final = "HOMICIDE"
DEMO_CASE_NUMBER: Final = "26-004211"
DEMO_JUSTIFICATION: Final = "Vehicle seen leaving scene of 1/14 homicide, witness statement"
DEMO_FLAGGED_JUSTIFICATION: Final = "Locate subject for ICE detainer and deportation"

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


def _agency(a: Agency, grant_key: str | None) -> str:
    text = (
        f"[[agencies]]\nori = {_q(a.ori)}\nname = {_q(a.name)}\nkind = {_q(a.kind)}\n"
        f"state = {_q(a.state)}\n"
        f"immigration_enforcement = {str(a.immigration_enforcement).lower()}\n"
    )
    if grant_key is None:
        return text
    # From here on only the rules this agency signs decide who receives its reads (SPEC §11).
    return text + f"grant_keys = [{_q(grant_key)}]\ngrant_quorum = 1\n"


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


def _signed(owner: str, name: str) -> str:
    return f"# {name}: signs its own rules, in the grants directory ({owner}.grant).\n"


def demo_policy_toml(now: datetime, grant_keys: Mapping[str, str] | None = None) -> str:
    """The demo policy as TOML text, with dates placed relative to `now` (timezone-aware).
    ``grant_keys``: owners (by ORI) that sign their own grants, with their vkey; the operator's
    rules for them are left out."""
    keys = grant_keys or {}
    today = now.astimezone(UTC).date()
    renewal = _fiscal_year_end(today + timedelta(days=60))
    lapsed = today - timedelta(days=30)
    # The Sheriff's renewed MOU covers violent felonies and missing persons only.
    violent = '["HOMICIDE", "KIDNAPPING", "HUMAN_TRAFFICKING", "MISSING_PERSON", "AMBER_ALERT"]'
    sharing = [
        _signed(OAKLAND_PD, "Oakland PD")
        if OAKLAND_PD in keys
        else _rule(OAKLAND_PD, renewal, note="Oakland PD: regional MOU, all purposes."),
        _rule(ALAMEDA_SO, lapsed, note="Sheriff: all-purpose MOU, lapsed; kept on record."),
        _rule(ALAMEDA_SO, renewal, violent, note="Sheriff: renewed MOU, violent crime only."),
        _signed(PIEDMONT_PD, "Piedmont PD")
        if PIEDMONT_PD in keys
        else _rule(PIEDMONT_PD, renewal, note="Piedmont PD: city council approved, all purposes."),
        _rule(CHP, renewal, note="CHP: statewide agreement, all purposes."),
        "# Berkeley PD: no rule. Sharing outside the city needs council approval under the\n"
        "# surveillance technology ordinance (BMC 2.99), not granted.\n"
        "# UC Berkeley PD: no rule. Campus reads are not shared outside the department.\n",
    ]
    parts = [
        SETTINGS_AND_PURPOSES,
        _AGENCIES_HEADER,
        "\n".join(_agency(a, keys.get(a.ori)) for a in AGENCIES),
        _SHARING_HEADER,
        "\n".join(sharing),
        _SITES_HEADER,
        "\n".join(_site(s, now) for s in SITES),
    ]
    return "\n".join(parts)
