"""Reports and reviews over HTTP: shapes as documented, scoped per auditor, reviews appended."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from urllib.parse import urlencode

import msgspec
import orjson
import pytest

from proxy.oversight.schemas import (
    DisclosuresReport,
    FlagsReport,
    ReviewOut,
    UsageReport,
)
from tests.http.audit_helpers import (
    ALAMEDA,
    BERKELEY,
    CHP,
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
from tests.http.search_helpers import bearer

RANGE = {"from": (NOW - timedelta(days=1)).isoformat(), "to": (NOW + timedelta(days=1)).isoformat()}


@pytest.fixture
async def seeded(make_client, make_token, dbs) -> Seeded:  # type: ignore[no-untyped-def]
    admin, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn)
    return await seed(client, admin, make_token)


def report(name: str, **params: str) -> str:
    return f"/v1/audit/reports/{name}?" + urlencode({**RANGE, **params})


async def test_reports_match_the_log_for_every_scope(seeded: Seeded, make_token):
    toks = tokens(make_token)
    for who in ("oversight", OAKLAND, ALAMEDA, BERKELEY, CHP, SFPD):
        scope = None if who == "oversight" else who
        searches = [
            (e, d) for _, e, d in await log(seeded.admin)
            if e["event"] == "search" and (scope is None or scope in d.concerns)
        ]  # fmt: skip
        status, usage, _ = await get(seeded.client, report("usage"), toks[who])
        assert status == 200
        parsed = msgspec.convert(usage, UsageReport, strict=False)
        assert parsed.scope == ("all" if scope is None else scope)
        want = Counter((e["agency"], e["purpose"], e["decision"]) for e, _ in searches)
        assert {(r.agency, r.purpose, r.decision): r.searches for r in parsed.rows} == want
        _, disclosures, _ = await get(seeded.client, report("disclosures"), toks[who])
        flat: Counter[tuple[str, str]] = Counter()
        for e, d in searches:
            for owner, n in zip(d.owners, d.owner_reads, strict=True):
                flat[(owner, e["agency"])] += n
                if d.on_behalf_of:
                    flat[(owner, d.on_behalf_of)] += n
        got = msgspec.convert(disclosures, DisclosuresReport, strict=False).disclosed
        assert {(o, r): n for o, to in got.items() for r, n in to.items()} == flat, who
        _, flags, _ = await get(seeded.client, report("flags"), toks[who])
        parsed_flags = msgspec.convert(flags, FlagsReport, strict=False)
        refused = [
            i
            for i, e, d in await log(seeded.admin)
            if e["event"] == "search" and e["decision"] == "refused"
            if scope is None or scope in d.concerns
        ]
        assert [e.index for e in parsed_flags.refused.entries] == refused, who
    # The seeded log really exercises the scopes.
    assert want == Counter() and len(flat) == 0  # SFPD: nothing concerns it
    assert msgspec.json.decode(orjson.dumps(usage), type=UsageReport)  # strict: no unknown fields


async def test_disclosure_recipients_include_on_behalf_of(seeded: Seeded, make_token):
    _, got, _ = await get(seeded.client, report("disclosures"), tokens(make_token)["oversight"])
    # plain: 2 of Oakland's and 1 of Alameda's reads to Oakland; obo: Oakland's reads went to
    # Oakland and CHP (Alameda shares with local agencies only, so CHP got none of them).
    assert got["disclosed"][OAKLAND][CHP] >= 1
    assert CHP not in got["disclosed"][ALAMEDA]


async def test_reviews_are_appended_scoped_and_flip_unreviewed(seeded: Seeded, make_token):
    toks = tokens(make_token)
    refused = seeded.index["refused"]
    _, flags, _ = await get(seeded.client, report("flags"), toks[OAKLAND])
    assert [(e["index"], e["unreviewed"]) for e in flags["refused"]["entries"]] == [(refused, True)]
    before = await size(seeded.admin)
    resp = await seeded.client.post(
        "/v1/audit/reviews",
        json={"index": refused, "disposition": "needs_follow_up", "note": "ask the detective"},
        headers=bearer(toks[OAKLAND]),
    )
    assert resp.status == 200
    out = msgspec.json.decode(await resp.read(), type=ReviewOut)
    assert out.reviewed_index == refused and out.audit_index == before
    entries = await log(seeded.admin)
    _, e, _ = entries[out.audit_index]
    assert (e["event"], e["reviewed_index"], e["disposition"], e["note"]) == (
        "review",
        refused,
        "needs_follow_up",
        "ask the detective",
    )
    assert e["subject"] == f"auditor-{OAKLAND}" and e["agency"] == OAKLAND
    # Oversight reviews too: each side's disposition stands for that side, the other's is
    # shown beside it, and neither replaces the other (issue 13, item 9); nothing was edited.
    resp = await seeded.client.post(
        "/v1/audit/reviews",
        json={"index": refused, "disposition": "violation"},
        headers=bearer(toks["oversight"]),
    )
    latest = (await resp.json())["audit_index"]
    _, flags, _ = await get(seeded.client, report("flags"), toks[OAKLAND])
    (entry,) = flags["refused"]["entries"]
    assert entry["unreviewed"] is False
    assert (entry["review"]["audit_index"], entry["review"]["by"]) == (out.audit_index, "auditor")
    assert [(r["audit_index"], r["disposition"], r["by"]) for r in entry["other_reviews"]] == [
        (latest, "violation", "oversight")
    ]
    assert flags["refused"]["unreviewed"] == 0
    # The agency's auditor reviews again, later: oversight's report still shows oversight's.
    resp = await seeded.client.post(
        "/v1/audit/reviews",
        json={"index": refused, "disposition": "no_issue"},
        headers=bearer(toks[OAKLAND]),
    )
    again = (await resp.json())["audit_index"]
    _, flags, _ = await get(seeded.client, report("flags"), toks["oversight"])
    entry = next(x for x in flags["refused"]["entries"] if x["index"] == refused)
    assert (entry["review"]["audit_index"], entry["review"]["disposition"]) == (
        latest,
        "violation",
    )
    assert [(r["audit_index"], r["disposition"], r["agency"]) for r in entry["other_reviews"]] == [
        (again, "no_issue", OAKLAND)
    ]
    assert (await log(seeded.admin))[out.audit_index][1] == e  # the first review is intact
    _, pending, _ = await get(seeded.client, report("flags", unreviewed="true"), toks[OAKLAND])
    assert pending["refused"]["entries"] == [] and pending["refused"]["total"] == 1


@pytest.mark.parametrize(
    ("payload", "who", "status", "code"),
    [
        ({"index": "FLAGGED", "disposition": "no_issue"}, OAKLAND, 403, "forbidden_role"),
        ({"index": 99999, "disposition": "no_issue"}, "oversight", 404, "not_found"),
        ({"index": 0, "disposition": "fine"}, "oversight", 400, "invalid_request"),
        ({"index": 0, "disposition": "no_issue", "extra": 1}, "oversight", 400, "invalid_request"),
        ({"index": -1, "disposition": "no_issue"}, "oversight", 400, "invalid_request"),
        ({"index": 0, "disposition": "no_issue", "note": "x" * 4001}, "oversight", 400,
         "invalid_request"),
        ({"index": 0, "disposition": "no_issue"}, "investigator", 403, "forbidden_role"),
    ],
)  # fmt: skip
async def test_bad_reviews(seeded: Seeded, make_token, payload, who, status, code):  # type: ignore[no-untyped-def]
    if payload["index"] == "FLAGGED":  # Berkeley's search: nothing of Oakland's in it
        payload = {**payload, "index": seeded.index["flagged"]}
    before = await size(seeded.admin)
    resp = await seeded.client.post(
        "/v1/audit/reviews", json=payload, headers=bearer(tokens(make_token)[who])
    )
    assert resp.status == status
    error = (await resp.json())["error"]
    assert error["code"] == code
    entries = await log(seeded.admin)
    assert all(e["event"] != "review" for _, e, _ in entries)
    if code in ("forbidden_role", "not_found") and who != "investigator":
        # A denied attempt at an entry is recorded like any denied read.
        assert len(entries) == before + 1 and error["audit_index"] == before
        assert entries[-1][1]["endpoint"] == "POST /v1/audit/reviews"
    else:
        assert len(entries) == before


@pytest.mark.parametrize(
    "query",
    [
        "to=2026-06-16T00:00:00Z",
        "from=2026-06-14T00:00:00Z",
        "from=2026-06-14&to=2026-06-16T00:00:00Z",
        "from=2026-06-16T00:00:00Z&to=2026-06-14T00:00:00Z",
        "from=2026-06-14T00:00:00Z&to=2026-06-16T00:00:00Z&agency=CA0010900",
    ],
)
async def test_report_parameters(seeded: Seeded, make_token, query: str):
    status, result, _ = await get(
        seeded.client, f"/v1/audit/reports/usage?{query}", tokens(make_token)["oversight"]
    )
    assert status == 400 and result["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "extra",
    ["limit=0", "limit=1001", "unreviewed=yes", "volume_factor=0.5", "volume_factor=x",
     "volume_min=0", "boilerplate_min=1"],
)  # fmt: skip
async def test_flag_options_are_checked(seeded: Seeded, make_token, extra: str):
    status, result, _ = await get(
        seeded.client, report("flags") + "&" + extra, tokens(make_token)["oversight"]
    )
    assert status == 400 and result["error"]["code"] == "invalid_request", extra
