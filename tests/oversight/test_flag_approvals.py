"""What the proxy itself never writes, the flags report still shows: one approval named by two
searches that ran (single use broken behind the proxy, say by someone with write access to the
audit database), written here through the real append path; and the facts the two-person
lists are built on, derived from each entry's bytes."""

from __future__ import annotations

from typing import Any

import asyncpg

from proxy.audit.entry import approval_entry, review_entry, search_entry
from proxy.model import Principal
from proxy.oversight.derived import derive_body
from proxy.oversight.period import FlagOptions, Period, snapshot
from proxy.oversight.reports import REPORTS
from tests.oversight.oversight_fixture import A, append, at
from tests.pg import Databases

IDP = "https://idp.test.example"
DET = Principal("det.lee", A, frozenset({"investigator"}), 0, iss=IDP)
SGT = Principal("sgt.kim", A, frozenset({"supervisor"}), 0, iss=IDP)
QUERY = {"type": "partial_plate", "pattern": "7AB*23", "purpose": "KIDNAPPING"}


def searched(when: int, reason: str | None = None, **extra: Any) -> Any:
    return search_entry(
        at=at(2, when),
        request_id=f"s{when}",
        principal=DET,
        client=None,
        query=QUERY,
        decision="refused" if reason else "allowed",
        reason=reason,
        policy_version="sha256:test",
        outcome=None,
        **extra,
    )


def approved(request: int) -> Any:
    return approval_entry(
        at=at(2, 2),
        request_id="a",
        principal=SGT,
        client=None,
        request_index=request,
        verdict="approve",
        note="ok",
        requester={"issuer": IDP, "subject": DET.sub, "agency": A},
    )


def test_the_two_person_facts():
    assert derive_body(searched(1, approval=7).body).request_index == 7
    assert derive_body(searched(1, exigent=True).body).exigent is True
    assert derive_body(searched(1).body).exigent is None
    decision = derive_body(approved(3).body)
    assert (decision.event, decision.request_index, decision.verdict) == ("approval", 3, "approve")
    assert decision.decision == "allowed"
    by_supervisor = review_entry(
        at=at(2, 3), request_id="r", principal=SGT, client=None, reviewed_index=0,
        disposition="no_issue", note="",
    )  # fmt: skip
    assert derive_body(by_supervisor.body).review_by_supervisor is True


async def test_one_approval_used_by_two_searches_is_listed(dbs: Databases):
    _, dsn = await dbs.fresh_audit()
    request, _, first, second = await append(
        dsn,
        [
            searched(1, "approval_required"),
            approved(0),
            searched(3, approval=0),
            searched(4, approval=0),  # the second use
        ],
    )
    conn = await asyncpg.connect(dsn)
    try:
        async with snapshot(conn):
            report = await REPORTS["flags"].run(conn, Period(at(1), at(5)), None, FlagOptions())
    finally:
        await conn.close()
    assert [(r.request, r.searches) for r in report.approvals.reused] == [
        (request, [first, second])
    ]
    assert report.approvals.unused.total == 0 and report.approvals.pending.total == 0
