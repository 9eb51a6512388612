"""The law packs under policies/: each loads with `alpr-proxy policy check`, and each replays
the incidents it answers, asserting the pack's decision and disclosure."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from proxy.__main__ import main
from proxy.policy import lint
from tests.policies.packs import DAY, NOW, PACKS, Ask, pack, pack_text, refused, verdict

# California
EL_CAJON, LONG_BEACH, BART, UNION_CITY, CHP = (
    "CA0370300", "CA0190500", "CA0019700", "CA0011000", "CA0349400",
)  # fmt: skip
PHOENIX, FBI, ICE, CBP = "AZ0072300", "DCFBI0000", "DCICE0000", "DCCBP0000"
# Illinois
MOUNT_PROSPECT, CHICAGO, JOHNSON_COUNTY_TX, LOWNDES_GA = (
    "IL0161300", "ILCPD0000", "TX1260000", "GA0920000",
)  # fmt: skip
# Washington, Virginia, Connecticut
SEATTLE, BORDER_PATROL = "WA0170200", "DCCBP0000"
FAIRFAX, VSP, MONTGOMERY_MD = "VA0290100", "VAVSP0000", "MD0160000"
HARTFORD, YONKERS_NY, JERSEY_CITY_NJ = "CT0015100", "NY0590100", "NJ0090600"

IL_DECLARATION = (
    "The requesting agency declares that ALPR data generated in Illinois and obtained through "
    "this search will not be used to investigate or enforce any law that denies or interferes "
    "with a person's right to choose or obtain reproductive health care services or any lawful "
    "health care services, or that permits the detention or investigation of a person based on "
    "the person's immigration status (625 ILCS 5/2-130)."
)
CT_DECLARATION = (
    "The requesting agency agrees that ALPR data from Connecticut obtained through this search "
    "will not be used for immigration enforcement or to investigate reproductive or "
    "gender-affirming health care."
)


def test_the_packs_are_the_five_documented() -> None:
    assert sorted(p.stem for p in PACKS.glob("*.toml")) == ["ca", "ct", "il", "va", "wa"]


@pytest.mark.parametrize("name", ["ca", "ct", "il", "va", "wa"])
def test_every_pack_passes_policy_check(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(PACKS / f"{name}.toml"), "--date", DAY]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("policy sha256:") and out.err == ""


# --- California ----------------------------------------------------------------------------


def test_el_cajon_out_of_state_recipients_get_nothing() -> None:
    # El Cajon (2025): made its reads available to 100+ out-of-state agencies; the AG sued.
    ca = pack("ca")
    assert verdict(ca, Ask(PHOENIX, "HOMICIDE"), EL_CAJON) == "sharing"
    assert verdict(ca, Ask(JOHNSON_COUNTY_TX, "STOLEN_VEHICLE"), EL_CAJON) == "sharing"
    assert verdict(ca, Ask(CHP, "HOMICIDE"), EL_CAJON) == "disclosed"  # in state: shared
    # Nor through a California officer searching on the out-of-state agency's behalf.
    assert verdict(ca, Ask(CHP, "HOMICIDE", on_behalf_of=PHOENIX), EL_CAJON) == "sharing"


def test_long_beach_group_approval_cannot_reach_ice() -> None:
    # Long Beach (2020): one employee's Vigilant "group approval" gave ICE access to its reads.
    text = pack_text("ca")
    block = 'owner = "CA0190500"                 # Long Beach\n'
    assert block in text
    grouped = text.replace(block, block + f'to_agencies = ["{ICE}", "{CBP}", "{FBI}"]\n')
    ca = pack("ca", grouped)
    assert verdict(ca, Ask(ICE, "HOMICIDE"), LONG_BEACH) == "sharing"
    assert verdict(ca, Ask(CBP, "ROBBERY"), LONG_BEACH) == "sharing"
    # The FBI would get through: the policy cannot forbid naming it, policy check flags it.
    assert verdict(ca, Ask(FBI, "HOMICIDE"), LONG_BEACH) == "disclosed"
    assert {w.code for w in lint(ca, NOW.date())} == {"federal"}
    assert lint(pack("ca"), NOW.date()) == []


def test_bart_unapproved_feed_reaches_no_one() -> None:
    # BART (2017): cameras switched on without board approval fed a regional center ICE searched.
    ca = pack("ca")
    for ori in (CHP, EL_CAJON, FBI, ICE):
        assert verdict(ca, Ask(ori, "HOMICIDE"), BART) == "sharing", ori
    assert verdict(ca, Ask(BART, "HOMICIDE"), BART) == "disclosed"  # its own reads


def test_union_city_reads_never_reach_immigration_enforcement() -> None:
    # Union City (2019): an ACLU report listed it among agencies whose data ICE reached.
    ca = pack("ca")
    assert refused(ca, Ask(ICE, "CIVIL_IMMIGRATION")) == "purpose_prohibited"
    flagged = Ask(CHP, "HOMICIDE", justification="ICE asked us to locate this vehicle today")
    assert refused(ca, flagged) == "justification_flagged"
    assert verdict(ca, Ask(ICE, "HOMICIDE"), UNION_CITY) == "sharing"
    assert verdict(ca, Ask(CHP, "HOMICIDE", on_behalf_of=ICE), UNION_CITY) == "sharing"
    assert verdict(ca, Ask(CHP, "HOMICIDE"), UNION_CITY) == "disclosed"


def test_california_record_of_access_fields_are_required() -> None:
    ca = pack("ca")
    assert refused(ca, Ask(CHP, "HOMICIDE", justification="")) == "justification_required"
    assert refused(ca, Ask(CHP, "NOT_A_PURPOSE")) == "unknown_purpose"


# --- Illinois --------------------------------------------------------------------------------


def test_mount_prospect_immigration_searches_from_out_of_state() -> None:
    # Mount Prospect (2025): out-of-state agencies ran 262 immigration searches of its cameras.
    il = pack("il")
    ice_assist = Ask(LOWNDES_GA, "HOMICIDE", justification="ICE assist, vehicle of interest")
    assert refused(il, ice_assist) == "justification_flagged"
    assert refused(il, Ask(LOWNDES_GA, "CIVIL_IMMIGRATION")) == "purpose_prohibited"
    assert verdict(il, Ask(LOWNDES_GA, "HOMICIDE"), MOUNT_PROSPECT) == "sharing"
    declared = Ask(ICE, "HOMICIDE", declaration=IL_DECLARATION)
    assert verdict(il, declared, MOUNT_PROSPECT) == "sharing"  # declaring does not admit ICE
    assert verdict(il, Ask(CHICAGO, "HOMICIDE"), MOUNT_PROSPECT) == "disclosed"


def test_texas_abortion_search_needs_the_illinois_declaration() -> None:
    # Texas (2025): a Johnson County deputy searched IL cameras for a woman after her abortion.
    il = pack("il")
    sheriff = Ask(JOHNSON_COUNTY_TX, "MISSING_PERSON")
    assert verdict(il, sheriff, MOUNT_PROSPECT) == "sharing"
    altered = IL_DECLARATION.replace("will not be used", "will not knowingly be used")
    assert verdict(il, Ask(sheriff.ori, sheriff.purpose, declaration=altered), CHICAGO) == "sharing"
    reflowed = "  " + IL_DECLARATION.replace(" ", "\n", 5) + "\n"
    declared = Ask(sheriff.ori, sheriff.purpose, declaration=reflowed)
    # The limit: a declaration is taken at its word (and recorded); only its text is checked.
    assert verdict(il, declared, MOUNT_PROSPECT) == "disclosed"
    assert verdict(il, declared, "IL0849800") == "sharing"  # State Police has no such rule
    assert refused(il, Ask(JOHNSON_COUNTY_TX, "REPRODUCTIVE_HEALTH_ENFORCEMENT")) == (
        "purpose_prohibited"
    )


def test_texas_abortion_search_gets_no_washington_reads() -> None:
    # Texas (2025): the deputy's nationwide search could reach Washington cameras as well.
    wa = pack("wa")
    for declaration in (None, IL_DECLARATION):
        ask = Ask(JOHNSON_COUNTY_TX, "MISSING_PERSON", declaration=declaration)
        assert verdict(wa, ask, SEATTLE) == "sharing"


# --- Washington, Virginia, Connecticut ---------------------------------------------------------


def test_washington_21_days_and_no_immigration_use() -> None:
    wa = pack("wa")
    ask = Ask("WAWSP0000", "FELONY", days_back=21)
    assert verdict(wa, ask, SEATTLE, age=timedelta(days=20)) == "disclosed"
    assert verdict(wa, ask, SEATTLE, age=timedelta(days=21, hours=1)) == "retention"
    assert refused(wa, Ask("WAWSP0000", "FELONY", days_back=22)) == "lookback_exceeded"
    assert refused(wa, Ask(BORDER_PATROL, "CIVIL_IMMIGRATION")) == "purpose_prohibited"
    assert verdict(wa, Ask(BORDER_PATROL, "FELONY"), SEATTLE) == "sharing"


def test_virginia_in_state_only_and_21_days() -> None:
    va = pack("va")
    ask = Ask(VSP, "CRIMINAL_INVESTIGATION")
    assert verdict(va, ask, FAIRFAX) == "disclosed"
    assert verdict(va, ask, FAIRFAX, age=timedelta(days=22)) == "retention"
    assert verdict(va, Ask(MONTGOMERY_MD, "CRIMINAL_INVESTIGATION"), FAIRFAX) == "sharing"
    assert verdict(va, Ask(FBI, "HUMAN_TRAFFICKING"), FAIRFAX) == "sharing"


def test_connecticut_only_ma_ny_ri_and_only_with_the_agreement() -> None:
    ct = pack("ct")
    agreed = Ask(YONKERS_NY, "CRIMINAL_INVESTIGATION", declaration=CT_DECLARATION)
    assert verdict(ct, agreed, HARTFORD) == "disclosed"
    assert verdict(ct, Ask(YONKERS_NY, "CRIMINAL_INVESTIGATION"), HARTFORD) == "sharing"
    nj = Ask(JERSEY_CITY_NJ, "CRIMINAL_INVESTIGATION", declaration=CT_DECLARATION)
    assert verdict(ct, nj, HARTFORD) == "sharing"
    assert verdict(ct, Ask(ICE, "MISSING_PERSON", declaration=CT_DECLARATION), HARTFORD) == (
        "sharing"
    )
    assert verdict(ct, Ask("CTCSP0000", "MISSING_PERSON"), HARTFORD) == "disclosed"


# --- each pack's key rule is what decides ---------------------------------------------------

KEY_RULES = [
    # (pack, text removed, search, owner): with the text, the read is withheld; without, not.
    ("ca", 'to_states = ["CA"]\n', Ask(PHOENIX, "HOMICIDE"), EL_CAJON),
    ("ca", "exclude_immigration_enforcement = true\n", Ask(ICE, "HOMICIDE"), LONG_BEACH),
    ("il", "declaration_required", Ask(JOHNSON_COUNTY_TX, "HOMICIDE"), MOUNT_PROSPECT),
    ("wa", 'to_states = ["WA"]\n', Ask(JOHNSON_COUNTY_TX, "FELONY"), SEATTLE),
    ("va", 'to_states = ["VA"]\n', Ask(MONTGOMERY_MD, "MISSING_PERSON"), FAIRFAX),
    ("ct", "declaration_required", Ask(YONKERS_NY, "MISSING_PERSON"), HARTFORD),
]


@pytest.mark.parametrize(("name", "removed", "ask", "owner"), KEY_RULES)
def test_removing_the_key_rule_opens_the_pack(
    name: str, removed: str, ask: Ask, owner: str
) -> None:
    """Guards the replays above: they fail if the rule they rely on is taken out."""
    text = pack_text(name)
    assert removed in text
    if removed == "declaration_required":
        opened = re.sub(r'declaration_required = """.*?"""\n', "", text, flags=re.S)
    elif removed == "exclude_immigration_enforcement = true\n":
        opened = text.replace(removed, "exclude_immigration_enforcement = false\n")
        block = 'owner = "CA0190500"                 # Long Beach\n'
        opened = opened.replace(block, block + f'to_agencies = ["{ICE}"]\n')
    else:
        opened = text.replace(removed, "")
    assert verdict(pack(name), ask, owner) == "sharing"
    assert verdict(pack(name, opened), ask, owner) == "disclosed"
