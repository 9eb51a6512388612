"""Derived facts: what they hold, and that migration 003 derived the same from entries written
before it existed (tests/oversight/test_facts.py: that the catch-up stores them)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime

import asyncpg
import orjson
import pytest

from proxy.audit.entry import audit_access_entry
from proxy.migrate import migration_files
from proxy.model import Principal
from proxy.oversight.derived import Derived, derive, derive_body, justification_key
from proxy.oversight.period import Period, bounds, months
from tests.oversight.oversight_fixture import LOG, A, B, at, review, search
from tests.pg import Databases, with_db

_COLUMNS = (
    "at, subject, purpose, on_behalf_of, plate, reads_returned, owners, owner_reads, concerns,"
    " justification_key, reviewed_index, disposition"
)


def test_search_entry_columns():
    r = search(
        at(3, 12), B, "carol", "HOMICIDE", "Witness  saw Car 12", disclosed={A: 3}, obo="CA0000003"
    )
    assert derive_body(r.body) == Derived(
        event="search",
        request_id=f"{B}-carol-{at(3, 12).isoformat()}",
        agency=B,
        decision="allowed",
        reason=None,
        at=at(3, 12),
        subject="carol",
        purpose="HOMICIDE",
        on_behalf_of="CA0000003",
        plate="7ABC123",
        reads_returned=3,
        owners=(A,),
        owner_reads=(3,),
        concerns=(A, B, "CA0000003"),
        justification_key=justification_key("witness saw car 99"),
    )


@pytest.mark.parametrize(
    ("query", "plate"),
    [
        ({"type": "plate", "plate": "7abc-123"}, "7ABC123"),
        ({"type": "partial_plate", "pattern": "7a**c 1?3"}, "7A*C1?3"),
        ({"type": "plate", "plate": "7ABC!23"}, None),  # refused as asked; not a plate
        ({"type": "area", "area": {"lat": 1, "lon": 2, "radius_m": 3}}, None),
        ("not an object", None),
    ],
)
def test_plate_is_the_normalised_plate_or_pattern(query, plate):  # type: ignore[no-untyped-def]
    assert derive({"event": "search", "query": query}).plate == plate


def test_justification_key_ignores_case_digits_and_spacing():
    key = justification_key("Case 26-0042, witness saw car")
    assert key == justification_key("  CASE 7-1,\twitness   SAW car ")
    assert key == justification_key("Case 26\u200b-0042, witness saw car")  # zero-width space
    assert key != justification_key("Case 26-0042, witness saw a car")
    assert justification_key(" \u200b ") is None and len(key or b"") == 16


def test_other_events_and_odd_bodies():
    p = Principal("aud", A, frozenset({"auditor"}), 0)
    access = audit_access_entry(
        at=at(5),
        request_id="r",
        principal=p,
        client=None,
        endpoint="GET /x",
        filters={},
        returned=0,
    )
    facts = derive_body(access.body)
    assert (facts.event, facts.agency, facts.decision, facts.concerns) == (
        "audit_access",
        A,
        "allowed",
        (A,),
    )
    assert facts.reads_returned is None  # entries returned are not reads
    rev = derive_body(review(7, "violation", at(5)).body)
    assert (rev.event, rev.agency, rev.decision) == ("review", "CA9999999", None)
    assert (rev.reviewed_index, rev.disposition) == (7, "violation")
    assert derive_body(b"not json") == Derived() == derive_body(b"[1, 2]")
    assert derive({"time": "2026-03-01T00:00:00"}).at is None  # naive: not ours to guess
    # A disclosed count that is not a positive integer names nobody.
    odd = derive({"agency": A, "outcome": {"disclosed_by_owner": {B: 0, "X": "1", "": 2}}})
    assert odd.concerns == (A,) and odd.owners == ()


async def test_migration_backfills_entries_written_before_it(dbs: Databases):
    name = f"{dbs.prefix}_backfill_{uuid.uuid4().hex[:6]}"
    server = await asyncpg.connect(dbs.admin_dsn)
    await server.execute(f'CREATE DATABASE "{name}"')
    await server.close()
    conn = await asyncpg.connect(with_db(dbs.admin_dsn, name))
    try:
        first, second, third = migration_files("audit")[:3]
        assert third.name == "003_oversight.sql"
        await conn.execute(first.read_text())
        await conn.execute(second.read_text())
        for i, r in enumerate(LOG):  # as the proxy wrote them before 003
            d = derive_body(r.body)
            await conn.execute(
                "INSERT INTO audit.entries (idx, body, event, request_id, agency, decision, reason)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                *(i, r.body, d.event, d.request_id, d.agency, d.decision, d.reason),
            )
        await conn.execute(
            "INSERT INTO audit.entries (idx, body, event) VALUES ($1, 'not json', 'x')", len(LOG)
        )
        await conn.execute(third.read_text())
        rows = await conn.fetch(f"SELECT idx, {_COLUMNS} FROM audit.entries ORDER BY idx")
        usage = await conn.fetchval("SELECT sum(searches) FROM audit.daily_usage WHERE scope='*'")
        unchanged = await conn.fetchval(
            "SELECT count(*) FROM audit.entries e WHERE body = $1 AND idx = 0", LOG[0].body
        )
    finally:
        await conn.close()
        server = await asyncpg.connect(dbs.admin_dsn)
        await server.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await server.close()
    for row, r in zip(rows, LOG, strict=False):
        d = derive(orjson.loads(r.body))
        want = (
            d.at,
            d.subject,
            d.purpose,
            d.on_behalf_of,
            d.plate,
            d.reads_returned,
            list(d.owners),
            list(d.owner_reads),
            list(d.concerns),
            d.justification_key,
            d.reviewed_index,
            d.disposition,
        )
        assert tuple(row)[1:] == want, row["idx"]
    assert rows[-1]["at"] is None and rows[-1]["concerns"] is None  # left alone, no failure
    assert usage == sum(1 for r in LOG if derive_body(r.body).event == "search")  # once, too
    assert unchanged == 1


@pytest.mark.parametrize(
    ("start", "end", "days", "raw"),
    [
        # Whole days only: no raw ranges left.
        ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", ("03-01", "04-01"), 0),
        # Partial days at both ends.
        ("2026-03-01T08:00:00-08:00", "2026-03-03T05:00:00Z", ("03-02", "03-03"), 2),
        # Inside one day: everything raw.
        ("2026-03-01T01:00:00Z", "2026-03-01T05:00:00Z", ("03-02", "03-02"), 1),
        ("2026-03-01T01:00:00Z", "2026-03-02T00:00:00Z", ("03-02", "03-02"), 1),
    ],
)
def test_bounds_split_whole_days_from_raw_edges(start: str, end: str, days, raw: int):  # type: ignore[no-untyped-def]
    f, t = datetime.fromisoformat(start), datetime.fromisoformat(end)
    scope, d0, d1, a0, a1, b0, b1 = bounds(Period(f, t), "CA0000001")
    assert scope == "CA0000001"
    assert (d0, d1) == tuple(date.fromisoformat(f"2026-{d}") for d in days)
    assert sum(1 for lo, hi in ((a0, a1), (b0, b1)) if lo < hi) == raw
    # Together the pieces cover [from, to) exactly once.
    pieces = [(a0, a1), (b0, b1)]
    if d0 < d1:
        pieces.append((datetime.combine(d0, datetime.min.time(), UTC),
                       datetime.combine(d1, datetime.min.time(), UTC)))  # fmt: skip
    covered = sorted((lo, hi) for lo, hi in pieces if lo < hi)
    assert covered[0][0] == f.astimezone(UTC) and covered[-1][1] == t.astimezone(UTC)
    assert all(x[1] == y[0] for x, y in itertools.pairwise(covered))


@pytest.mark.parametrize(
    ("start", "end", "want"),
    [
        ("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z", ("01-01", "04-01")),
        ("2026-01-15T00:00:00Z", "2026-04-10T00:00:00Z", ("02-01", "04-01")),
        ("2026-01-31T23:00:00Z", "2026-03-01T00:00:00Z", ("02-01", "03-01")),
        ("2026-01-15T00:00:00Z", "2026-02-20T00:00:00Z", None),  # no whole month
        ("2026-02-01T00:00:00Z", "2026-02-01T00:00:00Z", None),
    ],
)
def test_months_are_whole_months_inside_the_whole_days(start: str, end: str, want):  # type: ignore[no-untyped-def]
    lo, hi = months(Period(datetime.fromisoformat(start), datetime.fromisoformat(end)))
    if want is None:
        assert lo == hi
    else:
        assert (lo, hi) == tuple(date.fromisoformat(f"2026-{d}") for d in want)
