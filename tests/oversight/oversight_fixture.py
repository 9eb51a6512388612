"""A small, hand-made audit log for the report tests, written through the real append path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from proxy.audit import postgres
from proxy.audit.canonical import Record
from proxy.audit.entry import auth_failure_entry, policy_loaded_entry, review_entry, search_entry
from proxy.model import Principal

A, B, C = "CA0000001", "CA0000002", "CA0000003"
OVERSEER = Principal("ig", "CA9999999", frozenset({"oversight"}), 0)


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def search(
    when: datetime,
    ori: str,
    sub: str,
    purpose: str,
    justification: str,
    *,
    refused: str | None = None,
    disclosed: dict[str, int] | None = None,
    obo: str | None = None,
    plate: str = "7ABC123",
) -> Record:
    query: dict[str, Any] = {
        "type": "plate",
        "plate": plate,
        "purpose": purpose,
        "case_number": "26-1",
        "justification": justification,
    }
    if obo is not None:
        query["on_behalf_of"] = {"ori": obo, "person": "Det. X"}
    outcome = None
    if refused is None:
        owners = disclosed or {}
        outcome = {
            "matched": sum(owners.values()),
            "returned": sum(owners.values()),
            "truncated": False,
            "withheld": {"retention": 0, "sensitive_location": 0, "sharing": 0},
            "disclosed_by_owner": owners,
        }
    return search_entry(
        at=when,
        request_id=f"{ori}-{sub}-{when.isoformat()}",
        principal=Principal(sub, ori, frozenset({"investigator"}), 0),
        client="10.0.0.1",
        query=query,
        decision="refused" if refused else "allowed",
        reason=refused,
        policy_version="sha256:test",
        outcome=outcome,
    )


SHOOTING = "Shooting on 5th St, witness saw car {}"

# index: what it is (the expectations in test_reports.py are computed by hand from this).
LOG: list[Record] = [
    # 0, 1: alice (A) twice on day 2, sharing boilerplate; reads of A and B.
    search(at(2, 10), A, "alice", "HOMICIDE", SHOOTING.format(123), disclosed={A: 2, B: 1}),
    search(at(2, 23, 30), A, "alice", "HOMICIDE", "shooting on 5th st,  witness saw CAR 4"),
    # 2: bob (A) refused at midnight of day 3.
    search(
        at(3),
        A,
        "bob",
        "ROBBERY",
        "Robbery at the corner store last night",
        refused="lookback_exceeded",
    ),
    # 3: carol (B) on behalf of C, reads of A, the same boilerplate in capitals.
    search(
        at(3, 12), B, "carol", "HOMICIDE", SHOOTING.upper().format(789), disclosed={A: 3}, obo=C
    ),
    # 4: carol (B) refused for a prohibited term.
    search(
        at(4, 8),
        B,
        "carol",
        "ROBBERY",
        "=HYPERLINK(deport someone now please)",
        refused="justification_flagged",
    ),
    auth_failure_entry(
        at=at(3, 1), request_id="r", client="10.0.0.2", method="GET", path="/x", reason="bad"
    ),
    policy_loaded_entry(
        at=at(3, 2), trigger="startup", version="v", previous_version=None, diff={}, policy_text=""
    ),
    # 7: dave (C), nothing disclosed.
    search(at(4, 9), C, "dave", "AMBER_ALERT", "Child abducted from the park at noon today"),
    # 8-10: alice again on day 4 (5 in all; bob and erin 1 each: the agency median is 1).
    *[
        search(at(4, 10 + i), A, "alice", "HOMICIDE", f"Follow-up number {i} on the case file")
        for i in range(3)
    ],
    # 11: erin (A), just inside the last day.
    search(at(4, 23, 59), A, "erin", "HOMICIDE", "Canvass of the area near the bridge"),
]
REFUSED = [2, 4]
FLAGGED = [4]
ON_BEHALF = [3]


async def append(dsn: str, records: Sequence[Record]) -> list[int]:
    """Append one batch per record (as the writer would under light load); their indexes."""
    conn = await asyncpg.connect(dsn)
    try:
        out = []
        for r in records:
            async with conn.transaction():
                out.append(await postgres.append(conn, [r]))
        return out
    finally:
        await conn.close()


def review(index: int, disposition: str, when: datetime, who: Principal = OVERSEER) -> Record:
    return review_entry(
        at=when,
        request_id=f"review-{index}-{disposition}",
        principal=who,
        client=None,
        reviewed_index=index,
        disposition=disposition,
        note="checked",
    )
