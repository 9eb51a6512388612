"""The flags report names users who keep hitting sensitive-location refusals (issue 13, item 2):
mapping a refusal region takes many probes, a legitimate canvass hits one now and then."""

from __future__ import annotations

from datetime import timedelta

from proxy.oversight.period import Period
from tests.oversight.oversight_fixture import A, B, append, at, search
from tests.oversight.test_reports import run
from tests.pg import Databases

WHY = "Canvass for the burglary near the park"


def probe(when, ori: str, sub: str):  # type: ignore[no-untyped-def]
    return search(when, ori, sub, "BURGLARY", WHY, refused="sensitive_location")


LOG = [
    # mallory (A): three within two hours, then one more two days later.
    *[probe(at(2, 10) + timedelta(minutes=40 * i), A, "mallory") for i in range(3)],
    probe(at(4, 10), A, "mallory"),
    # bob (A): three, each more than 24 hours after the last.
    *[probe(at(2, 9) + timedelta(hours=25 * i), A, "bob") for i in range(3)],
    # carol (B): two within the hour, and one refusal for another reason.
    probe(at(3, 8), B, "carol"),
    probe(at(3, 8, 30), B, "carol"),
    search(at(3, 8, 45), B, "carol", "BURGLARY", WHY, refused="area_too_large"),
]


async def test_repeated_sensitive_location_refusals_are_flagged(dbs: Databases):
    _, dsn = await dbs.fresh_audit()
    await append(dsn, LOG)
    whole = Period(at(1), at(6))
    report = await run(dsn, "flags", whole, None)
    probes = report.sensitive_location_probes
    assert (probes.min_refusals, probes.window_hours) == (3, 24)
    assert [
        (u.agency, u.subject, u.refusals, u.most_in_window, u.first_index, u.last_index)
        for u in probes.users
    ] == [(A, "mallory", 4, 3, 0, 3)]
    # Scoped: B's auditor does not see A's users; a range that cuts the burst flags nobody.
    assert (await run(dsn, "flags", whole, B)).sensitive_location_probes.users == []
    later = Period(at(2, 11), at(6))
    assert (await run(dsn, "flags", later, None)).sensitive_location_probes.users == []
    # The threshold is an option (2 in 24 hours flags carol, and bob never has two).
    two = await run(dsn, "flags", whole, None, probe_min=2)
    assert [u.subject for u in two.sensitive_location_probes.users] == ["mallory", "carol"]
