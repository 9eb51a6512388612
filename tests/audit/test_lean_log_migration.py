"""sql/audit/006_lean_log.sql on a populated database written by the previous proxy: the facts are
the old query columns, every stored hash moves byte for byte, the log still verifies, and
reports are what the same entries give on a fresh database."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import proxy.migrate
from proxy.audit import postgres, tree
from proxy.audit.canonical import Record
from proxy.audit.checkpoint import load_signer
from proxy.audit.entry import audit_access_entry, search_entry
from proxy.audit.note import sign_checkpoint
from proxy.migrate import migrate, migration_files
from proxy.model import Principal
from proxy.oversight import facts
from proxy.oversight.derived import derive_body
from proxy.oversight.entries import fetch_page, parse_query
from proxy.oversight.period import FlagOptions, Period, snapshot
from proxy.oversight.reports import REPORTS
from tests.audit.memtree import InMemoryTree
from tests.cli.test_audit_cli import config, run
from tests.conftest import LOG_ORIGIN
from tests.oversight.oversight_fixture import LOG, A, B, C, append, at, review
from tests.pg import Databases, with_db

FACT_COLUMNS = (
    "event, request_id, agency, decision, reason, at, subject, purpose, on_behalf_of, plate,"
    " reads_returned, owners, owner_reads, concerns, justification_key, reviewed_index,"
    " disposition"
)
ROLLUPS = ("daily_usage", "daily_disclosures", "daily_users", "monthly_users",
           "justification_totals", "hour_index_range", "rollup_progress")  # fmt: skip


# --- the previous proxy's append, as proxy/audit/postgres.py did it before 006 ---------------


@dataclass(frozen=True)
class OldRecord:
    body: bytes
    event: str
    request_id: str | None
    agency: str | None
    decision: str | None
    reason: str | None


def old_record(r: Record) -> OldRecord:
    """The fields the old builders set: what the entry's own `event`, `request_id`, `agency`,
    `decision` and `reason` say (for an entry that is not an object: nothing, and the event its
    test builder named, "test")."""
    d = derive_body(r.body)
    return OldRecord(r.body, d.event or "test", d.request_id, d.agency, d.decision, d.reason)


def _text(value: str | None) -> str | None:
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value


def _flat(arrays: Sequence[Sequence[str]]) -> tuple[list[str | None], list[int], list[int]]:
    flat: list[str | None] = []
    starts, ends = [], []
    for values in arrays:
        starts.append(len(flat) + 1)
        flat.extend(_text(v) for v in values)
        ends.append(len(flat))
    return flat, starts, ends


def _columns(records: Sequence[OldRecord]) -> list[object]:
    rows = [derive_body(r.body) for r in records]
    owners, owners_start, owners_end = _flat([d.owners for d in rows])
    concerns, concerns_start, concerns_end = _flat([d.concerns for d in rows])
    return [
        [r.body for r in records],
        [r.event for r in records],
        [r.request_id for r in records],
        [_text(r.agency) for r in records],
        [r.decision for r in records],
        [r.reason for r in records],
        [d.at for d in rows],
        [_text(d.subject) for d in rows],
        [_text(d.purpose) for d in rows],
        [_text(d.on_behalf_of) for d in rows],
        [_text(d.plate) for d in rows],
        [d.reads_returned for d in rows],
        owners,
        [n for d in rows for n in d.owner_reads],
        owners_start,
        owners_end,
        concerns,
        concerns_start,
        concerns_end,
        [d.justification_key for d in rows],
        [d.reviewed_index for d in rows],
        [_text(d.disposition) for d in rows],
    ]


_OLD_APPEND = "SELECT audit.append_entries(" + ", ".join(f"${i}" for i in range(1, 26)) + ")"


async def old_append(conn: asyncpg.Connection, records: Sequence[OldRecord]) -> None:
    """One batch under the lock, at the size read under it, with the tree hashes it adds."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", postgres.APPEND_LOCK)
        start = await conn.fetchval("SELECT coalesce(max(idx) + 1, 0) FROM audit.entries")
        rows = await conn.fetch(
            "SELECT idx, hash FROM audit.tree_hashes WHERE idx = ANY($1::bigint[])",
            tree.tree_hash_needed(start),
        )
        edge = {int(r["idx"]): bytes(r["hash"]) for r in rows}
        new = tree.append_batch(start, [r.body for r in records], edge)
        found = await conn.fetchval(
            _OLD_APPEND, start, *_columns(records), list(new), list(new.values())
        )
        assert found == start


# --- the database before 006 ----------------------------------------------------------------

NUL = Principal("det.\x00nul", B, frozenset({"investigator"}), 0)
RECORDS: list[Record] = [
    *LOG,
    review(2, "needs_follow_up", at(5, 1)),
    audit_access_entry(
        at=at(5, 2),
        request_id="access",
        principal=Principal("aud", C, frozenset({"auditor"}), 0),
        client=None,
        endpoint="GET /v1/audit/entries",
        filters={"agency": C},
        returned=2,
    ),
    search_entry(
        at=at(4, 22),
        request_id="nul",
        principal=NUL,
        client=None,
        query={"type": "plate", "plate": "7ABC123", "purpose": "HOMICIDE", "justification": "x"},
        decision="allowed",
        reason=None,
        policy_version="v",
        outcome={"returned": 1, "disclosed_by_owner": {A: 1}},
    ),
    review(2, "violation", at(5, 3)),
    Record(b"not json"),
    *(review(i, "no_issue", at(5, 4, i)) for i in range(8)),
]


@dataclass
class Before:
    admin: str
    dsn: str  # the proxy's role
    columns: list[tuple[Any, ...]]  # idx and the derived columns, as the old proxy wrote them
    hashes: dict[int, bytes]  # audit.tree_hashes
    rollups: dict[str, list[tuple[Any, ...]]]


async def _table(conn: asyncpg.Connection, name: str) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in await conn.fetch(f"SELECT * FROM audit.{name}"))


async def _rollups(conn: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {t: await _table(conn, t) for t in ROLLUPS}


@pytest.fixture
async def before(
    dbs: Databases, log_keys: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Before]:
    """A database migrated through 005 only, filled by the old append (rolled up half-way),
    with a signed checkpoint: what an existing deployment holds when it upgrades."""
    old = tmp_path / "sql"
    (old / "audit").mkdir(parents=True)
    for path in migration_files("audit"):
        if path.name < "006":
            shutil.copy(path, old / "audit" / path.name)
    name = f"{dbs.prefix}_pre006_{uuid.uuid4().hex[:6]}"
    server = await asyncpg.connect(dbs.admin_dsn)
    await server.execute(f'CREATE DATABASE "{name}"')
    await server.close()
    admin, dsn = with_db(dbs.admin_dsn, name), with_db(dbs.admin_dsn, name, "alpr_proxy_audit")
    with monkeypatch.context() as m:
        m.setattr(proxy.migrate, "sql_dir", lambda: old)
        assert len(await migrate(admin, "audit")) == 5
    conn = await asyncpg.connect(dsn)
    try:
        half = len(RECORDS) // 2
        for lo in range(0, len(RECORDS), 3):
            await old_append(conn, [old_record(r) for r in RECORDS[lo : lo + 3]])
            if lo < half <= lo + 3:
                await conn.fetchval("SELECT audit.roll_up()")
        size = await conn.fetchval("SELECT count(*) FROM audit.entries")
        hashes = {int(i): bytes(h) for i, h in await conn.fetch("SELECT * FROM audit.tree_hashes")}
        root = tree.tree_hash(size, hashes)
        note = sign_checkpoint(LOG_ORIGIN, size, root, load_signer(log_keys[0])).decode()
        await conn.execute(
            "INSERT INTO audit.checkpoints (size, root, note) VALUES ($1, $2, $3)", size, root, note
        )
        columns = [
            tuple(r)
            for r in await conn.fetch(f"SELECT idx, {FACT_COLUMNS} FROM audit.entries ORDER BY idx")
        ]
        rollups = await _rollups(conn)
    finally:
        await conn.close()
    assert size == len(RECORDS) and 0 < rollups["rollup_progress"][0][1] < size
    try:
        yield Before(admin, dsn, columns, hashes, rollups)
    finally:
        server = await asyncpg.connect(dbs.admin_dsn)
        await server.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await server.close()


# --- the migration ---------------------------------------------------------------------------


async def test_migration_keeps_every_fact_and_stored_hash(
    before: Before, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # 006 alone: later migrations (007 rebuilds the rollups) are not what this test is about.
    through_006 = tmp_path / "sql-006"
    (through_006 / "audit").mkdir(parents=True)
    for path in migration_files("audit"):
        if path.name < "007":
            shutil.copy(path, through_006 / "audit" / path.name)
    with monkeypatch.context() as m:
        m.setattr(proxy.migrate, "sql_dir", lambda: through_006)
        assert await migrate(before.admin, "audit") == ["006_lean_log.sql"]
    conn = await asyncpg.connect(before.dsn)
    try:
        moved = [
            tuple(r)
            for r in await conn.fetch(
                f"SELECT idx, {FACT_COLUMNS} FROM audit.entry_facts ORDER BY idx"
            )
        ]
        every = range(tree.stored_hash_count(len(RECORDS)))
        stored = await postgres.read_hashes(conn, every)
        columns = await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'audit.entries'::regclass"
            " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        )
        bodies = [
            bytes(b) for (b,) in await conn.fetch("SELECT body FROM audit.entries ORDER BY idx")
        ]
        rollups = await _rollups(conn)
        gone = await conn.fetchval("SELECT to_regclass('audit.tree_hashes')")
    finally:
        await conn.close()
    assert moved == before.columns
    assert stored == before.hashes
    assert [c["attname"] for c in columns] == ["idx", "body", "recorded_at", "hashes"]
    assert bodies == [r.body for r in RECORDS]
    assert rollups == before.rollups  # untouched, still half-way
    assert gone is None
    assert next(r for r in moved if r[2] == "nul")[7] == "det.\ufffdnul"  # subject, as stored


async def test_migrated_log_verifies_and_keeps_growing(
    before: Before, log_keys: tuple[Path, str], tmp_path: Path
):
    await migrate(before.admin, "audit")
    cfg = config(tmp_path, before.dsn, log_keys[0])
    result = await asyncio.to_thread(run, "--config", cfg, "--key", log_keys[1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"OK: {len(RECORDS)} entries and 1 stored checkpoints verified" in result.stdout
    assert await append(before.dsn, LOG[:4]) == list(range(len(RECORDS), len(RECORDS) + 4))
    result = await asyncio.to_thread(run, "--config", cfg, "--key", log_keys[1])
    assert result.returncode == 0, result.stdout + result.stderr
    root = InMemoryTree([r.body for r in [*RECORDS, *LOG[:4]]]).root()
    conn = await asyncpg.connect(before.dsn)
    try:
        size = await postgres.size(conn)
        assert (
            tree.tree_hash(size, await postgres.read_hashes(conn, tree.tree_hash_needed(size)))
            == root
        )
        assert await facts.catch_up(conn) == size
    finally:
        await conn.close()


PERIODS = [
    Period(at(2), at(6)),
    Period(at(2, 12), at(4, 9)),
    Period(at(3) + timedelta(minutes=30), at(5, 3)),
]


async def _reports(dsn: str) -> list[Any]:
    out: list[Any] = []
    conn = await asyncpg.connect(dsn)
    try:
        for period in PERIODS:
            for scope in (None, A, B, C):
                async with snapshot(conn):
                    out.append(await REPORTS["usage"].run(conn, period, scope, FlagOptions()))
                    out.append(await REPORTS["disclosures"].run(conn, period, scope, FlagOptions()))
                    opts = FlagOptions(volume_min=1, boilerplate_min=2)
                    out.append(await REPORTS["flags"].run(conn, period, scope, opts))
        for params in ({}, {"agency": A}, {"event": "review"}, {"owner": A, "limit": "2"}):
            async with snapshot(conn):
                out.append(await fetch_page(conn, parse_query(params), None))
    finally:
        await conn.close()
    return out


async def test_reports_equal_those_of_the_same_entries_on_a_fresh_database(
    before: Before, dbs: Databases
):
    await migrate(before.admin, "audit")
    _, fresh = await dbs.fresh_audit()
    await append(fresh, RECORDS)
    migrated, expected = await _reports(before.dsn), await _reports(fresh)
    assert migrated == expected
    assert any(getattr(r, "searches", 0) for r in migrated)  # the reports are not empty


async def test_a_log_whose_stored_hashes_do_not_line_up_is_left_alone(before: Before):
    """A stored hash without its place in an entry's row would be lost with its evidence:
    the migration refuses and changes nothing, so `audit verify` can still name it."""
    conn = await asyncpg.connect(before.admin)
    try:
        await conn.execute("ALTER TABLE audit.tree_hashes DISABLE TRIGGER ALL")
        await conn.execute("DELETE FROM audit.tree_hashes WHERE idx = 7")
    finally:
        await conn.close()
    with pytest.raises(asyncpg.RaiseError, match="run `alpr-proxy audit verify`"):
        await migrate(before.admin, "audit")
    conn = await asyncpg.connect(before.admin)
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM audit.tree_hashes") == len(before.hashes) - 1
        )
        assert await conn.fetchval("SELECT to_regclass('audit.entry_facts')") is None
        applied = await conn.fetchval("SELECT count(*) FROM public.alpr_proxy_migrations")
    finally:
        await conn.close()
    assert applied == 5
