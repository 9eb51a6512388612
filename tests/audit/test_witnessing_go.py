"""The note the proxy serves, cosigned by real witnesses through the pool, opens with Go's
golang.org/x/mod/sumdb/note and the log key alone; each witness line checks in Go."""

from __future__ import annotations

from pathlib import Path

from proxy.audit.note import Signer
from proxy.audit.witnessing import MemoryCosignatureStore
from proxy.witness.pool import WitnessPool
from proxy.witness.signer import WitnessSigner
from tests.audit.witnessing_env import ORIGIN, MemLog, witnesses
from tests.witness.test_witness_go_interop import go, interop

SIGNER = Signer.from_seed(ORIGIN, b"\x09" * 32)
__all__ = ["interop"]  # the Go build fixture, shared with the witness tests


async def test_served_note_opens_in_go_with_the_log_key_alone(interop: Path, tmp_path: Path):
    log = MemLog(SIGNER)
    log.grow(40)
    store = MemoryCosignatureStore()
    async with witnesses(tmp_path, SIGNER.verifier_key, 3, running=2) as ws:
        pool = WitnessPool(
            [w.endpoint() for w in ws], 2, log, store, max_unwitnessed_s=60, timeout_s=2.0
        )
        try:
            cp = log.grow(2)
            await pool.submit(cp)
            # An older valid cosignature by witness 0, and one by a key that is not configured,
            # sit in the store too: still exactly one line per configured witness is served.
            await store.add(cp.size, ws[0].signer.vkey, ws[0].signer.cosign(cp.body, 1))
            rogue = WitnessSigner.generate("rogue.example/w")
            await store.add(cp.size, rogue.vkey, rogue.cosign(cp.body, 1))
        finally:
            await pool.close()
        await pool.load()
        served = pool.witnessed
        assert served is not None and served.size == 42
        note = served.note().decode()
    result = go(interop, "open", SIGNER.verifier_key, stdin=note)
    assert result.returncode == 0, result.stderr
    assert result.stdout == cp.body
    assert result.stderr == "verified 1 unverified 2\n"  # the log's line; two witness lines
    assert note.count("\u2014 ") == 3
    for w in ws[:2]:
        result = go(interop, "cosig", w.signer.vkey, stdin=note)
        assert result.returncode == 0, result.stderr
    result = go(interop, "cosig", ws[2].signer.vkey, stdin=note)  # the witness that was down
    assert result.returncode == 1
