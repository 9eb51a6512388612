"""GET /v1/audit/entries end to end: filters, cursor pagination under appends, CSV, scoping,
roles, and the audit_access entry every read of audit data leaves behind (or a 503)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import asyncpg
import msgspec
import pytest

from proxy.oversight.csvout import ENTRY_COLUMNS
from proxy.oversight.schemas import EntriesPage
from tests.http.audit_helpers import (
    ALAMEDA,
    BERKELEY,
    CHP,
    FORMULA,
    OAKLAND,
    SFPD,
    Seeded,
    get,
    log,
    seed,
    size,
    tokens,
)
from tests.http.conftest import NOW
from tests.http.search_helpers import bearer, body


@pytest.fixture
async def seeded(make_client, make_token, dbs) -> Seeded:  # type: ignore[no-untyped-def]
    admin, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn)
    return await seed(client, admin, make_token)


def q(**params: str) -> str:
    return "/v1/audit/entries?" + urlencode(params)


T = NOW.isoformat()
HOUR_BEFORE, HOUR_AFTER = (
    (NOW - timedelta(hours=1)).isoformat(),
    (NOW + timedelta(hours=1)).isoformat(),
)
FILTERS: list[tuple[dict[str, str], Any]] = [
    ({"agency": OAKLAND}, lambda e, d: e.get("agency") == OAKLAND),
    ({"subject": "-2+3"}, lambda e, d: d.subject == "-2+3"),
    ({"purpose": "KIDNAPPING"}, lambda e, d: d.purpose == "KIDNAPPING"),
    ({"decision": "refused"}, lambda e, d: e.get("decision") == "refused"),
    ({"reason": "justification_flagged"}, lambda e, d: e.get("reason") == "justification_flagged"),
    ({"plate": "7abc-123"}, lambda e, d: d.plate == "7ABC123" and e["query"]["type"] == "plate"),
    ({"plate": "7AB**23"}, lambda e, d: d.plate == "7AB*23"),
    ({"on_behalf_of": CHP}, lambda e, d: d.on_behalf_of == CHP),
    ({"owner": ALAMEDA}, lambda e, d: ALAMEDA in d.owners),
    ({"event": "policy_loaded"}, lambda e, d: e["event"] == "policy_loaded"),
    ({"from": T}, lambda e, d: d.at is not None),  # every entry is at NOW: [from, ...
    ({"to": T}, lambda e, d: False),  # ... to) excludes NOW
    ({"from": HOUR_BEFORE, "to": HOUR_AFTER}, lambda e, d: True),
    (
        {"agency": OAKLAND, "decision": "allowed", "purpose": "HOMICIDE", "owner": OAKLAND},
        lambda e, d: (
            e.get("agency") == OAKLAND
            and e.get("decision") == "allowed"
            and d.purpose == "HOMICIDE"
            and OAKLAND in d.owners
        ),
    ),
]


async def test_each_filter_returns_exactly_the_matching_entries(seeded: Seeded, make_token):
    token = tokens(make_token)["oversight"]
    for params, match in FILTERS:
        before = await log(seeded.admin)
        expected = [i for i, e, d in before if match(e, d)]
        status, page, _ = await get(seeded.client, q(**params, limit="1000"), token)
        assert status == 200, (params, page)
        assert [e["index"] for e in page["entries"]] == expected, params
        assert expected or params == {"to": T}, f"{params} matched nothing: a weak test"
        msgspec.convert(page, EntriesPage)  # the documented shape, strictly
    # An entry object is the entry itself plus its index.
    status, page, _ = await get(seeded.client, q(reason="justification_flagged"), token)
    (flagged,) = page["entries"]
    assert flagged["justification"] == FORMULA and flagged["index"] == seeded.index["flagged"]


async def test_cursor_pages_are_stable_while_the_log_grows(seeded: Seeded, make_token):
    token = tokens(make_token)["oversight"]
    start = await size(seeded.admin)
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        # Each page adds two entries (a search, its own audit_access): pages of 3 catch up.
        params = {"limit": "3"} if cursor is None else {"limit": "3", "cursor": cursor}
        status, page, _ = await get(seeded.client, q(**params), token)
        assert status == 200
        seen += [e["index"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        pages += 1
        # New searches between pages (and each page read adds its own audit_access entry).
        await seeded.client.post("/v1/search", json=body(), headers=bearer(make_token()))
    assert pages > 3 and len(seen) < 200
    assert seen == list(range(seen[-1] + 1))  # in order, nothing twice, nothing skipped
    assert seen[-1] >= start + pages  # the appended entries were reached too


async def test_csv_parses_and_neutralises_formulas(seeded: Seeded, make_token):
    token = tokens(make_token)["oversight"]
    status, data, resp = await get(
        seeded.client, q(limit="1000"), token, Accept="text/csv, application/json;q=0.5"
    )
    assert status == 200 and resp.content_type == "text/csv" and resp.charset == "utf-8"
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert list(rows[0]) == list(ENTRY_COLUMNS)
    by_index = {int(r["index"]): r for r in rows}
    _, page, _ = await get(seeded.client, q(limit="1000"), token)
    *same, csv_read = page["entries"]  # the JSON page also shows the CSV read's audit_access
    assert sorted(by_index) == [e["index"] for e in same]
    assert csv_read["event"] == "audit_access" and csv_read["returned"] == len(rows)
    flagged = by_index[seeded.index["flagged"]]
    assert flagged["justification"] == "'" + FORMULA  # commas, quotes, newline survive
    assert flagged["subject"] == "'-2+3" and flagged["reason"] == "justification_flagged"
    assert by_index[seeded.index["berkeley"]]["justification"].startswith("'@SUM")
    plain = by_index[seeded.index["plain"]]
    assert plain["disclosed_by_owner"] == f"{ALAMEDA}=1;{OAKLAND}=2"
    assert (plain["plate"], plain["returned"], plain["roles"]) == ("7ABC123", "3", "investigator")
    obo = by_index[seeded.index["obo"]]
    assert (obo["on_behalf_of"], obo["on_behalf_of_person"]) == (CHP, "Sgt. P")
    for row in rows:  # no cell anywhere starts a formula
        assert not any(v.startswith(("=", "+", "-", "@")) for v in row.values())
    # Paging works the same; the next cursor travels in a header.
    _, _, resp = await get(seeded.client, q(limit="2"), token, Accept="text/csv")
    assert resp.headers["X-Next-Cursor"] == str(same[1]["index"])


async def test_auditors_see_only_entries_concerning_their_agency(seeded: Seeded, make_token):
    toks = tokens(make_token)
    for ori in (OAKLAND, ALAMEDA, BERKELEY, CHP, SFPD):
        before = await log(seeded.admin)
        expected = [i for i, _, d in before if ori in d.concerns]
        status, page, _ = await get(seeded.client, q(limit="1000"), toks[ori])
        assert status == 200
        assert [e["index"] for e in page["entries"]] == expected, ori
        # A filter naming another agency cannot widen the scope.
        _, page, _ = await get(seeded.client, q(agency=OAKLAND, limit="1000"), toks[ori])
        assert all(ori in d.concerns for i, _, d in before for e in page["entries"]
                   if e["index"] == i)  # fmt: skip
    assert expected == []  # SFPD: its read was withheld everywhere, it searched nothing


async def test_every_read_is_audited_before_the_response(seeded: Seeded, make_token):
    toks = tokens(make_token)
    log_entry = "GET /v1/log/entries/{index}"
    reads = [  # path, token, headers, endpoint recorded, returned, refusal
        (q(agency=OAKLAND), toks[OAKLAND], {}, "GET /v1/audit/entries", None, None),
        (q(limit="3"), toks["oversight"], {"Accept": "text/csv"}, "GET /v1/audit/entries", 3, None),
        (f"/v1/log/entries/{seeded.index['plain']}", toks[ALAMEDA], {}, log_entry, 1, None),
        (f"/v1/log/entries/{seeded.index['flagged']}", toks[ALAMEDA], {}, log_entry, 0,
         "forbidden_role"),
        ("/v1/log/entries/99999", toks["oversight"], {}, log_entry, 0, "not_found"),
    ]  # fmt: skip
    for path, token, headers, endpoint, returned, refused in reads:
        before = await size(seeded.admin)
        status, result, resp = await get(seeded.client, path, token, **headers)
        entries = await log(seeded.admin)
        assert len(entries) == before + 1, path
        index, e, _ = entries[-1]
        assert e["event"] == "audit_access" and e["endpoint"] == endpoint
        assert (e["decision"], e["reason"]) == ("refused" if refused else "allowed", refused)
        assert e["subject"] == ("ig" if token == toks["oversight"] else f"auditor-{ALAMEDA}"
                                if token == toks[ALAMEDA] else f"auditor-{OAKLAND}")  # fmt: skip
        if returned is not None:
            assert e["returned"] == returned, path
        if refused:
            assert result["error"] == {**result["error"], "code": refused, "audit_index": index}
        else:
            assert status == 200 and resp.headers["X-Audit-Index"] == str(index)
        if path == q(agency=OAKLAND):
            assert e["filters"] == {"agency": OAKLAND}
            assert e["returned"] == len(result["entries"]) > 0


async def test_no_audit_access_entry_no_data(seeded: Seeded, make_token):
    conn = await asyncpg.connect(seeded.admin)
    try:  # the log can still be read, but no longer written
        await conn.execute("REVOKE INSERT ON audit.entries FROM alpr_proxy_audit")
        report = "/v1/audit/reports/usage?" + urlencode({"from": HOUR_BEFORE, "to": HOUR_AFTER})
        for path in (q(), f"/v1/log/entries/{seeded.index['plain']}", report):
            status, result, _ = await get(seeded.client, path, tokens(make_token)["oversight"])
            assert status == 503 and result["error"]["code"] == "audit_unavailable", path
            assert set(result) == {"error"}
    finally:
        await conn.execute("GRANT INSERT ON audit.entries TO alpr_proxy_audit")
        await conn.close()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/audit/entries",
        "/v1/audit/reports/usage?from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z",
        "/v1/audit/reports/disclosures?from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z",
        "/v1/audit/reports/flags?from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z",
        "/v1/log/entries/0",
    ],
)
async def test_investigators_and_strangers_are_refused(seeded: Seeded, make_token, path: str):
    before = await size(seeded.admin)
    status, result, _ = await get(seeded.client, path, make_token())
    assert status == 403 and result["error"]["code"] == "forbidden_role"
    resp = await seeded.client.get(path)
    assert resp.status == 401
    assert await size(seeded.admin) == before + 1  # the 401 is an auth_failure; no access entry


@pytest.mark.parametrize(
    "query",
    [
        "bogus=1",
        "from=2026-06-15T12:00:00",  # no zone
        "from=yesterday",
        "limit=0",
        "limit=1001",
        "cursor=abc",
        "cursor=-1",
        "event=searches",
        "decision=maybe",
        "plate=7AB!",
        "agency=",
        "agency=A&agency=B",
        "from=2026-06-16T00:00:00Z&to=2026-06-15T00:00:00Z",
    ],
)
async def test_bad_parameters_are_invalid_request(seeded: Seeded, make_token, query: str):
    before = await size(seeded.admin)
    status, result, _ = await get(
        seeded.client, f"/v1/audit/entries?{query}", tokens(make_token)["oversight"]
    )
    assert status == 400 and result["error"]["code"] == "invalid_request", query
    assert await size(seeded.admin) == before  # nothing was read
