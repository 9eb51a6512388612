"""Whose disposition stands in the flags report (issue 13, item 9).

Oversight's review stands for oversight: an agency's auditor reviewing later does not replace it,
and is shown beside it. For an auditor, their own agency's review stands, with oversight's beside
it; other agencies' auditors' reviews are theirs, not shown."""

from __future__ import annotations

from proxy.model import Principal
from tests.oversight.oversight_fixture import A, B, C, append, at, review
from tests.oversight.test_reports import WHOLE, log, run

__all__ = ["log"]  # the fixture

AUDITOR_A = Principal("aud-a", A, frozenset({"auditor"}), 0)
AUDITOR_B = Principal("aud-b", B, frozenset({"auditor"}), 0)
# Entries 2 (bob, A, refused), 3 (carol, B, on behalf of C, A's reads), 4 (carol, B, refused).


async def test_an_agency_auditor_cannot_override_oversight(log: str):
    indexes = await append(
        log,
        [
            review(4, "violation", at(5, 1)),  # oversight
            review(4, "no_issue", at(5, 2), AUDITOR_B),  # later, by the agency's auditor
            review(2, "no_issue", at(5, 3), AUDITOR_A),  # only the agency's auditor
            review(3, "needs_follow_up", at(5, 4), AUDITOR_B),
        ],
    )
    oversight_4, agency_4, agency_2, _ = indexes
    report = await run(log, "flags", WHOLE, None)
    by_index = {e.index: e for e in report.refused.entries}
    four = by_index[4]
    assert four.review is not None and not four.unreviewed
    assert (four.review.audit_index, four.review.disposition, four.review.by) == (
        oversight_4,
        "violation",
        "oversight",
    )
    assert [(r.audit_index, r.disposition, r.agency, r.by) for r in four.other_reviews] == [
        (agency_4, "no_issue", B, "auditor")
    ]
    # Reviewed by its agency only: still unreviewed for oversight, the agency's shown beside.
    two = by_index[2]
    assert two.unreviewed and two.review is None
    assert [(r.audit_index, r.disposition) for r in two.other_reviews] == [(agency_2, "no_issue")]
    assert (report.refused.total, report.refused.unreviewed) == (2, 1)
    pending = await run(log, "flags", WHOLE, None, unreviewed_only=True)
    assert [e.index for e in pending.refused.entries] == [2]
    assert pending.on_behalf_of.unreviewed == 1


async def test_an_auditor_sees_their_own_disposition_and_oversight_beside_it(log: str):
    oversight_4, agency_4, agency_3 = await append(
        log,
        [
            review(4, "violation", at(5, 1)),
            review(4, "no_issue", at(5, 2), AUDITOR_B),
            review(3, "needs_follow_up", at(5, 4), AUDITOR_B),
        ],
    )
    mine = await run(log, "flags", WHOLE, B)
    four = next(e for e in mine.refused.entries if e.index == 4)
    assert four.review is not None and not four.unreviewed
    assert (four.review.audit_index, four.review.disposition, four.review.by) == (
        agency_4,
        "no_issue",
        "auditor",
    )
    assert [(r.audit_index, r.by) for r in four.other_reviews] == [(oversight_4, "oversight")]
    # C's auditor: entry 3 concerns C, but B's review is B's; nothing stands for C yet.
    theirs = await run(log, "flags", WHOLE, C)
    three = theirs.on_behalf_of.entries[0]
    assert three.index == 3 and three.unreviewed and three.review is None
    assert three.other_reviews == []
    assert theirs.on_behalf_of.unreviewed == 1
    ours = await run(log, "flags", WHOLE, B)
    assert ours.on_behalf_of.entries[0].review is not None
    assert ours.on_behalf_of.entries[0].review.audit_index == agency_3
    assert ours.on_behalf_of.unreviewed == 0
