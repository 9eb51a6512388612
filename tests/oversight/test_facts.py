"""Facts behind the log (proxy/oversight/facts.py) against a real audit database: every
event's facts are exactly what proxy.oversight.derived says of its bytes, in any chunking, with
several processes catching up at once, and nothing a body holds can stop the catch-up."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import orjson
import pytest

from proxy.audit import postgres
from proxy.audit.canonical import Record
from proxy.audit.entry import audit_access_entry, policy_loaded_entry, search_entry
from proxy.model import Principal
from proxy.oversight import facts
from proxy.oversight.derived import Derived, derive_body
from tests.oversight.oversight_fixture import LOG, A, B, at, review, search
from tests.pg import Databases

QUERY = (
    "SELECT idx, event, request_id, agency, decision, reason, at, subject, purpose, on_behalf_of,"
    " plate, reads_returned, owners, owner_reads, concerns, justification_key, reviewed_index,"
    " disposition FROM audit.entry_facts ORDER BY idx"
)


def expected(index: int, d: Derived) -> tuple[Any, ...]:
    """What audit.entry_facts holds for facts ``d``: the same values, arrays as lists."""
    return (
        index, d.event, d.request_id, d.agency, d.decision, d.reason, d.at, d.subject,
        d.purpose, d.on_behalf_of, d.plate, d.reads_returned, list(d.owners),
        list(d.owner_reads), list(d.concerns), d.justification_key, d.reviewed_index,
        d.disposition,
    )  # fmt: skip


def access(refused: str | None) -> Record:
    return audit_access_entry(
        at=at(5, 1),
        request_id=f"access-{refused}",
        principal=Principal("aud", B, frozenset({"auditor"}), 0),
        client="10.0.0.9",
        endpoint="GET /v1/audit/entries",
        filters={"agency": A},
        returned=0 if refused else 3,
        refused=refused,
    )


# Every event the proxy writes, in each of its shapes, and bodies it never writes.
EVERY_KIND: list[Record] = [
    *LOG,  # searches (allowed, refused, on behalf, flagged), auth_failure, policy_loaded
    search(at(5, 2), A, "alice", "HOMICIDE", "case 1", plate="7ab*23"),  # a partial plate
    access(None),
    access("forbidden_role"),
    review(3, "needs_follow_up", at(5, 3)),
    review(3, "no_issue", at(5, 4), Principal("aud", B, frozenset({"auditor"}), 0)),
    policy_loaded_entry(
        at=at(5, 5), trigger="sighup", version="v2", previous_version="v", diff={}, policy_text="x"
    ),
    Record(b"not json"),
    Record(b"[1, 2]"),
    Record(orjson.dumps({"event": "test", "i": 1})),
]


async def append_all(dsn: str, records: list[Record], batch: int = 5) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for lo in range(0, len(records), batch):
            async with conn.transaction():
                await postgres.append(conn, records[lo : lo + batch])
    finally:
        await conn.close()


async def stored_facts(dsn: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [tuple(r) for r in await conn.fetch(QUERY)]
    finally:
        await conn.close()


@pytest.mark.parametrize("chunk", [1, 4, 10_000])
async def test_facts_of_every_event_kind_are_derive_body_of_the_bytes(dbs: Databases, chunk: int):
    _, dsn = await dbs.fresh_audit()
    await append_all(dsn, EVERY_KIND)
    conn = await asyncpg.connect(dsn)  # the proxy's role
    try:
        assert await conn.fetchval("SELECT count(*) FROM audit.entry_facts") == 0  # not on append
        assert await facts.catch_up(conn, chunk=chunk) == len(EVERY_KIND)
        bodies = [
            bytes(b) for (b,) in await conn.fetch("SELECT body FROM audit.entries ORDER BY idx")
        ]
    finally:
        await conn.close()
    assert bodies == [r.body for r in EVERY_KIND]
    want = [expected(i, derive_body(b)) for i, b in enumerate(bodies)]
    assert await stored_facts(dsn) == want
    events = {row[1] for row in want}
    kinds = {"search", "auth_failure", "policy_loaded", "audit_access", "review", "test", None}
    assert events == kinds  # None: the bodies that are not objects
    assert want[-3][1:] == expected(0, Derived())[1:]  # not JSON: no facts, still a row


async def test_catch_up_stops_where_it_was_asked_and_resumes_after_the_last_fact(dbs: Databases):
    _, dsn = await dbs.fresh_audit()
    await append_all(dsn, EVERY_KIND)
    conn = await asyncpg.connect(dsn)
    try:
        assert await facts.derive_up_to(conn, 9, chunk=4) == 9  # chunks of 4, 4 and 1
        assert await conn.fetchval("SELECT max(idx) FROM audit.entry_facts") == 8
        assert await facts.derive_up_to(conn, 9, chunk=4) == 9  # nothing twice
        assert await facts.catch_up_facts(conn, chunk=3) == len(EVERY_KIND)
        assert await conn.fetchval("SELECT next_idx FROM audit.rollup_progress") == 0
        assert await facts.catch_up(conn) == len(EVERY_KIND)  # now the rollups
        assert await conn.fetchval("SELECT next_idx FROM audit.rollup_progress") == len(EVERY_KIND)
    finally:
        await conn.close()
    assert [r[0] for r in await stored_facts(dsn)] == list(range(len(EVERY_KIND)))


async def test_caught_up_is_read_only(dbs: Databases):
    """With nothing to do, catch_up takes no lock and writes nothing: it runs even in a
    read-only transaction (which any write, the rollups' included, would fail)."""
    _, dsn = await dbs.fresh_audit()
    await append_all(dsn, LOG)
    conn = await asyncpg.connect(dsn)
    try:
        assert await facts.catch_up(conn) == len(LOG)
        async with conn.transaction(readonly=True):
            assert await facts.catch_up(conn) == len(LOG)
            assert await facts.catch_up_facts(conn) == len(LOG)
        await append_all(dsn, LOG[:1])
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            async with conn.transaction(readonly=True):
                await facts.catch_up(conn)
    finally:
        await conn.close()


async def test_concurrent_catch_ups_during_appends_leave_no_gap_and_no_duplicate(
    dbs: Databases,
):
    """Two processes catching up at once (here: four connections) while the log grows: the
    lock serialises them, each chunk starts after the last fact committed."""
    _, dsn = await dbs.fresh_audit()
    records = [
        search(at(2, h % 24, h // 24), A, f"u{h % 5}", "HOMICIDE", f"t {h}") for h in range(240)
    ]
    async with asyncpg.create_pool(dsn, min_size=4, max_size=4) as pool:

        async def appender() -> None:
            for lo in range(0, len(records), 6):
                async with pool.acquire() as conn, conn.transaction():
                    await postgres.append(conn, records[lo : lo + 6])
                await asyncio.sleep(0)

        async def catcher(chunk: int) -> None:
            for _ in range(25):
                async with pool.acquire() as conn:
                    await facts.catch_up(conn, chunk=chunk)
                await asyncio.sleep(0)

        await asyncio.gather(appender(), catcher(5), catcher(7), catcher(11))
        async with pool.acquire() as conn:
            assert await facts.catch_up(conn, chunk=13) == len(records)
    rows = await stored_facts(dsn)
    assert [r[0] for r in rows] == list(range(len(records)))  # the primary key forbids twins
    assert rows == [expected(i, derive_body(r.body)) for i, r in enumerate(records)]


async def test_nothing_in_a_body_stops_the_catch_up(dbs: Databases):
    """PostgreSQL cannot hold NUL in text nor a count beyond its column: such facts are stored
    as U+FFFD, NULL or left out (the body keeps them exactly), and the entries after them get
    facts and rollups."""
    _, dsn = await dbs.fresh_audit()
    nul = Principal("det.\x00nul", "CA\x000001", frozenset({"investigator"}), 0)
    odd = search_entry(
        at=at(3),
        request_id="r\x00",
        principal=nul,
        client=None,
        query={"type": "plate", "plate": "7ABC123", "purpose": "P\x00", "justification": "j"},
        decision="allowed",
        reason=None,
        policy_version="v",
        outcome={"returned": 2**40, "disclosed_by_owner": {"X\x00": 3, "Y": 2**63 + 1}},
    )
    await append_all(dsn, [odd, LOG[0]])
    conn = await asyncpg.connect(dsn)
    try:
        assert await facts.catch_up(conn) == 2
    finally:
        await conn.close()
    first, second = await stored_facts(dsn)
    assert first[2:4] == ("r\ufffd", "CA\ufffd0001")  # request_id, agency
    assert first[7:9] == ("det.\ufffdnul", "P\ufffd")  # subject, purpose
    assert first[11] is None  # reads_returned beyond integer
    assert (first[12], first[13]) == (["X\ufffd"], [3])  # Y's count fits no integer column
    assert first[14] == ["CA\ufffd0001", "X\ufffd", "Y"]
    assert second == expected(1, derive_body(LOG[0].body))


async def test_latest_of_event_sees_an_entry_appended_just_before(dbs: Databases):
    _, dsn = await dbs.fresh_audit()
    conn = await asyncpg.connect(dsn)
    try:
        assert await facts.latest_of_event(conn, "policy_loaded") is None
        loaded = [r for r in EVERY_KIND if derive_body(r.body).event == "policy_loaded"]
        await append_all(dsn, [*loaded, LOG[0]])
        assert await facts.latest_of_event(conn, "policy_loaded") == loaded[-1].body
        assert await facts.latest_of_event(conn, "review") is None
    finally:
        await conn.close()


async def test_facts_describe_real_entries_only(dbs: Databases):
    _, dsn = await dbs.fresh_audit()
    await append_all(dsn, LOG[:2])
    conn = await asyncpg.connect(dsn)
    try:
        # A stray fact beyond the log would stop the catch-up, which resumes after the last.
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute("INSERT INTO audit.entry_facts (idx, event) VALUES (99, 'search')")
    finally:
        await conn.close()
