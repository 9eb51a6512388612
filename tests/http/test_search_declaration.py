"""The `declaration` request field end to end, on the real databases, under the Illinois and
California law packs (policies/): what the response gives and what the entry records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from tests.http.conftest import NOW, MakeClient
from tests.http.search_helpers import bearer, body, entry
from tests.pg import Databases
from tests.policies.packs import PACKS

MOUNT_PROSPECT, CHICAGO, JOHNSON_COUNTY_TX = "IL0161300", "ILCPD0000", "TX1260000"
CHP, BART = "CA0349400", "CA0019700"
PLATE = "DECL42"
IL_DECLARATION = (
    "The requesting agency declares that ALPR data generated in Illinois and obtained through "
    "this search will not be used to investigate or enforce any law that denies or interferes "
    "with a person's right to choose or obtain reproductive health care services or any lawful "
    "health care services, or that permits the detention or investigation of a person based on "
    "the person's immigration status (625 ILCS 5/2-130)."
)
# id, age, owner: two Mount Prospect reads, one Chicago, one BART (for the California pack).
ROWS = [(9001, 1, MOUNT_PROSPECT), (9002, 2, MOUNT_PROSPECT), (9003, 3, CHICAGO), (9004, 1, BART)]


@pytest.fixture
async def pack_reads(dbs: Databases, seeded_store: str) -> AsyncIterator[None]:
    conn = await asyncpg.connect(dbs.store_admin)
    try:
        await conn.executemany(
            "INSERT INTO alpr.reads (id, plate, plate_state, observed_at, lat, lon, camera_id,"
            " agency_ori) VALUES ($1, $2, 'IL', $3, 41.8, -87.9, 'CAM-1', $4)",
            [(i, PLATE, NOW - timedelta(days=age), owner) for i, age, owner in ROWS],
        )
        yield
    finally:
        await conn.execute("DELETE FROM alpr.reads WHERE plate = $1", PLATE)
        await conn.close()


async def search(
    make_client: MakeClient, make_token: Any, pack: str, ori: str, **changes: Any
) -> tuple[int, dict[str, Any]]:
    client = await make_client(policy={"file": str(PACKS / f"{pack}.toml")})
    b = body(**{"plate": PLATE, "purpose": "MISSING_PERSON", **changes})
    b["from"] = (NOW - timedelta(days=10)).isoformat()
    resp = await client.post("/v1/search", json=b, headers=bearer(make_token(ori=ori)))
    return resp.status, await resp.json()


async def test_without_the_declaration_an_out_of_state_search_gets_no_illinois_reads(
    make_client: MakeClient, make_token: Any, dbs: Databases, pack_reads: None
) -> None:
    status, result = await search(make_client, make_token, "il", JOHNSON_COUNTY_TX)
    assert status == 200, result
    assert result["reads"] == [] and result["truncated"] is False  # nothing says why
    e = await entry(dbs.audit_admin, result["audit_index"])
    assert "declaration" not in e["query"]
    assert e["outcome"]["withheld"]["sharing"] == 4  # 3 Illinois reads and BART's (unknown here)
    assert e["outcome"]["disclosed_by_owner"] == {}


async def test_the_declaration_admits_the_search_and_is_recorded_as_sent(
    make_client: MakeClient, make_token: Any, dbs: Databases, pack_reads: None
) -> None:
    sent = "\n  " + IL_DECLARATION.replace(" ", "\n", 3) + "  "  # reflowed: still the text
    status, result = await search(
        make_client, make_token, "il", JOHNSON_COUNTY_TX, declaration=sent
    )
    assert status == 200, result
    assert [r["id"] for r in result["reads"]] == [9001, 9002, 9003]
    e = await entry(dbs.audit_admin, result["audit_index"])
    assert e["query"]["declaration"] == sent  # exactly as asked, not normalised
    assert e["outcome"]["disclosed_by_owner"] == {MOUNT_PROSPECT: 2, CHICAGO: 1}
    assert e["outcome"]["withheld"]["sharing"] == 1  # BART's: not an agency of this pack


async def test_a_different_declaration_withholds_and_is_recorded(
    make_client: MakeClient, make_token: Any, dbs: Databases, pack_reads: None
) -> None:
    other = IL_DECLARATION.replace("will not be used", "will not knowingly be used")
    status, result = await search(
        make_client, make_token, "il", JOHNSON_COUNTY_TX, declaration=other
    )
    assert status == 200, result
    assert result["reads"] == []
    e = await entry(dbs.audit_admin, result["audit_index"])
    assert e["query"]["declaration"] == other
    assert e["outcome"]["withheld"]["sharing"] == 4


async def test_an_invisible_character_in_the_declaration_is_refused_and_audited(
    make_client: MakeClient, make_token: Any, dbs: Databases, pack_reads: None
) -> None:
    sent = IL_DECLARATION.replace("declares", "decl\u200bares")
    status, result = await search(
        make_client, make_token, "il", JOHNSON_COUNTY_TX, declaration=sent
    )
    assert status == 400
    error = result["error"]
    assert error["code"] == "invalid_request"
    assert "`declaration` contains an invisible character (U+200B)" in error["message"]
    e = await entry(dbs.audit_admin, error["audit_index"])
    assert e["decision"] == "refused" and e["query"]["declaration"] == sent


async def test_california_record_of_access_and_bart_feed(
    make_client: MakeClient, make_token: Any, dbs: Databases, pack_reads: None
) -> None:
    # BART (2017): reads from cameras its board never approved went to a regional center.
    status, result = await search(make_client, make_token, "ca", CHP, purpose="HOMICIDE")
    assert status == 200, result
    assert result["reads"] == []  # BART shares with no one; the IL reads' owners are unknown
    e = await entry(dbs.audit_admin, result["audit_index"])
    # SB 34's record of access (Civil Code 1798.90.52): when, what was queried, who, why.
    assert e["time"].startswith(NOW.date().isoformat())
    assert e["query"]["plate"] == PLATE
    assert (e["subject"], e["agency"]) == ("det.alvarez", CHP)
    assert (e["purpose"], e["case_number"]) == ("HOMICIDE", "26-004211")
    assert e["justification"].startswith("Vehicle seen leaving scene")
    assert e["outcome"]["withheld"]["sharing"] == 4
