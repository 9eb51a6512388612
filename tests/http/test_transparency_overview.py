"""Issue 18's public transparency fixes, over HTTP: the index says who shares and who only
receives, answers the other direction (whose reads can the FBI or ICE receive), shows searches
by or for federal agencies and refusals by severity, over a history window the reader picks,
with a CSV download of an agency's activity."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from proxy.audit import postgres
from proxy.audit.entry import search_entry
from proxy.http.state import SETTINGS
from proxy.model import Principal
from tests.http.conftest import NOW
from tests.http.search_helpers import bearer
from tests.http.test_transparency import (
    FBI,
    ICE,
    OAKLAND,
    fresh,
    get_page,
    refusal_rows,
    rewrite_policy,
)

__all__ = ["fresh"]
OAK = Principal("det.a", OAKLAND, frozenset({"investigator"}), 0.0)


def _entry(age_days: float, n: int, *, reason: str | None = None, obo: str | None = None) -> Any:
    return search_entry(
        at=NOW - timedelta(days=age_days),
        request_id=f"r{age_days}-{n}-{reason}",
        principal=OAK,
        client=None,
        query={"purpose": "HOMICIDE", **({"on_behalf_of": {"ori": obo}} if obo else {})},
        decision="refused" if reason else "allowed",
        reason=reason,
        policy_version="v",
        outcome=None if reason else {"disclosed_by_owner": {OAKLAND: 2}},
    )


async def _seeded(make_client: Any, dbs: Any) -> Any:
    admin_dsn, dsn = await dbs.fresh_audit()
    entries = [
        _entry(1, 1, reason="purpose_prohibited"),
        _entry(2, 2, reason="case_number_required"),
        _entry(3, 3, reason="case_number_required"),
        _entry(60, 4, reason="lookback_exceeded"),  # inside 90 days, not 30
        _entry(5, 5, obo=FBI),
        _entry(70, 6),
    ]
    conn = await asyncpg.connect(admin_dsn)
    try:
        async with conn.transaction():
            await postgres.append(conn, entries)
    finally:
        await conn.close()
    return await make_client(audit_dsn=dsn)


async def test_refusals_by_severity_and_a_longer_window(make_client, dbs):  # type: ignore[no-untyped-def]
    client = await _seeded(make_client, dbs)
    page = await get_page(client, f"/transparency/{OAKLAND}")
    assert page.tables["refusals-prohibited"] == [["purpose_prohibited", "Prohibited purpose", "1"]]
    assert page.tables["refusals-incomplete"] == [["case_number_required", "No case number", "2"]]
    assert "refusals-beyond_limits" not in page.tables
    assert "Prohibited: " in page.all_text()

    longer = await get_page(client, f"/transparency/{OAKLAND}?days=90")
    assert ["lookback_exceeded", "Searched further back than the purpose allows", "1"] in (
        refusal_rows(longer)
    )
    assert "last 90 days" in longer.all_text()
    index = await get_page(client, "/transparency?days=90")
    assert index.tables["refusals-beyond_limits"][0][0] == "lookback_exceeded"
    # The search run on behalf of the FBI is listed on the index.
    rows = index.tables["watched-table"]
    assert len(rows) == 1 and FBI in rows[0][1] and rows[0][2:] == ["allowed", "1"]


async def test_an_unknown_window_is_a_clear_400(make_client, dbs):  # type: ignore[no-untyped-def]
    client = await make_client()
    for path in ("/transparency?days=7", f"/transparency/{OAKLAND}?days=x"):
        resp = await client.get(path)
        assert resp.status == 400
        error = (await resp.json())["error"]
        assert error["code"] == "invalid_request" and "30, 90, 365" in error["message"]


async def test_the_activity_csv_matches_the_page(make_client, dbs):  # type: ignore[no-untyped-def]
    client = await _seeded(make_client, dbs)
    resp = await client.get(f"/transparency/{OAKLAND}/activity.csv?days=90")
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(await resp.text())))
    assert rows[0][0].startswith("# Oakland Police Department (CA0010900)")
    table = [dict(zip(rows[1], r, strict=True)) for r in rows[2:]]
    disclosed = [r for r in table if r["section"] == "disclosed"]
    assert {(r["on_behalf_of"], r["searches"], r["reads_disclosed"]) for r in disclosed} == {
        ("", "1", "2"),
        (FBI, "1", "2"),
    }
    refused = {r["purpose_or_reason"]: (r["severity"], r["searches"]) for r in table[2:]}
    assert refused == {
        "case_number_required": ("incomplete", "2"),
        "purpose_prohibited": ("prohibited", "1"),
        "lookback_exceeded": ("beyond_limits", "1"),
    }
    missing = await client.get("/transparency/XX0000000/activity.csv")
    assert missing.status == 404


async def test_the_other_direction_names_whose_reads_the_fbi_receives(fresh, make_token):  # type: ignore[no-untyped-def]
    client, _ = fresh
    index = await get_page(client, "/transparency")
    assert "None: no agency's sharing rules admit it today." in index.text("reverse")
    rewrite_policy(Path(client.server.app[SETTINGS].policy.file), "Berkeley PD")
    admin = make_token(sub="ops", roles=("admin",))
    assert (await client.post("/v1/admin/policy/reload", headers=bearer(admin))).status == 200
    index = await get_page(client, "/transparency")
    reverse = index.text("reverse")
    fbi_part = reverse.split("FBI San Francisco")[1].split("ICE ERO")[0]
    assert "Oakland Police Department" in fbi_part
    assert "None" in reverse.split("ICE ERO San Francisco")[1]  # still excluded by SB 54
    fbi = await get_page(client, f"/transparency/{FBI}")
    assert [r[1] for r in fbi.tables["sources-table"]] == [OAKLAND]
    assert fbi.text("exposure-answer") == "See below"  # never a reassuring "No"
    assert "exposure-table" not in fbi.tables  # nor a table of them
    ice = await get_page(client, f"/transparency/{ICE}")
    assert ice.text("exposure-answer") == "See below"
    assert ice.text("sources-table").startswith("None")
