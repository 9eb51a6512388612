"""Interop with Go: golang.org/x/mod/sumdb/note opens a cosigned checkpoint with the log key
alone, a Go implementation of cosignature/v1 verifies the witness's lines, and the consistency
proofs Go's tlog produces are accepted by the witness."""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
from pathlib import Path

import pytest

from proxy.audit.note import Signer, sign_checkpoint
from proxy.witness.signer import WitnessSigner
from tests.gobuild import build_go
from tests.witness import c2sp_ref as ref
from tests.witness.conftest import (
    FIXED_TIME,
    ORIGIN,
    WITNESS_NAME,
    Log,
    Witness,
    request_body,
    running_witness,
    write_config,
)

SOURCE = Path(__file__).parent / "go" / "interop.go"


@pytest.fixture(scope="module")
def interop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_go(SOURCE, tmp_path_factory.mktemp("go"))


def go(binary: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


async def test_go_tlog_consistency_proofs_are_accepted(interop: Path, witness: Witness, log: Log):
    chain = [1, 2, 3, 5, 8, 13, 16, 17, 21, 34, 55, 64, 89, 100, 100, 120]
    pairs = [f"{m},{n}" for m, n in itertools.pairwise(chain)]
    result = go(interop, "proofs", "120", *pairs)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    roots = {int(k): base64.b64decode(v) for k, v in out["roots"].items()}
    assert roots[120] == ref.mth(log.data)  # Go's tlog hashes the same entries the same way
    old = 0
    for size in chain:
        body = ref.checkpoint_body(ORIGIN, size, roots[size])
        note = ref.signed_note(body, log.key.sign_line(body))
        proof = [] if old == 0 else [base64.b64decode(h) for h in out["proofs"][f"{old},{size}"]]
        status, _, text = await witness.post(request_body(old, proof, note))
        assert status == 200, (old, size, text)
        assert ref.verify_cosignature(body, text, witness.signer.vkey) == FIXED_TIME
        old = size


async def test_cosigned_checkpoint_opens_with_go_and_the_log_key_alone(
    interop: Path, tmp_path: Path, log: Log
):
    # The proxy's own log signer and two witnesses, each on its own socket and state.
    log_signer = Signer.from_seed(ORIGIN, b"\x11" * 32)
    root = ref.mth(log.data[:42])
    note = sign_checkpoint(ORIGIN, 42, root, log_signer).decode()
    body = note[: note.index("\n\n") + 1]
    lines = []
    witnesses = [WitnessSigner.generate(WITNESS_NAME), WitnessSigner.generate("board.example/w")]
    for i, signer in enumerate(witnesses):
        (tmp_path / str(i)).mkdir()
        config = write_config(tmp_path / str(i), signer, [log_signer.verifier_key])
        async with running_witness(config, signer) as w:
            status, _, text = await w.post(request_body(0, [], note))
        assert status == 200, text
        lines.append(text)
    cosigned = note + "".join(lines)
    result = go(interop, "open", log_signer.verifier_key, stdin=cosigned)
    assert result.returncode == 0, result.stderr
    assert result.stdout == body
    assert result.stderr == "verified 1 unverified 2\n"
    for signer in witnesses:
        result = go(interop, "cosig", signer.vkey, stdin=cosigned)
        assert result.returncode == 0, result.stderr
        assert ref.verify_cosignature(body, lines[witnesses.index(signer)], signer.vkey) == int(
            result.stdout
        )
    # A flipped bit in a cosignature: Go's check must notice (the Go side is not vacuous).
    bad = cosigned[:-5] + ("A" if cosigned[-5] != "A" else "B") + cosigned[-4:]
    result = go(interop, "cosig", witnesses[1].vkey, stdin=bad)
    assert (result.returncode, result.stderr) == (1, "cosignature does not verify\n")
