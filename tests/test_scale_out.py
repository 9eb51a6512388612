"""Scaling out: two proxy instances on different ports write one audit log concurrently.

Two `python -m proxy serve` processes (each its own config file and port, `workers = 1`) share
the store database, the audit database and the log-signing key. Searches go to both at once,
allowed and refused, and then:

- every answer names an audit index, and no index is named twice across the two instances;
- the log is gapless 0..N-1, and N is exactly the searches answered plus what the servers write
  themselves (a `policy_loaded` entry per instance at start, an `audit_access` entry per read
  of the log API);
- each answer's index holds the entry for that answer's request id (tests/faults' check);
- the two instances' entries are interleaved in the log, so they really wrote concurrently;
- an entry one instance wrote is served, and proved included in a checkpoint the other signed,
  by the other instance;
- a checkpoint instance A signed (its final one, at SIGTERM) and one only instance B signed
  (its final one, after more searches) verify, with B's consistency proof between them;
- after both stopped gracefully (exit 0), `alpr-proxy audit verify` passes over the whole log
  and checks B's final checkpoint, kept outside the database, against it.

Instance B checkpoints only at start and at stop (`checkpoint_interval_s = 3600`), so every
checkpoint between those is A's.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg

from proxy.audit import verify
from tests.faults.harness import (
    ALAMEDA,
    CHP,
    OAKLAND,
    Exchange,
    Keys,
    Load,
    ProxyProcess,
    User,
    audit_verify,
    check_against_log,
    log_entries,
    seed_rows,
    seed_store,
    write_config,
)
from tests.pg import Databases, fresh_store

SEARCHES_PER_INSTANCE = 150
CONCURRENCY_PER_INSTANCE = 24
LATE_SEARCHES = 6  # to B alone, after A stopped: B's final checkpoint extends A's


def _users(keys: Keys) -> list[User]:
    people = [("det.a", OAKLAND), ("det.b", ALAMEDA), ("sgt.c", CHP)]
    return [User(sub, ori, keys.token(sub, ori)) for sub, ori in people]


async def _searches(load: Load, n: int, concurrency: int, tag: str) -> list[Exchange]:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> Exchange:
        async with gate:
            return await load.exchange(tag=tag)

    return list(await asyncio.gather(*(one() for _ in range(n))))


def _index_of(ex: Exchange) -> int | None:
    answer = ex.answer if isinstance(ex.answer, dict) else {}
    index = (
        answer.get("audit_index")
        if ex.status == 200
        else answer.get("error", {}).get("audit_index")
    )
    return index if isinstance(index, int) else None


def _allowed_indexes(answered: Sequence[Exchange]) -> list[int]:
    return [i for ex in answered if ex.status == 200 and (i := _index_of(ex)) is not None]


async def _get(http: aiohttp.ClientSession, url: str, token: str | None = None) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get(url, headers=headers) as r:
        body = await r.read()
        assert r.status == 200, (url, r.status, body[:300])
        return body


async def _checkpoint_covering(
    http: aiohttp.ClientSession, url: str, size: int, vkey: str, wait_s: float = 10.0
) -> tuple[bytes, verify.Checkpoint]:
    """The instance's latest checkpoint once it covers `size` entries, signature verified.
    There may be none yet: an instance's first checkpoint can come before its first entry."""
    deadline = time.monotonic() + wait_s
    while True:
        async with http.get(url + "/v1/log/checkpoint") as r:
            note = await r.read()
        latest = None
        if r.status != 404:
            assert r.status == 200, (url, r.status, note[:300])
            cp = verify.verify_checkpoint(note, vkey)
            if cp.size >= size:
                return note, cp
            latest = cp.size
        assert time.monotonic() < deadline, f"no checkpoint at size >= {size}, latest {latest}"
        await asyncio.sleep(0.1)


def _runs(labels: Sequence[str]) -> Counter[str]:
    """Maximal runs of consecutive equal labels, counted per label."""
    return Counter(label for i, label in enumerate(labels) if i == 0 or labels[i - 1] != label)


async def _checkpoint_row(admin: str, size: int) -> bytes:
    conn = await asyncpg.connect(admin)
    try:
        note = await conn.fetchval("SELECT note FROM audit.checkpoints WHERE size = $1", size)
    finally:
        await conn.close()
    assert note is not None, f"no stored checkpoint at size {size}"
    return str(note).encode()


async def _sizes(admin: str) -> tuple[int, int]:
    """(log size, largest stored checkpoint size)."""
    conn = await asyncpg.connect(admin)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT coalesce(max(idx) + 1, 0) FROM audit.entries) AS log,"
            " (SELECT coalesce(max(size), 0) FROM audit.checkpoints) AS cp"
        )
    finally:
        await conn.close()
    return int(row["log"]), int(row["cp"])


async def test_two_instances_write_one_log(
    tmp_path: Path,
    dbs: Databases,
    dev_keys: tuple[Path, Path],
    log_keys: tuple[Path, str],
) -> None:
    keys = Keys(dev_keys[0], dev_keys[1], log_keys[0], log_keys[1])
    store_admin, store = await fresh_store(dbs)
    await seed_store(store_admin, seed_rows(datetime.now(UTC)))
    admin, audit = await dbs.fresh_audit()

    configs: dict[str, Path] = {}
    servers: dict[str, ProxyProcess] = {}
    for name, interval in (("A", 0.5), ("B", 3600.0)):
        directory = tmp_path / name
        directory.mkdir()
        while True:
            config, port = write_config(
                directory,
                keys,
                store_dsn=store,
                audit_dsn=audit,
                verify_dsn=admin,
                workers=1,
                sections={"log": {"checkpoint_interval_s": interval}},
            )
            if all(s.port != port for s in servers.values()):
                break
        configs[name] = config
        servers[name] = ProxyProcess(config, port, directory / "serve.log")
    a, b = servers["A"], servers["B"]
    oversight = keys.token("ig.scale", CHP, ["oversight"])
    try:
        await asyncio.gather(a.start(), b.start())
        async with (
            Load(a.url, _users(keys), concurrency=0, seed=11) as load_a,
            Load(b.url, _users(keys), concurrency=0, seed=23) as load_b,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http,
        ):
            # Both instances at once.
            answered_a, answered_b = await asyncio.gather(
                _searches(load_a, SEARCHES_PER_INSTANCE, CONCURRENCY_PER_INSTANCE, "A"),
                _searches(load_b, SEARCHES_PER_INSTANCE, CONCURRENCY_PER_INSTANCE, "B"),
            )
            concurrent = answered_a + answered_b
            outcomes = Counter((ex.tag, ex.kind, ex.status, ex.code) for ex in concurrent)
            want = {("allowed", 200, None), ("refused", 403, "purpose_prohibited")}
            assert {o[1:] for o in outcomes} <= want, outcomes
            for tag in ("A", "B"):  # each instance answered both kinds
                assert {o[1:] for o in outcomes if o[0] == tag} == want, outcomes
            indexes = [_index_of(ex) for ex in concurrent]
            assert None not in indexes, "an answer names no audit index"
            assert len(set(indexes)) == len(indexes), "an audit index was handed out twice"

            # The log API of one instance serves, and proves, what the other wrote.
            rid = {_index_of(ex): ex.header_request_id for ex in concurrent}
            ia = max(_allowed_indexes(answered_a))
            ib = max(_allowed_indexes(answered_b))
            body_a = await _get(http, f"{b.url}/v1/log/entries/{ia}", oversight)
            body_b = await _get(http, f"{a.url}/v1/log/entries/{ib}", oversight)
            assert b'"request_id":"' + str(rid[ia]).encode() + b'"' in body_a
            assert b'"request_id":"' + str(rid[ib]).encode() + b'"' in body_b
            _, cp = await _checkpoint_covering(http, a.url, max(ia, ib) + 1, keys.log_verifier)
            for index, body, url in ((ia, body_a, b.url), (ib, body_b, a.url)):
                raw = await _get(http, f"{url}/v1/log/proof/inclusion?index={index}&size={cp.size}")
                proof = verify.parse_inclusion_proof(raw)
                verify.verify_inclusion(
                    verify.hash_leaf(body), index, cp.size, proof.hashes, cp.root_hash
                )

            # A stops: its final checkpoint covers the whole log (B is idle and checkpoints
            # only at start and stop, so this one is A's).
            assert await a.terminate() == 0, a.tail()
            size_a, checkpointed = await _sizes(admin)
            assert checkpointed == size_a
            note_a = await _checkpoint_row(admin, size_a)

            # B goes on alone, proves the log it extends, and stops: its final checkpoint.
            late = await _searches(load_b, LATE_SEARCHES, LATE_SEARCHES, "B late")
            assert {(ex.status, ex.code) for ex in late} <= {
                (200, None),
                (403, "purpose_prohibited"),
            }, late
            size_b, _ = await _sizes(admin)
            assert size_b == size_a + LATE_SEARCHES
            raw = await _get(http, f"{b.url}/v1/log/proof/consistency?old={size_a}&size={size_b}")
            consistency = verify.parse_consistency_proof(raw)
            assert await b.terminate() == 0, b.tail()
        assert (await _sizes(admin)) == (size_b, size_b), "B's final checkpoint is missing"
        note_b = await _checkpoint_row(admin, size_b)
        cp_a = verify.verify_checkpoint(note_a, keys.log_verifier)
        cp_b = verify.verify_checkpoint(note_b, keys.log_verifier)
        assert (cp_a.size, cp_b.size) == (size_a, size_b)
        verify.verify_consistency(
            size_a, size_b, cp_a.root_hash, cp_b.root_hash, consistency.hashes
        )

        # Every answer against the log: gapless, each answered index holds its request's
        # entry (same request id, subject, agency, query, reads returned), none twice.
        records = load_a.records + load_b.records
        totals = await check_against_log(records, admin)
        assert totals.entries_matched == len(records) == 2 * SEARCHES_PER_INSTANCE + LATE_SEARCHES
        entries = await log_entries(admin)
        assert sorted(entries) == list(range(size_b))
        events = Counter(e["event"] for e in entries.values())
        # The servers' own entries: one policy_loaded per instance at start, one audit_access
        # per entry read through the log API.
        assert events == {"search": len(records), "policy_loaded": 2, "audit_access": 2}, events
        assert len(entries) == len(records) + 2 + 2

        # Interleaved: in index order, the concurrent searches' entries switch between the
        # two instances many times (neither wrote all its batches before the other).
        instance = {ex.header_request_id: ex.tag for ex in concurrent}
        labels = [
            instance[e["request_id"]]
            for _, e in sorted(entries.items())
            if e.get("request_id") in instance
        ]
        assert len(labels) == len(concurrent)
        runs = _runs(labels)
        assert runs["A"] >= 3 and runs["B"] >= 3, f"not interleaved: runs {dict(runs)}"

        # Offline: the whole log, every stored checkpoint, and B's final one kept outside.
        kept = tmp_path / "checkpoint-b.txt"
        kept.write_bytes(note_b)
        rc, out = audit_verify(configs["A"], keys.log_verifier, checkpoint=kept)
        assert rc == 0, out
        assert f"OK: {size_b} entries" in out, out
        assert f"external checkpoint at size {size_b} verified" in out, out
    finally:
        await asyncio.gather(a.close(), b.close())
