"""The flags report's approvals and exigent searches (SPEC §12), from entries the app wrote on a
real PostgreSQL: pending, denied, never used (before and after its window), per supervisor,
exigent searches unreviewed and reviewed late with an injected clock; JSON, CSV, and an
auditor's scope; and the overdue metric recounted after a checkpoint run."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import msgspec
import pytest

from proxy import metrics
from proxy.http.state import CHECKPOINTER
from proxy.oversight.schemas import FlagsReport
from tests.http.approval_helpers import (
    AMBER,
    BERKELEY,
    OAKLAND,
    PARTIAL,
    POLICY,
    Clock,
    code,
    decide,
    index_of,
    search,
)
from tests.http.conftest import NOW, MakeClient
from tests.http.search_helpers import bearer

Tokens = Callable[..., str]
RANGE = urlencode(
    {"from": (NOW - timedelta(days=1)).isoformat(), "to": (NOW + timedelta(days=5)).isoformat()}
)
OTHER = {**PARTIAL, "pattern": "8XY*999"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(make_client: MakeClient, clock: Clock, dbs: Any) -> Any:
    _, dsn = await dbs.fresh_audit()  # totals are this test's alone
    # One checkpoint run at start, then only those the test asks for.
    return await make_client(
        audit_dsn=dsn, policy_toml=POLICY, clock=clock, log={"checkpoint_interval_s": 3600}
    )


async def flags(client: Any, token: str, **headers: str) -> Any:
    resp = await client.get(
        f"/v1/audit/reports/flags?{RANGE}", headers={**bearer(token), **headers}
    )
    assert resp.status == 200, await resp.text()
    return resp


async def report(client: Any, token: str) -> FlagsReport:
    return msgspec.json.decode(await (await flags(client, token)).read(), type=FlagsReport)


async def refused_index(client: Any, token: str, query: dict[str, Any]) -> int:
    status, answer = await search(client, token, **query)
    assert (status, code(answer)) == (403, "approval_required"), answer
    return index_of(answer)


async def review(client: Any, token: str, index: int) -> int:
    payload = {"index": index, "disposition": "no_issue", "note": "exigency documented"}
    resp = await client.post("/v1/audit/reviews", json=payload, headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return int((await resp.json())["audit_index"])


async def overdue_after_a_checkpoint(client: Any) -> float | None:
    await client.server.app[CHECKPOINTER].run_once()
    return metrics.REGISTRY.get_sample_value("alpr_proxy_exigent_reviews_overdue")


async def test_approvals_and_exigent_searches_in_the_flags_report(
    client: Any, make_token: Tokens, clock: Clock
) -> None:
    det1, det2, det3 = (make_token(sub=s, ori=OAKLAND) for s in ("det.1", "det.2", "det.3"))
    sgt = make_token(sub="sgt.kim", ori=OAKLAND, roles=("supervisor",))
    both = make_token(sub="sgt.lee", ori=OAKLAND, roles=("investigator", "supervisor"))
    overseer = make_token(sub="ig", ori="CA9999999", roles=("oversight",))

    r1 = await refused_index(client, det1, PARTIAL)
    r2 = await refused_index(client, det1, OTHER)  # never decided
    r3 = await refused_index(client, det2, PARTIAL)
    status, answer = await decide(client, sgt, r3, "deny", "no link to the case")
    assert status == 200
    d3 = index_of(answer)
    a1 = index_of((await decide(client, sgt, r1))[1])
    status, used = await search(client, det1, **PARTIAL, approval=r1)
    assert status == 200, used
    r4 = await refused_index(client, det2, OTHER)
    a4 = index_of((await decide(client, sgt, r4))[1])  # approved, never used
    r5 = await refused_index(client, both, PARTIAL)
    status, answer = await decide(client, both, r5)  # their own: refused, decides nothing
    assert (status, code(answer)) == (403, "self_approval")
    e1 = index_of((await search(client, det1, **AMBER))[1])
    e2 = index_of((await search(client, det2, **AMBER))[1])
    e4 = index_of((await search(client, det3, **AMBER))[1])

    early = (await report(client, overseer)).approvals
    assert [(d.index, d.request, d.expired) for d in early.unused.entries] == [(a4, r4, False)]

    clock.now = NOW + timedelta(hours=1)
    reviewed_in_time = await review(client, sgt, e4)
    clock.now = NOW + timedelta(hours=72)
    e3 = index_of((await search(client, det3, **AMBER))[1])
    clock.now = NOW + timedelta(hours=73)
    assert await overdue_after_a_checkpoint(client) == 2  # e1 and e2
    late = await review(client, sgt, e1)
    assert await overdue_after_a_checkpoint(client) == 1  # e2

    got = await report(client, overseer)
    approvals, exigent = got.approvals, got.exigent
    assert approvals.valid_hours == 24 and exigent.review_hours == 72
    assert [(r.index, r.subject, r.query_type) for r in approvals.pending.entries] == [
        (r2, "det.1", "partial_plate"),
        (r5, "sgt.lee", "partial_plate"),
    ]
    assert (approvals.pending.total, approvals.pending.truncated) == (2, False)
    (denied,) = approvals.denied.entries
    assert (denied.index, denied.request, denied.verdict, denied.requester) == (
        d3,
        r3,
        "deny",
        "det.2",
    )
    assert (denied.subject, denied.note, denied.expired) == ("sgt.kim", "no link to the case", None)
    (unused,) = approvals.unused.entries  # a1 was used; a4 was not, and has now expired
    assert (unused.index, unused.request, unused.verdict, unused.expired) == (
        a4,
        r4,
        "approve",
        True,
    )
    assert unused.valid_until is not None and unused.valid_until.startswith("2026-06-16T12:")
    assert a1 not in [d.index for d in approvals.unused.entries]
    assert [(s.subject, s.approved, s.denied, s.refused) for s in approvals.by_supervisor] == [
        ("sgt.kim", 2, 1, 0),
        ("sgt.lee", 0, 0, 1),
    ]
    assert approvals.reused == []

    unreviewed = {e.index: e for e in exigent.unreviewed.entries}
    assert sorted(unreviewed) == [e2, e3]
    assert unreviewed[e2].overdue and not unreviewed[e3].overdue
    assert (unreviewed[e2].subject, unreviewed[e2].due) == ("det.2", "2026-06-18T12:00:00.000000Z")
    (was_late,) = exigent.reviewed_late.entries  # e4 was reviewed in time
    assert (was_late.index, was_late.review_index, was_late.overdue) == (e1, late, True)
    assert was_late.reviewed_at == "2026-06-18T13:00:00.000000Z"
    assert reviewed_in_time not in [e.review_index for e in exigent.reviewed_late.entries]


async def test_csv_and_an_auditors_scope(client: Any, make_token: Tokens) -> None:
    det = make_token(sub="det.9", ori=OAKLAND)
    request = await refused_index(client, det, PARTIAL)
    exigent = index_of((await search(client, det, **AMBER))[1])
    auditor = make_token(sub="aud", ori=OAKLAND, roles=("auditor",))
    mine = await report(client, auditor)
    assert [r.index for r in mine.approvals.pending.entries] == [request]
    assert [e.index for e in mine.exigent.unreviewed.entries] == [exigent]
    elsewhere = await report(client, make_token(sub="aud", ori=BERKELEY, roles=("auditor",)))
    assert elsewhere.approvals.pending.total == 0 == elsewhere.exigent.unreviewed.total

    resp = await flags(client, auditor, Accept="text/csv")
    assert resp.content_type == "text/csv"
    assert "X-Audit-Index" in resp.headers
    text = (await resp.read()).decode("utf-8")
    assert text.startswith("\ufeff")
    sections = {
        rows[0][0].split(" (")[0]: rows[1:]
        for rows in (
            list(csv.reader(io.StringIO(part, newline="")))
            for part in text.lstrip("\ufeff").split("\r\n\r\n")
        )
    }
    pending = sections["flags: approvals pending"]
    assert pending[0][:4] == ["index", "time", "agency", "subject"]
    assert [row[0] for row in pending[1:]] == [str(request)]
    unreviewed = sections["flags: exigent searches unreviewed"]
    assert [row[0] for row in unreviewed[1:]] == [str(exigent)]
    assert unreviewed[1][7] == "false"  # not yet overdue
