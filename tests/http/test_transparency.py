"""Public transparency pages: recipients derived from the sharing rules in force, activity
counted from the audit log, everything escaped, no token needed."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from proxy.audit import postgres
from proxy.audit.entry import search_entry
from proxy.http.state import POLICY, SETTINGS
from proxy.model import Principal
from tests.http.conftest import NOW
from tests.http.html_view import Page
from tests.http.search_helpers import bearer, body, log_size
from tests.http.test_log_api import wait_for_checkpoint

OAKLAND, ALAMEDA, SFPD, BERKELEY = "CA0010900", "CA0010000", "CA0380100", "CA0010800"
CHP, RENO, FBI, ICE = "CA0349400", "NV0160200", "CA0389900", "CA0389999"


@pytest.fixture
async def fresh(make_client, dbs):  # type: ignore[no-untyped-def]
    """A client on an empty audit log, so counts are this test's alone: (client, admin dsn)."""
    admin_dsn, dsn = await dbs.fresh_audit()
    return await make_client(audit_dsn=dsn), admin_dsn


async def get_page(client: Any, path: str) -> Page:
    resp = await client.get(path)  # never a token: the pages are public
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/html"
    text = await resp.text()
    assert "<script" not in text.lower()
    return Page(text)


def refusal_rows(page: Page) -> list[list[str]]:
    """The refusal tables' rows, gravest severity first (one table per severity)."""
    ids = ("refusals-prohibited", "refusals-beyond_limits", "refusals-incomplete")
    return [row for i in ids for row in page.tables.get(i, [])]


async def test_oakland_recipients_come_from_its_rule(fresh):
    client, _ = fresh
    page = await get_page(client, f"/transparency/{OAKLAND}")
    # Oakland's rule: local and state agencies in CA, immigration enforcement excluded.
    assert set(page.column("recipients-table", 1)) == {ALAMEDA, SFPD, BERKELEY, CHP}
    assert set(page.column("not-admitted-table", 1)) == {RENO, FBI, ICE}
    for row in page.tables["recipients-table"]:
        assert row[4:] == ["All permitted purposes", "through 2030-12-31"]
    assert page.text("exposure-answer") == "No"
    assert [r[1] for r in page.tables["exposure-table"]] == ["No", "No", "No"]
    assert page.tables["prohibited-table"] == [
        ["CIVIL_IMMIGRATION", "Civil immigration enforcement"]
    ]
    assert page.text("retention-days") == "365 days"
    assert page.text("exposure").startswith("Can federal, out-of-state or immigration")


async def test_alameda_names_ice_but_excludes_immigration_enforcement(fresh):
    client, _ = fresh
    page = await get_page(client, f"/transparency/{ALAMEDA}")
    rows = {r[1]: r for r in page.tables["recipients-table"]}
    assert set(rows) == {OAKLAND, SFPD, BERKELEY}  # local CA only; CHP is a state agency
    assert ICE in page.column("not-admitted-table", 1)
    assert rows[OAKLAND][4:] == ["HOMICIDE", "no expiry"]
    assert page.text("exposure-answer") == "No"


async def test_an_expired_rule_admits_nobody(fresh):
    client, _ = fresh
    page = await get_page(client, f"/transparency/{SFPD}")  # its rule expired 2026-06-14
    assert page.text("recipients-table") == "No other agency can receive its reads."
    assert len(page.tables["not-admitted-table"]) == 7
    assert "Its rule sharing[2] expired on 2026-06-14 and admits no one." in page.all_text()


def rewrite_policy(path: Path, berkeley_name: str) -> None:
    """Rename Berkeley PD and let Oakland's rule admit federal agencies too."""
    text = path.read_text().replace("Berkeley Police Department", berkeley_name.replace('"', '\\"'))
    oakland_rule = 'to_kinds = ["local", "state"]\nto_states = ["CA"]'
    assert oakland_rule in text
    path.write_text(
        text.replace(oakland_rule, oakland_rule.replace('"state"', '"state", "federal"'), 1)
    )


async def test_the_page_follows_a_reload_and_escapes_policy_text(fresh, make_token):
    client, _ = fresh
    app = client.server.app
    evil = "<script>alert('x')</script> Berkeley & \"Co\""
    rewrite_policy(Path(app[SETTINGS].policy.file), evil)
    admin = make_token(sub="ops", roles=("admin",))
    assert (await client.post("/v1/admin/policy/reload", headers=bearer(admin))).status == 200

    raw = await (await client.get(f"/transparency/{OAKLAND}")).text()
    assert "<script>" not in raw and "&lt;script&gt;" in raw
    page = Page(raw)
    assert evil in page.column("recipients-table", 0)  # shown exactly, as text
    assert FBI in page.column("recipients-table", 1)
    assert page.text("exposure-answer") == "Yes"
    federal = page.tables["exposure-table"][0]
    assert federal[:2] == ["Federal agencies", "Yes"] and "FBI San Francisco" in federal[2]
    assert ICE not in page.column("recipients-table", 1)  # still excluded
    index = await get_page(client, "/transparency")
    assert index.text("policy-version") == app[POLICY].current.version
    assert evil in index.column("agencies-table", 0)


async def _search(client: Any, token: str, **changes: Any) -> dict[str, Any]:
    resp = await client.post("/v1/search", json=body(**changes), headers=bearer(token))
    result: dict[str, Any] = await resp.json()
    return result


async def test_counts_match_the_searches_made(fresh, make_token):
    client, _ = fresh
    oak = make_token(ori=OAKLAND)
    brk = make_token(sub="det.kim", ori=BERKELEY)
    made = [
        (OAKLAND, None, "HOMICIDE", await _search(client, oak)),
        (BERKELEY, None, "HOMICIDE", await _search(client, brk)),
        (
            BERKELEY,
            CHP,
            "ROBBERY",
            await _search(
                client,
                brk,
                purpose="ROBBERY",
                **{"from": (NOW - timedelta(days=60)).isoformat()},
                on_behalf_of={"ori": CHP, "person": "Ofc. Li"},
            ),
        ),
        # On behalf of the FBI nothing of Oakland's may be disclosed: not counted on its page.
        (OAKLAND, FBI, "HOMICIDE", await _search(client, oak, on_behalf_of={"ori": FBI})),
    ]
    assert all("reads" in result for *_, result in made), made
    for code in ("CIVIL_IMMIGRATION", "CIVIL_IMMIGRATION"):
        assert "error" in await _search(client, oak, purpose=code)
    assert "error" in await _search(client, oak, case_number=None)
    assert "error" in await _search(client, oak, justification="Suspect may face deportation soon")
    assert "error" in await _search(client, brk, purpose="NOPE")  # Berkeley's, not Oakland's

    for owner in (OAKLAND, ALAMEDA):
        expected = Counter()
        for requester, obo, purpose, result in made:
            n = sum(1 for r in result["reads"] if r["agency"] == owner)
            if n:
                expected[(requester, obo or "—", purpose)] += n
        assert expected, "the searches must disclose something of each owner"
        page = await get_page(client, f"/transparency/{owner}")
        got = {
            (row[0].split("(")[-1].rstrip(")"), row[1].split("(")[-1].rstrip(")"), row[2]): (
                int(row[3]),
                int(row[4]),
            )
            for row in page.tables["searches-table"]
        }
        assert got == {k: (1, n) for k, n in expected.items()}
        # One bar per recipient agency (requester or on-behalf-of) and one per purpose.
        recipients = {k[0] for k in expected} | ({k[1] for k in expected} - {"—"})
        bars = [a for t, a in page.tags if t == "rect" and a.get("class") == "bar"]
        assert len(bars) == len(recipients) + len({k[2] for k in expected})

    oakland = await get_page(client, f"/transparency/{OAKLAND}")
    refusals = {r[0]: int(r[2]) for r in refusal_rows(oakland)}
    assert refusals == {
        "purpose_prohibited": 2,
        "case_number_required": 1,
        "justification_flagged": 1,
    }
    alameda = await get_page(client, f"/transparency/{ALAMEDA}")
    assert alameda.text("refusals-table") == "None of its searches was refused in this period."


async def test_only_the_last_30_days_count(make_client, dbs):
    admin_dsn, dsn = await dbs.fresh_audit()
    oak = Principal("det.old", OAKLAND, frozenset({"investigator"}), 0.0)

    def entry(age_days: float, decision: str, reads: int) -> Any:
        return search_entry(
            at=NOW - timedelta(days=age_days),
            request_id=f"r{age_days}{decision}",
            principal=oak,
            client=None,
            query={"purpose": "HOMICIDE"},
            decision=decision,
            reason=None if decision == "allowed" else "lookback_exceeded",
            policy_version="v",
            outcome={"disclosed_by_owner": {OAKLAND: reads}} if decision == "allowed" else None,
        )

    conn = await asyncpg.connect(admin_dsn)
    try:
        async with conn.transaction():
            await postgres.append(
                conn,
                [
                    entry(31, "allowed", 5),
                    entry(30.01, "refused", 0),
                    entry(29.99, "allowed", 3),
                    entry(1, "refused", 0),
                ],
            )
    finally:
        await conn.close()
    client = await make_client(audit_dsn=dsn)
    page = await get_page(client, f"/transparency/{OAKLAND}")
    assert [r[2:] for r in page.tables["searches-table"]] == [["HOMICIDE", "1", "3"]]
    assert refusal_rows(page) == [
        ["lookback_exceeded", "Searched further back than the purpose allows", "1"]
    ]


async def test_index_lists_every_agency_with_the_latest_checkpoint(fresh, make_token):
    client, _ = fresh
    await _search(client, make_token())
    await wait_for_checkpoint(client, 2)
    note = await (await client.get("/v1/log/checkpoint")).text()
    index = await get_page(client, "/transparency")
    policy = client.server.app[POLICY].current
    assert set(index.column("agencies-table", 1)) == set(policy.agencies)
    for ori in policy.agencies:
        assert f"/transparency/{ori}" in index.links()
    assert index.text("checkpoint-note") == " ".join(note.split())
    assert index.text("policy-version") == policy.version
    flags = dict(
        zip(index.column("agencies-table", 1), index.column("agencies-table", 3), strict=True)
    )
    # Sharing owners: no federal, out-of-state or immigration recipient in this policy. The
    # federal and immigration agencies' own rows never answer "No" (issue 18).
    assert {flags[o] for o in ("CA0010900", "CA0010000", "CA0380100")} == {"No"}
    assert flags["CA0389999"].startswith("It is an immigration-enforcement agency")
    assert flags["CA0389900"].startswith("It is a federal agency")
    assert flags["CA0010800"] == "Not applicable: no sharing rule of its own"


async def test_public_cacheable_and_writes_nothing_to_the_log(fresh):
    client, admin_dsn = fresh
    before = await log_size(admin_dsn)
    for path in ("/transparency", f"/transparency/{OAKLAND}"):
        resp = await client.get(path)
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "public, max-age=60"
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        await resp.read()
    assert await log_size(admin_dsn) == before  # no token, no auth_failure entry, no audit


async def test_unknown_ori_is_404_json_or_html(fresh):
    client, _ = fresh
    resp = await client.get("/transparency/XX9999999")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    evil = "%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    resp = await client.get(f"/transparency/{evil}", headers={"Accept": "text/html"})
    assert resp.status == 404 and resp.content_type == "text/html"
    raw = await resp.text()
    assert "<script>" not in raw and "&lt;script&gt;alert(1)" in raw
    assert resp.headers["Cache-Control"] == "no-store"
    assert "/transparency" in Page(raw).links()


async def test_pages_show_each_owners_own_retention(make_client, dbs, tmp_path: Path):
    """Berkeley keeps 30 days of its own (SPEC §11): its page and the index say so; others
    keep the global 365."""
    from tests.http.conftest import policy_text

    berkeley = 'ori = "CA0010800"\nname = "Berkeley Police Department"\nkind = "local"\n'
    text = policy_text()
    assert berkeley in text
    policy = tmp_path / "own-retention.toml"
    policy.write_text(text.replace(berkeley, berkeley + "retention_days = 30\n"))
    _, audit = await dbs.fresh_audit()
    client = await make_client(audit_dsn=audit, policy={"file": str(policy)})
    page = await get_page(client, f"/transparency/{BERKELEY}")
    assert page.text("retention-days") == "30 days"
    assert "set its own retention, shorter than the 365 days" in page.text("retention")
    other = await get_page(client, f"/transparency/{OAKLAND}")
    assert other.text("retention-days") == "365 days"
    assert "its own retention" not in other.text("retention")
    index = await get_page(client, "/transparency")
    kept = dict(
        zip(index.column("agencies-table", 1), index.column("agencies-table", 5), strict=True)
    )
    assert kept[BERKELEY] == "30 days" and kept[OAKLAND] == "365 days"
