"""Offline verification against a real audit database tampered with as a superuser would."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import orjson
import pytest

from proxy.audit import offline, tree
from proxy.audit.canonical import Record
from proxy.audit.checkpoint import load_signer, make_checkpoint
from proxy.audit.log_errors import (
    CheckpointRootMismatch,
    CheckpointSignatureError,
    CheckpointTableMismatch,
    EntryGapError,
    ExternalCheckpointMismatch,
    ExternalConsistencyError,
    ExtraStoredHashesError,
    LeafMismatchError,
    LogTruncatedError,
    StoredHashMismatch,
)
from proxy.audit.note import generate_signer_key
from proxy.audit.offline import verify_log
from proxy.audit.verify import NoteFormatError
from proxy.audit.writer import AuditWriter
from proxy.cli.audit import uncovered_lines
from tests.audit.memtree import InMemoryTree
from tests.conftest import LOG_ORIGIN
from tests.pg import Databases, with_db

CHECKPOINTS = (50, 120, 300)
ALL_TABLES = ("entries", "entry_facts", "checkpoints")


def body(i: int, tag: str = "real") -> bytes:
    return orjson.dumps({"event": "test", "i": i, "tag": tag})


@dataclass
class Log:
    admin: str  # superuser: the attacker
    dsn: str  # the proxy's role: enough to verify
    bodies: list[bytes]
    notes: dict[int, bytes]  # checkpoint size -> signed note, as oversight would keep them
    vkey: str


async def append_log(
    dsn: str, key_file: Path, bodies: Sequence[bytes], sizes: Sequence[int], done: int = 0
) -> dict[int, bytes]:
    """Append bodies[done:] through the real writer, checkpointing when the log reaches each
    size; return the signed notes."""
    notes = {}
    signer = load_signer(key_file)
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        writer = AuditWriter(pool, max_batch=64)
        await writer.start()
        for size in sizes:
            recs = [Record(b) for b in bodies[done:size]]
            await asyncio.gather(*(writer.append(r) for r in recs))
            done = size
            async with pool.acquire() as conn:
                made = await make_checkpoint(conn, signer, LOG_ORIGIN)
            assert made is not None and made.size == size
            notes[size] = made.note
        await writer.close()
    return notes


@pytest.fixture(scope="module")
async def built(dbs: Databases, log_keys: tuple[Path, str]) -> Log:
    """The log every test starts from, built once; tests tamper with copies."""
    admin, dsn = await dbs.fresh_audit()
    bodies = [body(i) for i in range(CHECKPOINTS[-1])]
    notes = await append_log(dsn, log_keys[0], bodies, CHECKPOINTS)
    return Log(admin, dsn, bodies, notes, log_keys[1])


@pytest.fixture
async def log(dbs: Databases, built: Log) -> Log:
    template = urlsplit(built.admin).path.lstrip("/")
    name = f"{dbs.prefix}_audit_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dbs.admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    admin, dsn = with_db(dbs.admin_dsn, name), with_db(dbs.admin_dsn, name, "alpr_proxy_audit")
    return Log(admin, dsn, built.bodies, built.notes, built.vkey)


async def tamper(log: Log, *sql: str | tuple[str, object]) -> None:
    """Run statements as a superuser, past the append-only triggers."""
    conn = await asyncpg.connect(log.admin)
    try:
        for table in ALL_TABLES:
            await conn.execute(f"ALTER TABLE audit.{table} DISABLE TRIGGER ALL")
        for stmt in sql:
            if isinstance(stmt, tuple):
                await conn.execute(stmt[0], *stmt[1:])  # type: ignore[misc]
            else:
                await conn.execute(stmt)
    finally:
        await conn.close()


def stored_blobs(bodies: Sequence[bytes]) -> list[bytes]:
    """Each entry's stored hashes as its row holds them, from the in-memory tree."""
    hashes = InMemoryTree(bodies).hashes
    return [
        b"".join(
            hashes[i] for i in range(tree.stored_hash_index(0, n), tree.stored_hash_count(n + 1))
        )
        for n in range(len(bodies))
    ]


async def rewrite_tree(log: Log, bodies: Sequence[bytes]) -> None:
    """The careful attacker: make every stored hash agree with the edited entries."""
    conn = await asyncpg.connect(log.admin)
    try:
        await conn.execute("ALTER TABLE audit.entries DISABLE TRIGGER ALL")
        await conn.executemany(
            "UPDATE audit.entries SET hashes = $2 WHERE idx = $1",
            list(enumerate(stored_blobs(bodies))),
        )
    finally:
        await conn.close()


async def verify(log: Log, vkey: str | None = None, **kw: object) -> offline.LogReport:
    conn = await asyncpg.connect(log.dsn)
    try:
        return await verify_log(conn, vkey or log.vkey, **kw)  # type: ignore[arg-type]
    finally:
        await conn.close()


@pytest.mark.parametrize("chunk", [1, 7, 10000])
async def test_clean_log_verifies(log: Log, chunk: int):
    report = await verify(log, chunk=chunk, origin=LOG_ORIGIN)
    assert (report.entries, report.checkpoints, report.size) == (300, 3, 300)
    assert report.root == InMemoryTree(log.bodies).root()
    assert report.external_checkpoint_size is None and report.seconds > 0


async def test_empty_log_verifies(dbs: Databases, log_keys: tuple[Path, str]):
    _, dsn = await dbs.fresh_audit()
    conn = await asyncpg.connect(dsn)
    try:
        report = await verify_log(conn, log_keys[1])
    finally:
        await conn.close()
    assert (report.entries, report.checkpoints, report.root) == (0, 0, tree.EMPTY_ROOT)


async def test_altered_entry_is_named_by_its_leaf_hash(log: Log):
    await tamper(log, ("UPDATE audit.entries SET body = $1 WHERE idx = 77", body(77, "forged")))
    with pytest.raises(LeafMismatchError) as e:
        await verify(log, chunk=10)
    assert e.value.index == 77
    assert e.value.stored_hash == tree.leaf_hash(log.bodies[77])
    assert e.value.computed_hash == tree.leaf_hash(body(77, "forged"))
    assert "entry 77" in str(e.value)


@pytest.mark.parametrize(("index", "checkpoint"), [(30, 50), (77, 120), (120, 300)])
async def test_altered_entry_with_rewritten_tree_is_caught_by_first_covering_checkpoint(
    log: Log, index: int, checkpoint: int
):
    forged = list(log.bodies)
    forged[index] = body(index, "forged")
    await tamper(log, ("UPDATE audit.entries SET body = $1 WHERE idx = $2", forged[index], index))
    await rewrite_tree(log, forged)
    with pytest.raises(CheckpointRootMismatch) as e:
        await verify(log, chunk=16)
    assert e.value.checkpoint_size == checkpoint
    assert e.value.computed_root == InMemoryTree(forged).root(checkpoint)
    assert e.value.signed_root == InMemoryTree(log.bodies).root(checkpoint)


async def test_deleted_entry(log: Log):
    await tamper(log, "DELETE FROM audit.entries WHERE idx = 77")
    with pytest.raises(EntryGapError) as e:
        await verify(log)
    assert (e.value.expected_index, e.value.found_index) == (77, 78)


async def test_entry_with_an_out_of_sequence_index(log: Log):
    forged = ("INSERT INTO audit.entries (idx, body, hashes) VALUES (500, $1, $2)", b"{}", b"")
    await tamper(log, forged)
    with pytest.raises(EntryGapError) as e:
        await verify(log)
    assert (e.value.expected_index, e.value.found_index) == (300, 500)


async def test_duplicated_index_after_dropping_the_primary_key(log: Log):
    await tamper(
        log,
        "ALTER TABLE audit.entries DROP CONSTRAINT entries_pkey CASCADE",  # and the facts' key
        "INSERT INTO audit.entries (idx, body, hashes) SELECT 77, '{}', hashes"
        " FROM audit.entries WHERE idx = 77",
    )
    with pytest.raises(EntryGapError) as e:
        await verify(log, chunk=10)
    assert (e.value.expected_index, e.value.found_index) == (78, 77)


async def test_swapped_entries(log: Log):
    await tamper(
        log,
        ("UPDATE audit.entries SET body = $1 WHERE idx = 10", log.bodies[11]),
        ("UPDATE audit.entries SET body = $1 WHERE idx = 11", log.bodies[10]),
    )
    with pytest.raises(LeafMismatchError) as e:
        await verify(log)
    assert e.value.index == 10


async def test_null_body(log: Log):
    await tamper(
        log,
        "ALTER TABLE audit.entries ALTER COLUMN body DROP NOT NULL",
        "UPDATE audit.entries SET body = NULL WHERE idx = 5",
    )
    with pytest.raises(LeafMismatchError) as e:
        await verify(log)
    assert e.value.index == 5


async def insert_at(log: Log, index: int, forged: bytes) -> None:
    await tamper(
        log,  # two steps: a single shift would collide with the primary key mid-update
        ("UPDATE audit.entries SET idx = idx + 1000000 WHERE idx >= $1", index),
        "UPDATE audit.entries SET idx = idx - 999999 WHERE idx >= 1000000",
        # The inserted entry takes the stored hashes of the one it displaced; those shifted keep
        # their own: the tree is left as it was.
        (
            "INSERT INTO audit.entries (idx, body, hashes)"
            " SELECT $1::bigint, $2::bytea, hashes FROM audit.entries WHERE idx = $1 + 1",
            index,
            forged,
        ),
    )


async def test_inserted_entry(log: Log):
    await insert_at(log, 77, body(77, "inserted"))
    with pytest.raises(LeafMismatchError) as e:
        await verify(log)
    assert e.value.index == 77


async def test_inserted_entry_with_rewritten_tree(log: Log):
    forged = [*log.bodies[:77], body(77, "inserted"), *log.bodies[77:]]
    await insert_at(log, 77, forged[77])
    await rewrite_tree(log, forged)
    with pytest.raises(CheckpointRootMismatch) as e:
        await verify(log)
    assert e.value.checkpoint_size == 120


async def test_truncated_log_into_the_checkpointed_range(log: Log):
    await tamper(log, "DELETE FROM audit.entries WHERE idx >= 200")
    with pytest.raises(LogTruncatedError) as e:
        await verify(log)
    assert (e.value.log_size, e.value.checkpoint_size, e.value.external) == (200, 300, False)


async def test_truncation_that_also_removes_checkpoints_needs_the_external_one(log: Log):
    await tamper(
        log,
        "DELETE FROM audit.entries WHERE idx >= 200",
        "DELETE FROM audit.checkpoints WHERE size > 200",
    )
    report = await verify(log)  # what is left is a consistent, smaller log
    assert (report.size, report.checkpoints) == (200, 2)
    with pytest.raises(LogTruncatedError) as e:
        await verify(log, external_checkpoint=log.notes[300])
    assert (e.value.log_size, e.value.checkpoint_size, e.value.external) == (200, 300, True)


async def test_bytes_appended_to_an_entrys_stored_hashes(log: Log):
    await tamper(log, ("UPDATE audit.entries SET hashes = hashes || $1 WHERE idx = 100", bytes(32)))
    with pytest.raises(ExtraStoredHashesError) as e:
        await verify(log)
    assert (e.value.index, e.value.length, e.value.expected) == (100, 64, 32)
    assert "entry 100" in str(e.value)


async def test_rebuilt_and_resigned_log_is_caught_only_by_the_external_checkpoint(
    log: Log, log_keys: tuple[Path, str]
):
    kept = log.notes[120]  # oversight holds this one outside the database
    await tamper(log, *(f"DELETE FROM audit.{t}" for t in ALL_TABLES))
    rebuilt = [b for i, b in enumerate(log.bodies) if i != 77] + [body(300)]
    await append_log(log.dsn, log_keys[0], rebuilt, CHECKPOINTS)
    report = await verify(log)  # every stored checkpoint verifies with the real key
    assert (report.size, report.checkpoints) == (300, 3)
    with pytest.raises(ExternalCheckpointMismatch) as e:
        await verify(log, external_checkpoint=kept)
    assert e.value.checkpoint_size == 120
    assert e.value.signed_root == InMemoryTree(log.bodies).root(120)
    assert "external checkpoint 120" in str(e.value)


@pytest.mark.parametrize("size", [50, 120, 300])
async def test_external_checkpoint_on_a_clean_log(log: Log, size: int):
    report = await verify(log, external_checkpoint=log.notes[size], origin=LOG_ORIGIN)
    assert report.external_checkpoint_size == size and report.size == 300


async def test_external_checkpoint_consistency_proof_is_checked(
    log: Log, monkeypatch: pytest.MonkeyPatch
):
    real = tree.consistency_proof

    def corrupted(t1: int, t2: int, read: object) -> list[bytes]:
        proof = real(t1, t2, read)  # type: ignore[arg-type]
        return [bytes(32), *proof[1:]]

    monkeypatch.setattr(tree, "consistency_proof", corrupted)
    with pytest.raises(ExternalConsistencyError) as e:
        await verify(log, external_checkpoint=log.notes[120])
    assert (e.value.checkpoint_size, e.value.size) == (120, 300)


async def test_forged_external_checkpoint_is_refused_before_reading(log: Log):
    forged = log.notes[120].replace(b"\n120\n", b"\n121\n")
    with pytest.raises(CheckpointSignatureError) as e:
        await verify(log, external_checkpoint=forged)
    assert e.value.external and e.value.checkpoint_size is None


async def test_wrong_verifier_key(log: Log):
    _, other = generate_signer_key(LOG_ORIGIN)  # same name, different key
    with pytest.raises(CheckpointSignatureError) as e:
        await verify(log, other)
    assert e.value.checkpoint_size == 50 and not e.value.external


async def test_malformed_verifier_key(log: Log):
    with pytest.raises(NoteFormatError):
        await verify(log, "not-a-key")


async def test_wrong_origin(log: Log):
    with pytest.raises(CheckpointSignatureError) as e:
        await verify(log, origin="elsewhere.example/audit")
    assert e.value.checkpoint_size == 50 and "origin" in e.value.reason


async def test_edited_checkpoint_note_fails_its_signature(log: Log):
    forged_root = InMemoryTree([*log.bodies[:119], b"{}"]).root()
    old = log.notes[120].decode()
    root_line = old.split("\n")[2]
    new = old.replace(root_line, base64.b64encode(forged_root).decode())
    await tamper(
        log,
        ("UPDATE audit.checkpoints SET note = $1, root = $2 WHERE size = 120", new, forged_root),
    )
    with pytest.raises(CheckpointSignatureError) as e:
        await verify(log)
    assert e.value.checkpoint_size == 120


async def test_checkpoint_row_disagreeing_with_its_note(log: Log):
    await tamper(log, ("UPDATE audit.checkpoints SET root = $1 WHERE size = 120", bytes(32)))
    with pytest.raises(CheckpointTableMismatch) as e:
        await verify(log)
    assert (e.value.checkpoint_size, e.value.note_size, e.value.row_root) == (120, 120, bytes(32))


async def test_checkpoint_row_moved_to_another_size(log: Log):
    await tamper(log, "UPDATE audit.checkpoints SET size = 100 WHERE size = 120")
    with pytest.raises(CheckpointTableMismatch) as e:
        await verify(log)
    assert (e.value.checkpoint_size, e.value.note_size) == (100, 120)


async def test_altered_interior_stored_hash(log: Log):
    index = tree.stored_hash_index(2, 5)  # covers entries 20..23; entry 23 wrote it, third
    await tamper(
        log,
        (
            "UPDATE audit.entries SET hashes = overlay(hashes PLACING $1 FROM 65) WHERE idx = 23",
            bytes(32),
        ),
    )
    with pytest.raises(StoredHashMismatch) as e:
        await verify(log, chunk=9)
    assert (e.value.stored_index, e.value.stored_hash) == (index, bytes(32))
    assert "entries below it" in str(e.value)


async def test_missing_stored_leaf_hash(log: Log):
    await tamper(
        log,
        "ALTER TABLE audit.entries ALTER COLUMN hashes DROP NOT NULL",
        "UPDATE audit.entries SET hashes = NULL WHERE idx = 77",
    )
    with pytest.raises(LeafMismatchError) as e:
        await verify(log)
    assert (e.value.index, e.value.stored_hash) == (77, None)


async def test_missing_stored_interior_hash(log: Log):
    # Entry 77 completes the subtree of entries 76..77: its row holds two hashes; cut the second.
    await tamper(log, "UPDATE audit.entries SET hashes = substring(hashes FOR 32) WHERE idx = 77")
    with pytest.raises(StoredHashMismatch) as e:
        await verify(log)
    assert (e.value.stored_index, e.value.stored_hash) == (tree.stored_hash_index(1, 38), None)


async def test_verification_reads_one_snapshot_while_the_log_grows(
    log: Log, log_keys: tuple[Path, str]
):
    grown = [*log.bodies, *(body(i) for i in range(300, 700))]
    during, _ = await asyncio.gather(
        verify(log, chunk=3), append_log(log.dsn, log_keys[0], grown, [700], done=300)
    )
    assert 300 <= during.size <= 700  # whatever it saw was consistent
    after = await verify(log)
    assert (after.size, after.checkpoints) == (700, 4)


async def test_entries_beyond_the_newest_checkpoint_are_reported_as_uncovered(log: Log):
    report = await verify(log)
    assert (report.covered, report.oldest_uncovered_at) == (300, None)
    # The red team's truncation: the newest checkpoints deleted, their entries kept (or the
    # entries rewritten): what no stored checkpoint vouches for any more is named.
    await tamper(log, "DELETE FROM audit.checkpoints WHERE size > 50")
    report = await verify(log)
    assert (report.size, report.checkpoints, report.covered) == (300, 1, 50)
    assert report.oldest_uncovered_at is not None
    now = report.oldest_uncovered_at + timedelta(seconds=30)
    assert uncovered_lines(report, 5, now) == [
        "uncovered: entries 50..299 are not covered by any stored checkpoint"
    ]
    later = report.oldest_uncovered_at + timedelta(seconds=71)  # 2 intervals + 60 s have passed
    warning = uncovered_lines(report, 5, later)[1]
    assert warning.startswith("WARNING: a checkpoint covering entry 50 (committed ")
    assert "none is stored: checkpoints were deleted" in warning
