"""The witness's memory: racing submissions never roll it back, a restart keeps it, and a
corrupt or foreign state file stops the witness with a clear error."""

from __future__ import annotations

import asyncio
import itertools
import random
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from proxy.audit.verify import Verifier
from proxy.witness.request import Refusal, parse_submission
from proxy.witness.signer import WitnessSigner
from proxy.witness.state import StateError, WitnessState
from tests.witness.conftest import ORIGIN, Log, running_witness, submission

SIZES = [0, 1, 2, 3, 5, 8, 13, 21, 34, 40, 55, 64, 77, 89, 100, 101, 119, 120]


def interleaved(seed: int, count: int) -> list[tuple[int, int]]:
    """(old, new) pairs over SIZES, many of them racing for the same old size."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        i = rng.randrange(len(SIZES) - 1)
        pairs.append((SIZES[i], SIZES[rng.randrange(i + 1, len(SIZES))]))
    return pairs


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_50_concurrent_submissions_never_roll_back(
    config: Path, signer: WitnessSigner, log: Log, seed: int
):
    pairs = interleaved(seed, 50)
    bodies = [submission(log, old, new) for old, new in pairs]
    async with running_witness(config, signer) as w:
        results = await asyncio.gather(*(w.post(b) for b in bodies))
        probe = await w.post(submission(log, 0, 120))
    accepted = sorted(
        (new, old) for (old, new), (st, _, _) in zip(pairs, results, strict=True) if st == 200
    )
    assert accepted, "no submission was accepted"
    assert {st for st, _, _ in results} <= {200, 409}
    # Every accepted submission started exactly where the previous one ended: one chain, so
    # no acceptance was ever checked against a state another request had already moved.
    previous = 0
    for new, old in accepted:
        assert old == previous, (accepted, pairs)
        previous = new
    final = accepted[-1][0]
    # Every 409 reported a size the witness really was at, never a later rollback.
    chain = {0} | {new for new, _ in accepted}
    assert {int(text) for st, _, text in results if st == 409} <= chain
    if final != 120:
        assert probe[0] == 409 and probe[2] == f"{final}\n"
    state = WitnessState.open(config.parent / "witness.db")
    try:
        row = state.get(ORIGIN)
        assert row is not None and row.size == max(final, 120 if probe[0] == 200 else 0)
    finally:
        state.close()


async def test_restart_keeps_state(config: Path, signer: WitnessSigner, log: Log):
    async with running_witness(config, signer) as w:
        assert (await w.post(submission(log, 0, 21)))[0] == 200
    async with running_witness(config, signer) as w:
        assert (await w.post(submission(log, 0, 34)))[::2] == (409, "21\n")
        assert (await w.post(submission(log, 21, 34)))[0] == 200
    async with running_witness(config, signer) as w:
        assert (await w.post(submission(log, 21, 40)))[::2] == (409, "34\n")


async def corrupt_start(config: Path, signer: WitnessSigner) -> str:
    with pytest.raises(StateError) as info:
        async with running_witness(config, signer):
            pytest.fail("the witness started on a corrupt state file")
    message = str(info.value)
    assert "witness.db" in message and "refusing to run" in message and "\n" not in message
    return message


async def test_garbage_state_fails_closed(config: Path, signer: WitnessSigner):
    (config.parent / "witness.db").write_bytes(b"this is not a database, it is a note" * 200)
    assert "unreadable" in await corrupt_start(config, signer)


async def test_empty_state_file_fails_closed(config: Path, signer: WitnessSigner):
    (config.parent / "witness.db").touch()
    assert "empty" in await corrupt_start(config, signer)


async def test_foreign_sqlite_file_fails_closed(config: Path, signer: WitnessSigner):
    with sqlite3.connect(config.parent / "witness.db") as db:
        db.execute("CREATE TABLE logs (origin TEXT, size INTEGER)")
    assert "not a witness state" in await corrupt_start(config, signer)


async def test_damaged_pages_fail_closed(config: Path, signer: WitnessSigner, log: Log):
    async with running_witness(config, signer) as w:
        for old, new in itertools.pairwise(SIZES[:13]):
            assert (await w.post(submission(log, old, new)))[0] == 200
    path = config.parent / "witness.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = db.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    assert len(data) >= 2 * page
    data[page + 8 : 2 * page] = b"\xa5" * (page - 8)  # the first table's page, past its header
    path.write_bytes(bytes(data))
    await corrupt_start(config, signer)


async def test_invalid_record_fails_closed(config: Path, signer: WitnessSigner, log: Log):
    async with running_witness(config, signer) as w:
        assert (await w.post(submission(log, 0, 3)))[0] == 200
    with sqlite3.connect(config.parent / "witness.db") as db:
        db.execute("PRAGMA ignore_check_constraints = ON")
        db.execute("UPDATE logs SET root = x'00'")
    message = await corrupt_start(config, signer)
    assert "CHECK constraint failed in logs" in message or "invalid record" in message


def move_state(config: Path, to: str) -> None:
    config.write_text(config.read_text().replace('state = "witness.db"', f'state = "{to}"'))


async def test_unwritable_location_fails_closed(config: Path, signer: WitnessSigner):
    move_state(config, "missing/dir/w.db")
    with pytest.raises(StateError, match=r"cannot open|unreadable"):
        async with running_witness(config, signer):
            pytest.fail("started")


def test_two_processes_on_one_file_never_roll_it_back(tmp_path: Path, log: Log):
    """Each check reads the file inside its own transaction: no cached size to race on."""
    keys = {ORIGIN: (Verifier.from_key(log.key.vkey),)}
    first, second = (WitnessState.open(tmp_path / "w.db") for _ in range(2))
    try:
        first.advance(parse_submission(submission(log, 0, 20), keys), 1)
        with pytest.raises(Refusal) as info:
            second.advance(parse_submission(submission(log, 0, 10), keys), 2)
        assert (info.value.status, info.value.size) == (409, 20)
        second.advance(parse_submission(submission(log, 20, 30), keys), 3)
        with pytest.raises(Refusal):
            first.advance(parse_submission(submission(log, 20, 25), keys), 4)
        row = first.get(ORIGIN)
        assert row is not None and (row.size, row.updated_at) == (30, 3)
    finally:
        first.close()
        second.close()


def test_threads_on_two_connections_never_roll_it_back(tmp_path: Path, log: Log):
    """The check and the update are one transaction: with two connections (as two witness
    processes on one file) racing in four threads, acceptances still form one chain."""
    keys = {ORIGIN: (Verifier.from_key(log.key.vkey),)}
    states = [WitnessState.open(tmp_path / "w.db") for _ in range(2)]
    pairs = interleaved(7, 400)
    subs = [parse_submission(submission(log, old, new), keys) for old, new in pairs]
    accepted: list[tuple[int, int]] = []

    def worker(k: int) -> None:
        for i in range(k, len(subs), 4):
            try:
                states[k % 2].advance(subs[i], i)
            except Refusal as refusal:
                assert refusal.status == 409
            else:
                accepted.append((pairs[i][1], pairs[i][0]))

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(worker, range(4)))
        previous = 0
        for new, old in sorted(accepted):
            assert old == previous, sorted(accepted)
            previous = new
        row = states[0].get(ORIGIN)
        assert row is not None and row.size == previous
    finally:
        for state in states:
            state.close()


async def test_a_failed_commit_returns_no_cosignature(
    config: Path, signer: WitnessSigner, log: Log
):
    """If the new state cannot be written, the witness answers 500 and signs nothing."""
    async with running_witness(config, signer) as w:
        assert (await w.post(submission(log, 0, 8)))[0] == 200
        add_trigger(config.parent / "witness.db")  # every write to logs now fails
        status, _, text = await w.post(submission(log, 8, 13))
        assert status == 500 and "\u2014" not in text
        drop_trigger(config.parent / "witness.db")
        assert (await w.post(submission(log, 8, 13)))[0] == 200  # nothing was half-written


def add_trigger(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TRIGGER fail BEFORE UPDATE ON logs BEGIN SELECT RAISE(ABORT, 'disk'); END"
        )


def drop_trigger(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER fail")
