"""The pure rules of the witnessed log (no sockets), and the cosignature store on PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest

from proxy.audit import tree
from proxy.audit.cosignatures_pg import PgCosignatureStore
from proxy.audit.note import Signer, sign_checkpoint
from proxy.audit.verify import Checkpoint, VerificationError
from proxy.audit.witness_status import (
    RETRY_CAP_S,
    WitnessStatus,
    after,
    next_due,
    quorum_warning,
    retry_delay,
)
from proxy.audit.witnessing import (
    MemoryCosignatureStore,
    RewriteError,
    StoredCosignature,
    coverage,
    extends,
    served_note,
    witnessed,
)
from proxy.witness.client import (
    Failed,
    SignedCheckpoint,
    WitnessAhead,
    WitnessConfigError,
    WitnessEndpoint,
    parse_size,
    request_body,
)
from proxy.witness.signer import WitnessSigner
from tests.audit.witnessing_env import NAMES, ORIGIN, MemLog
from tests.pg import Databases

SIGNER = Signer.from_seed(ORIGIN, b"\x07" * 32)


def endpoint(signer: WitnessSigner) -> WitnessEndpoint:
    return WitnessEndpoint.from_config(signer.name, "http://127.0.0.1:1", signer.vkey)


def test_extends_accepts_growth_with_a_proof_and_refuses_every_rewrite():
    log = MemLog(SIGNER)
    old, new = log.grow(20).checkpoint, log.grow(13).checkpoint
    extends(None, old, [])
    extends(old, old, [])
    extends(old, new, tree.consistency_proof(20, 33, log.hashes))
    forged = MemLog(SIGNER, tag="forged")
    other = forged.grow(20).checkpoint  # same size, other entries: another root
    with pytest.raises(RewriteError) as exc:
        extends(old, other, [])
    assert (exc.value.previous, exc.value.candidate) == (old, other)
    assert exc.value.why == "same size, another root"
    assert old.root_hash.hex() in str(exc.value) and other.root_hash.hex() in str(exc.value)
    smaller = MemLog(SIGNER).grow(19).checkpoint
    with pytest.raises(RewriteError, match="smaller"):
        extends(old, smaller, [])
    longer = forged.grow(13).checkpoint  # larger, but not an extension of `old`
    with pytest.raises(RewriteError, match="consistency proof fails"):
        extends(old, longer, list(forged.hashes.values())[:3])
    with pytest.raises(RewriteError, match="origin"):
        extends(old, Checkpoint("other/log", 40, new.root_hash), [])


def test_coverage_refuses_only_once_uncovered_entries_are_too_old():
    assert coverage(100.0, None, 50, 60) == coverage(100.0, None, 50, 60.0)
    assert not coverage(100.0, None, 50, 60).refuse
    assert not coverage(100.0, 40.0, 50, 60).refuse  # exactly at the limit: still allowed
    verdict = coverage(100.0, 39.5, 50, 60)
    assert verdict.refuse and verdict.unwitnessed_s == 60.5 and verdict.witnessed_size == 50
    assert not coverage(100.0, 130.0, 0, 60).refuse  # clock went backwards: age 0
    with pytest.raises(ValueError, match="> 0"):
        coverage(100.0, None, 0, 0)


def test_backoff_is_capped_so_a_failing_witness_is_retried_within_5s():
    assert [retry_delay(n) for n in (1, 2, 3, 4, 5, 6, 100, 10**6)] == [
        0.25, 0.5, 1.0, 2.0, 4.0, RETRY_CAP_S, RETRY_CAP_S, RETRY_CAP_S,
    ]  # fmt: skip
    s = WitnessStatus("w")
    assert next_due(s, 10, 30.0) == 0.0  # never cosigned: due now
    s = after(s, Failed("w", 10, None, "refused", None), now=1000.0)
    assert (s.failures, s.next_attempt_at, next_due(s, 10, 30.0)) == (1, 1000.25, 1000.25)
    s = after(s, WitnessAhead("w", 10, 99), now=1001.0)
    assert s.ahead_size == 99 and s.known_size == 0  # the unsigned size is never adopted
    s = after(s, Failed("w", 10, 409, "x", witness_size=7), now=1002.0)
    assert s.known_size == 7  # a size at or below ours is what the next proof starts from


def test_quorum_counts_distinct_keys_and_serves_one_line_per_witness():
    log = MemLog(SIGNER)
    cp = log.grow(5)
    a, b = WitnessSigner.generate(NAMES[0]), WitnessSigner.generate(NAMES[1])
    twin = WitnessSigner.from_seed(NAMES[2], a.private_key.private_bytes_raw())  # a's key
    ws = [endpoint(a), endpoint(b), endpoint(twin)]
    rows = [
        StoredCosignature(5, a.vkey, a.cosign(cp.body, 100).line()),
        StoredCosignature(5, a.vkey, a.cosign(cp.body, 200).line()),  # fresher: this one
        StoredCosignature(5, twin.vkey, twin.cosign(cp.body, 150).line()),
        StoredCosignature(5, b.vkey, b.cosign(log.grow(1).body, 300).line()),  # other cp
        StoredCosignature(5, "stranger+00000000+AA", a.cosign(cp.body, 400).line()),
    ]
    assert witnessed(cp, rows, ws, 2) is None  # a and its twin are one key
    found = witnessed(cp, rows, ws, 1)
    assert found is not None and found.distinct_keys == 1
    assert [(w.name, s.timestamp) for w, s in found.cosignatures] == [
        (a.name, 200), (twin.name, 150),
    ]  # fmt: skip
    rows.append(StoredCosignature(5, b.vkey, b.cosign(cp.body, 300).line()))
    found = witnessed(cp, rows, ws, 2)
    assert found is not None
    served = found.note().decode()
    assert served.startswith(cp.note.decode())
    assert served.count("\u2014 ") == 4  # the log's line and one per cosigning witness
    with pytest.raises(ValueError, match="two cosignatures"):
        served_note(cp, [found.cosignatures[0], found.cosignatures[0]])
    assert quorum_warning(ws, 1) is not None and quorum_warning(ws, 2) is None


def test_formats_and_configuration_errors():
    assert request_body(3, [b"\x01" * 32], b"NOTE") == (
        b"old 3\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\nNOTE"
    )
    assert parse_size("text/x.tlog.size", b"42\n") == 42
    assert parse_size("text/plain", b"42\n") is None
    assert parse_size("text/x.tlog.size", b"042\n") is None
    a = WitnessSigner.generate(NAMES[0])
    with pytest.raises(WitnessConfigError, match="named"):
        WitnessEndpoint.from_config(NAMES[1], "http://x", a.vkey)
    with pytest.raises(WitnessConfigError, match="http"):
        WitnessEndpoint.from_config(NAMES[0], "ftp://x", a.vkey)
    body = MemLog(SIGNER).grow(3).body
    extra = sign_checkpoint(ORIGIN, 3, b"\x00" * 32, SIGNER) + b"\xe2\x80\x94 other x\n"
    with pytest.raises(VerificationError):
        SignedCheckpoint.open(extra, SIGNER.verifier())
    assert body.startswith(ORIGIN)


async def test_memory_store_is_idempotent():
    store = MemoryCosignatureStore()
    a = WitnessSigner.generate(NAMES[0])
    sig = a.cosign(MemLog(SIGNER).grow(2).body, 5)
    await store.add(2, a.vkey, sig)
    await store.add(2, a.vkey, sig)
    assert await store.load(2) == [StoredCosignature(2, a.vkey, sig.line())]
    assert await store.sizes(5) == [2]


async def test_pg_store_round_trip_and_append_only(dbs: Databases):
    admin, dsn = await dbs.fresh_audit()
    log = MemLog(SIGNER)
    cps = [log.grow(4), log.grow(3)]
    a, b = WitnessSigner.generate(NAMES[0]), WitnessSigner.generate(NAMES[1])
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        for cp in cps:  # as the checkpointer stores them, with the proxy's own role
            await pool.execute(
                "INSERT INTO audit.checkpoints (size, root, note) VALUES ($1, $2, $3)",
                cp.size, cp.root, cp.note.decode(),
            )  # fmt: skip
        store = PgCosignatureStore(pool)
        lines = [a.cosign(cps[1].body, 10), a.cosign(cps[1].body, 20), b.cosign(cps[0].body, 5)]
        await store.add(7, a.vkey, lines[0])
        await store.add(7, a.vkey, lines[0])  # a racing process stores the same line: one row
        await store.add(7, a.vkey, lines[1])
        await store.add(4, b.vkey, lines[2])
        assert sorted(r.line for r in await store.load(7)) == sorted(
            [lines[0].line(), lines[1].line()]
        )
        assert await store.load(4) == [StoredCosignature(4, b.vkey, lines[2].line())]
        assert await store.sizes(1) == [7] and await store.sizes(10) == [7, 4]
        found = witnessed(cps[1], await store.load(7), [endpoint(a), endpoint(b)], 1)
        assert found is not None and found.cosignatures[0][1] == lines[1]
        with pytest.raises(asyncpg.ForeignKeyViolationError):  # no such checkpoint
            await store.add(99, a.vkey, lines[0])
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pool.execute("UPDATE audit.cosignatures SET line = 'x'")
    conn = await asyncpg.connect(admin)  # even the owner, even as a replica, cannot rewrite
    try:
        await conn.execute("SET session_replication_role = replica")
        for sql in ("DELETE FROM audit.cosignatures", "TRUNCATE audit.cosignatures",
                    "UPDATE audit.cosignatures SET cosigned_at = 0"):  # fmt: skip
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(sql)
        assert await conn.fetchval("SELECT count(*) FROM audit.cosignatures") == 3
    finally:
        await conn.close()
