"""Reports against a real audit database: hand-computed figures on a small log, and the rollup
plus raw-edge arithmetic against brute force over random logs and random ranges."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest

from proxy.audit.canonical import Record
from proxy.oversight.derived import derive
from proxy.oversight.entries import fetch_page, parse_query
from proxy.oversight.period import FlagOptions, Period, snapshot
from proxy.oversight.reports import REPORTS
from tests.oversight.oversight_fixture import (
    FLAGGED,
    LOG,
    ON_BEHALF,
    REFUSED,
    A,
    B,
    C,
    append,
    at,
    review,
    search,
)
from tests.pg import Databases

WHOLE = Period(at(2), at(5))


@pytest.fixture
async def log(dbs: Databases) -> str:
    """The hand-made log in a fresh audit database; the proxy role's DSN (it reads reports)."""
    _, dsn = await dbs.fresh_audit()
    assert await append(dsn, LOG) == list(range(len(LOG)))
    return dsn


async def run(dsn: str, name: str, period: Period, scope: str | None, **opts: object):  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(dsn)
    try:
        async with snapshot(conn):
            if name == "usage":
                return await REPORTS["usage"].run(conn, period, scope, FlagOptions())
            if name == "disclosures":
                return await REPORTS["disclosures"].run(conn, period, scope, FlagOptions())
            return await REPORTS["flags"].run(conn, period, scope, FlagOptions(**opts))  # type: ignore[arg-type]
    finally:
        await conn.close()


def usage_table(report) -> dict[tuple[str, str | None, str], tuple[int, int]]:  # type: ignore[no-untyped-def]
    return {(r.agency, r.purpose, r.decision): (r.searches, r.reads) for r in report.rows}


async def test_usage_by_agency_purpose_decision(log: str):
    report = await run(log, "usage", WHOLE, None)
    assert usage_table(report) == {
        (A, "HOMICIDE", "allowed"): (6, 3),
        (A, "ROBBERY", "refused"): (1, 0),
        (B, "HOMICIDE", "allowed"): (1, 3),
        (B, "ROBBERY", "refused"): (1, 0),
        (C, "AMBER_ALERT", "allowed"): (1, 0),
    }
    assert (report.searches, report.reads, report.scope) == (10, 6, "all")


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        # Partial days at both ends: day 3 from the rollup, the rest from the entries.
        (
            Period(at(2, 12), at(4, 9)),
            {
                (A, "HOMICIDE", "allowed"): (1, 0),
                (A, "ROBBERY", "refused"): (1, 0),
                (B, "HOMICIDE", "allowed"): (1, 3),
                (B, "ROBBERY", "refused"): (1, 0),
            },
        ),
        # Within one day; `to` is exclusive (entry 8 at 10:00 is out).
        (
            Period(at(4, 8), at(4, 10)),
            {(B, "ROBBERY", "refused"): (1, 0), (C, "AMBER_ALERT", "allowed"): (1, 0)},
        ),
        # The same instants written in another zone.
        (
            Period(
                datetime.fromisoformat("2026-03-04T09:00:00+01:00"),
                datetime.fromisoformat("2026-03-04T02:00:00-08:00"),
            ),
            {(B, "ROBBERY", "refused"): (1, 0), (C, "AMBER_ALERT", "allowed"): (1, 0)},
        ),
        (Period(at(6), at(9)), {}),
    ],
)
async def test_usage_over_partial_days(log: str, period: Period, expected):  # type: ignore[no-untyped-def]
    assert usage_table(await run(log, "usage", period, None)) == expected


async def test_auditor_scope_sees_only_entries_concerning_the_agency(log: str):
    # B: owner in entry 0, requester in 3 and 4. C: on-behalf-of in 3, requester in 7.
    assert usage_table(await run(log, "usage", WHOLE, B)) == {
        (A, "HOMICIDE", "allowed"): (1, 3),
        (B, "HOMICIDE", "allowed"): (1, 3),
        (B, "ROBBERY", "refused"): (1, 0),
    }
    assert usage_table(await run(log, "usage", WHOLE, C)) == {
        (B, "HOMICIDE", "allowed"): (1, 3),
        (C, "AMBER_ALERT", "allowed"): (1, 0),
    }
    assert usage_table(await run(log, "usage", WHOLE, "CA0000404")) == {}


async def test_disclosures_owner_to_each_recipient(log: str):
    report = await run(log, "disclosures", WHOLE, None)
    # Entry 3 disclosed 3 of A's reads to B, on behalf of C: both are recipients.
    assert report.disclosed == {A: {A: 2, B: 3, C: 3}, B: {A: 1}}
    scoped = await run(log, "disclosures", WHOLE, C)
    assert scoped.disclosed == {A: {B: 3, C: 3}}
    assert scoped.scope == C


async def test_flags_lists_and_patterns(log: str):
    report = await run(log, "flags", WHOLE, None, volume_min=5, boilerplate_min=3)
    assert [e.index for e in report.refused.entries] == REFUSED
    assert [e.index for e in report.justification_flagged.entries] == FLAGGED
    assert [e.index for e in report.on_behalf_of.entries] == ON_BEHALF
    assert (report.refused.total, report.refused.unreviewed, report.refused.truncated) == (
        2,
        2,
        False,
    )
    flagged = report.justification_flagged.entries[0]
    assert (flagged.agency, flagged.subject, flagged.reason) == (
        B,
        "carol",
        "justification_flagged",
    )
    assert flagged.unreviewed and flagged.review is None
    assert report.on_behalf_of.entries[0].on_behalf_of == C
    # alice: 5 searches; A's users searched 5, 1 and 1 times: median 1.
    assert [(u.agency, u.subject, u.searches, u.agency_median, u.agency_users)
            for u in report.unusual_volume.users] == [(A, "alice", 5, 1.0, 3)]  # fmt: skip
    # Two texts reach 3 searches: the shootings (two users), alice's numbered follow-ups (one
    # user is enough: digits do not make a text new).
    shooting, follow_up = report.boilerplate.texts
    assert shooting.text == "shooting on #th st, witness saw car #"
    assert (shooting.searches, shooting.users, shooting.agencies) == (3, 2, [A, B])
    assert (shooting.first_index, shooting.last_index) == (0, 3)
    assert follow_up.text == "follow-up number # on the case file"
    assert (follow_up.searches, follow_up.users, follow_up.first_index) == (3, 1, 8)


async def test_flag_thresholds_are_thresholds(log: str):
    strict = await run(log, "flags", WHOLE, None, volume_min=6, boilerplate_min=4)
    assert strict.unusual_volume.users == [] and strict.boilerplate.texts == []
    # A factor alice's 5 searches do not exceed (5 > 5 x 1 is false).
    high = await run(log, "flags", WHOLE, None, volume_min=1, volume_factor=5.0)
    assert high.unusual_volume.users == []
    limited = await run(log, "flags", WHOLE, None, limit=1)
    assert [e.index for e in limited.refused.entries] == [2]
    assert limited.refused.truncated and limited.refused.total == 2


async def test_flags_are_scoped(log: str):
    report = await run(log, "flags", WHOLE, C, volume_min=1, boilerplate_min=2)
    assert report.refused.total == 0 and report.refused.entries == []
    assert [e.index for e in report.on_behalf_of.entries] == [3]
    assert report.boilerplate.texts == []  # only one of the three shootings concerns C
    assert report.unusual_volume.users == []


async def test_reviews_flip_unreviewed_and_the_latest_counts(log: str):
    first, latest = await append(
        log, [review(2, "needs_follow_up", at(5, 1)), review(2, "violation", at(5, 2))]
    )
    report = await run(log, "flags", WHOLE, None)
    by_index = {e.index: e for e in report.refused.entries}
    assert not by_index[2].unreviewed
    assert by_index[2].review is not None
    assert (by_index[2].review.audit_index, by_index[2].review.disposition) == (latest, "violation")
    assert by_index[4].unreviewed and report.refused.unreviewed == 1
    assert first < latest
    pending = await run(log, "flags", WHOLE, None, unreviewed_only=True)
    assert [e.index for e in pending.refused.entries] == [4]
    assert pending.refused.total == 2 and not pending.refused.truncated


async def test_reports_and_listings_see_entries_appended_just_before_they_are_asked(
    dbs: Databases,
):
    """Facts and rollups are made behind the log; a report or listing catches them up first,
    so nothing committed before it was asked for is missing."""
    _, dsn = await dbs.fresh_audit()
    await append(dsn, LOG[:3])
    assert (await run(dsn, "usage", WHOLE, None)).searches == 3  # facts and rollups for 0..2
    await append(dsn, LOG[3:])  # no checkpoint, no catch-up since
    assert usage_table(await run(dsn, "usage", WHOLE, None)) == {
        (A, "HOMICIDE", "allowed"): (6, 3),
        (A, "ROBBERY", "refused"): (1, 0),
        (B, "HOMICIDE", "allowed"): (1, 3),
        (B, "ROBBERY", "refused"): (1, 0),
        (C, "AMBER_ALERT", "allowed"): (1, 0),
    }
    await append(dsn, [review(3, "violation", at(5))])
    report = await run(dsn, "flags", WHOLE, None)
    assert [(e.index, e.unreviewed) for e in report.on_behalf_of.entries] == [(3, False)]
    await append(dsn, [search(at(4, 20), C, "zoe", "ROBBERY", "Late search", obo=A)])
    conn = await asyncpg.connect(dsn)
    try:
        async with snapshot(conn):
            rows, _ = await fetch_page(conn, parse_query({"on_behalf_of": A}), None)
    finally:
        await conn.close()
    assert [i for i, _ in rows] == [len(LOG) + 1]


# --- rollups + raw edges == brute force ------------------------------------------------------

AGENCIES = ["CA0000011", "CA0000012", "CA0000013", "CA0000014"]


def random_log(
    rnd: random.Random, n: int, start: datetime = datetime(2026, 5, 1, tzinfo=UTC), days: int = 5
) -> list[Record]:
    out = []
    for _ in range(n):
        when = start + timedelta(seconds=rnd.randrange(days * 86400))
        ori = rnd.choice(AGENCIES)
        refused = rnd.random() < 0.2
        owners = {o: rnd.randint(1, 4) for o in rnd.sample(AGENCIES, rnd.randint(0, 2))}
        obo = rnd.choice([o for o in AGENCIES if o != ori]) if rnd.random() < 0.2 else None
        out.append(
            search(
                when,
                ori,
                f"u{rnd.randrange(6)}",
                rnd.choice(["HOMICIDE", "ROBBERY"]),
                f"text {rnd.randrange(4)} about the case",
                refused="unknown_purpose" if refused else None,
                disclosed=None if refused else owners,
                obo=obo,
            )
        )
    return out


def brute(records: list[Record], period: Period, scope: str | None):  # type: ignore[no-untyped-def]
    usage: Counter[tuple[str, str | None, str]] = Counter()
    reads: Counter[tuple[str, str | None, str]] = Counter()
    disclosed: Counter[tuple[str, str]] = Counter()
    users: Counter[tuple[str, str]] = Counter()
    for r in records:
        d = derive(orjson.loads(r.body))
        assert d.at is not None
        if not period.from_ <= d.at < period.to or (scope and scope not in d.concerns):
            continue
        key = (d.agency or "", d.purpose, d.decision or "")
        usage[key] += 1
        reads[key] += d.reads_returned or 0
        users[(d.agency or "", d.subject or "")] += 1
        for owner, n in zip(d.owners, d.owner_reads, strict=True):
            disclosed[(owner, d.agency or "")] += n
            if d.on_behalf_of:
                disclosed[(owner, d.on_behalf_of)] += n
    medians = {
        a: statistics.median(n for (ag, _), n in users.items() if ag == a)
        for a in {a for a, _ in users}
    }
    flagged = {(a, s, n) for (a, s), n in users.items() if n > medians[a]}
    return {k: (v, reads[k]) for k, v in usage.items()}, dict(disclosed), flagged


@pytest.mark.parametrize(
    ("start", "days"),
    [
        (datetime(2026, 5, 1, tzinfo=UTC), 5),  # partial days and whole days
        (datetime(2026, 1, 20, tzinfo=UTC), 100),  # whole months too (the monthly rollup)
    ],
)
async def test_reports_equal_brute_force_over_random_ranges(
    dbs: Databases, start: datetime, days: int
):
    rnd = random.Random(2026)
    _, dsn = await dbs.fresh_audit()
    records = random_log(rnd, 400, start, days)
    await append(dsn, records)  # one entry per batch: the rollups are upserted 400 times
    ranges = [Period(start, start + timedelta(days=days)), Period(start, start)]
    for _ in range(12):
        a, b = sorted(rnd.randrange(-86400, (days + 1) * 86400) for _ in range(2))
        ranges.append(Period(start + timedelta(seconds=a), start + timedelta(seconds=b)))
    ranges.append(Period(start + timedelta(days=1), start + timedelta(days=days - 2, hours=5)))
    ranges.append(Period(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)))
    ranges.append(Period(datetime(2026, 1, 31, 5, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC)))
    for period in ranges:
        for scope in (None, *AGENCIES):
            usage, disclosed, flagged = brute(records, period, scope)
            got = await run(dsn, "usage", period, scope)
            assert usage_table(got) == usage, (period, scope)
            got_d = await run(dsn, "disclosures", period, scope)
            flat = {(o, r): n for o, to in got_d.disclosed.items() for r, n in to.items()}
            assert flat == disclosed, (period, scope)
            got_f = await run(dsn, "flags", period, scope, volume_factor=1.0, volume_min=1)
            got_users = {(u.agency, u.subject, u.searches) for u in got_f.unusual_volume.users}
            assert got_users == flagged, (period, scope)
