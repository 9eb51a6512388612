"""add-checkpoint over HTTP: every status of c2sp.org/tlog-witness, in its order of precedence.

Each refusal is provoked by a request that also breaks every rule checked after it, so the test
fails if the witness checks in another order. Cosignatures are checked by the independent
implementation in c2sp_ref.py, never by the package's own verifier."""

from __future__ import annotations

import base64
import sqlite3

import pytest

from proxy.witness.state import WitnessState
from tests.witness import c2sp_ref as ref
from tests.witness.conftest import (
    FIXED_TIME,
    ORIGIN,
    Log,
    Witness,
    request_body,
    submission,
)

BAD_PROOF = [b"\x07" * 32] * 3
SIZE_TYPE = "text/x.tlog.size"


def unsigned_note(log: Log, size: int) -> str:
    return ref.signed_note(log.body(size), ref.LogKey(ORIGIN).sign_line(log.body(size)))


async def at_size(w: Witness, log: Log, size: int) -> None:
    status, _, text = await w.post(submission(log, 0, size))
    assert status == 200, text


async def test_200_returns_a_cosignature_line_verified_independently(w: Witness, log: Log):
    status, ctype, text = await w.post(submission(log, 0, 10))
    assert status == 200, text
    assert ctype == "text/plain; charset=utf-8"
    lines = text.splitlines(keepends=True)
    assert len(lines) == 1 and lines[0].startswith("\u2014 " + w.signer.name + " ")
    assert ref.verify_cosignature(log.body(10), lines[0], w.signer.vkey) == FIXED_TIME
    # The new state is committed (visible to another connection) before the answer.
    with sqlite3.connect(w.state) as db:
        assert db.execute("SELECT size, root FROM logs").fetchall() == [
            (10, ref.mth(log.data[:10]))
        ]
    # Extending with a proof, and resubmitting the same checkpoint, are both cosigned.
    for old, size in ((10, 37), (37, 37)):
        status, _, text = await w.post(submission(log, old, size))
        assert status == 200, text
        assert ref.verify_cosignature(log.body(size), text, w.signer.vkey) == FIXED_TIME


async def test_cosignatures_of_other_witnesses_and_logs_keys_are_ignored(w: Witness, log: Log):
    other = ref.LogKey("someone.else/key")
    body = log.body(5)
    note = ref.signed_note(body, other.sign_line(body), log.key.sign_line(body))
    status, _, text = await w.post(request_body(0, [], note))
    assert status == 200, text


async def test_404_unknown_origin_before_everything_else(w: Witness, log: Log):
    other = Log(ref.LogKey("example.org/other-log"), log.data)
    # Unknown origin, signed by nobody we trust, old > size, 64 proof lines: 404 wins.
    body = request_body(50, BAD_PROOF * 22, unsigned_note(other, 10))
    status, _, text = await w.post(body)
    assert status == 404, text


@pytest.mark.parametrize(
    "case", ["unknown key", "bad signature", "no signature", "same name other key", "garbage"]
)
async def test_403_without_a_valid_log_signature_before_400_409_422(
    w: Witness, log: Log, case: str
):
    await at_size(w, log, 10)
    body = log.body(20)
    good = log.key.sign_line(body)
    raw = bytearray(base64.b64decode(good.split(" ")[-1]))
    raw[-1] ^= 1
    notes = {
        "unknown key": ref.signed_note(body, ref.LogKey("not.the/log").sign_line(body)),
        "bad signature": ref.signed_note(
            body, f"\u2014 {ORIGIN} {base64.b64encode(raw).decode()}\n"
        ),
        "no signature": body + "\n",
        "same name other key": unsigned_note(log, 20),
        "garbage": body + "\n\u2014 " + ORIGIN + " !!!\n",
    }
    # Also old > size (400), wrong old size (409) and a bad proof (422), or a malformed old
    # size line, or 64 proof lines: 403 wins over all of them.
    for old, proof in ((25, BAD_PROOF), ("olde 5", []), (5, BAD_PROOF * 22)):
        status, _, text = await w.post(request_body(old, proof, notes[case]))
        assert status == 403, (old, text)


@pytest.mark.parametrize(
    "header",
    [
        "old 15",  # old size > checkpoint size (and != the witness's 10: 409 loses)
        "old 05",
        "old -5",
        "old  5",
        "olde 5",
        "old 5\r",
        "old 99999999999999999999",
        "old 5\n" + "\n".join([base64.b64encode(b"\x07" * 32).decode()] * 64),
        "old 5\n!!notbase64!!",
        "old 5\n" + base64.b64encode(b"\x07" * 31).decode(),
    ],
)
async def test_400_malformed_before_409_and_422(w: Witness, log: Log, header: str):
    await at_size(w, log, 10)
    body = (header + "\n\n" + log.note(12)).encode()
    status, _, text = await w.post(body)
    assert status == 400, text


async def test_400_missing_blank_line_and_malformed_checkpoint(w: Witness, log: Log):
    assert (await w.post(b"old 0\n" + log.note(3).encode().replace(b"\n\n", b"\n")))[0] == 400
    body = f"{ORIGIN}\n3\nnot-base64\n"
    note = ref.signed_note(body, log.key.sign_line(body))
    status, _, text = await w.post(request_body(0, [], note))
    assert status == 400, text


async def test_exactly_63_proof_lines_are_not_malformed(w: Witness, log: Log):
    await at_size(w, log, 10)
    status, _, _ = await w.post(request_body(10, BAD_PROOF[:1] * 63, log.note(12)))
    assert status == 422  # parsed, then the proof fails: 63 lines are allowed


async def test_409_wrong_old_size_before_422_with_the_witness_size(w: Witness, log: Log):
    await at_size(w, log, 10)
    for old in (0, 5, 11):
        status, ctype, text = await w.post(request_body(old, BAD_PROOF, log.note(20)))
        assert (status, ctype, text) == (409, SIZE_TYPE, "10\n")


async def test_409_same_size_other_root_is_a_fork(w: Witness, log: Log):
    await at_size(w, log, 10)
    fork = Log(log.key, [b"rewritten", *log.data[1:]])
    status, ctype, text = await w.post(request_body(10, [], fork.note(10)))
    assert (status, ctype, text) == (409, SIZE_TYPE, "10\n")
    state = WitnessState.open(w.state)
    try:
        assert state.evidence_count() == 1  # the signed fork is kept as evidence
    finally:
        state.close()


@pytest.mark.parametrize("old", [0, 10])
async def test_409_tells_a_fresh_client_the_size(w: Witness, log: Log, old: int):
    status, ctype, text = await w.post(request_body(old + 3, [], log.note(old + 3)))
    assert (status, ctype, text) == (409, SIZE_TYPE, "0\n")


async def test_422_bad_consistency_proofs(w: Witness, log: Log):
    await at_size(w, log, 10)
    good = log.proof(10, 20)
    fork = Log(log.key, [*log.data[:5], b"rewritten", *log.data[6:]])  # rewrites entry 5 < 10
    for proof, note in (
        (BAD_PROOF, log.note(20)),  # wrong hashes
        (good[:-1], log.note(20)),  # too short
        ([*good, good[0]], log.note(20)),  # too long
        (good, fork.note(20)),  # a valid proof, for another tree
        (fork.proof(10, 20), fork.note(20)),  # the fork's own proof: not from our root
        ([b"\x00" * 32], log.note(10)),  # the same size needs an empty proof
    ):
        status, _, text = await w.post(request_body(10, proof, note))
        assert status == 422, (text, len(proof))
    state = WitnessState.open(w.state)
    try:
        assert state.get(ORIGIN) is not None and state.get(ORIGIN).size == 10  # type: ignore[union-attr]
        assert state.evidence_count() == 6
    finally:
        state.close()


async def test_422_proof_from_old_size_zero_must_be_empty(w: Witness, log: Log):
    status, _, text = await w.post(request_body(0, log.proof(1, 5)[:1], log.note(5)))
    assert status == 422, text
    status, _, text = await w.post(submission(log, 0, 5))
    assert status == 200, text


async def test_state_never_moves_backwards_or_sideways(w: Witness, log: Log):
    await at_size(w, log, 40)
    assert (await w.post(submission(log, 0, 30)))[:3:2] == (409, "40\n")
    assert (await w.post(submission(log, 20, 30)))[:3:2] == (409, "40\n")
    assert (await w.post(submission(log, 40, 41)))[0] == 200


async def test_other_methods_and_paths(w: Witness):
    async with w.session.get(f"{w.url}/add-checkpoint") as resp:
        assert resp.status == 405
    async with w.session.post(f"{w.url}/add-checkpoint/", data=b"") as resp:
        assert resp.status == 404
    async with w.session.post(f"{w.url}/add-checkpoint", data=b"x" * 70_000) as resp:
        assert resp.status == 413


@pytest.fixture
def w(witness: Witness) -> Witness:
    return witness
