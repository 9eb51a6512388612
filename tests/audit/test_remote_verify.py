"""`audit verify --url` as a library (proxy.audit.remote) against the real app on a real audit
database: a good log, a flipped byte, a rollback caught by --state, the witness quorum, a wrong
token, and verification in bounded memory."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from proxy.audit.checkpoint import load_signer
from proxy.audit.note import generate_signer_key, sign_checkpoint
from proxy.audit.remote import EntryError, RemoteOptions, verify_remote
from proxy.audit.remote_checks import QuorumError, RollbackError, check_extends
from proxy.audit.remote_fetch import RemoteSetupError
from proxy.audit.verify import Checkpoint, Verifier, parse_checkpoint
from proxy.audit.verify_state import VerifiedState, load_state, save_state
from proxy.witness.cosignature import CosignatureVerifier
from tests.audit.remote_env import (
    OVERSIGHT,
    Proxy,
    as_superuser,
    checkpoint_at_least,
    cosign,
    fill,
    front,
    log_size,
    log_witnesses,
    url_of,
)
from tests.conftest import LOG_ORIGIN
from tests.http import conftest as http_fixtures

ROOT = Path(__file__).resolve().parents[2]
make_client = http_fixtures.make_client  # the real app on the session's databases
seeded_store = http_fixtures.seeded_store


@pytest.fixture
async def proxy(make_client, dbs, log_keys) -> Proxy:  # type: ignore[no-untyped-def]
    admin, dsn = await dbs.fresh_audit()
    await fill(dsn, log_keys[0], 2500)
    client = await make_client(audit_dsn=dsn)
    made = Proxy(client, admin, url_of(client))
    await checkpoint_at_least(made, 2501)  # the filled entries and the app's policy_loaded
    return made


def options(url: str, token: str, vkey: str, **kw: Any) -> RemoteOptions:
    return RemoteOptions(url=url, token=token, key=Verifier.from_key(vkey), **kw)


def size_of(note: bytes) -> int:
    return parse_checkpoint(note[: note.index(b"\n\n") + 1]).size


async def test_a_good_log_verifies(proxy: Proxy, make_token, log_keys, tmp_path: Path):
    state = tmp_path / "state.json"
    opts = options(proxy.url, make_token(**OVERSIGHT), log_keys[1], state=state)
    before = await log_size(proxy.admin)
    seen: list[tuple[int, int]] = []
    report = await verify_remote(opts, progress=lambda d, t: seen.append((d, t)))
    assert report.size >= 2501 and report.remembered is None
    assert seen[-1] == (report.size, report.size) and len(seen) == 1
    # One audit_access entry per range request: one range, one beyond the checkpoint.
    assert await log_size(proxy.admin) == before + 2
    assert report.unwitnessed == before - report.size + 1  # the first request's own entry too
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    remembered = load_state(state, Verifier.from_key(log_keys[1]))
    assert remembered is not None and (remembered.size, remembered.root) == (
        report.size,
        report.root,
    )
    await checkpoint_at_least(proxy, report.size + 2)
    again = await verify_remote(opts)
    assert again.remembered == report.size and again.size > report.size


async def test_a_flipped_byte_names_its_index(proxy: Proxy, make_token, log_keys):
    # One byte of entry 1234 (its request id r1234 -> r1235): same length, still valid JSON.
    await as_superuser(
        proxy.admin,
        "UPDATE audit.entries SET body = convert_to(replace(convert_from(body, 'UTF8'),"
        " '\"r1234\"', '\"r1235\"'), 'UTF8') WHERE idx = 1234",
    )
    with pytest.raises(EntryError) as caught:
        await verify_remote(options(proxy.url, make_token(**OVERSIGHT), log_keys[1]))
    assert caught.value.index == 1234
    assert "entry 1234" in str(caught.value) and "expected root" in str(caught.value)


async def test_a_rollback_is_caught_by_state(
    proxy: Proxy, make_token, log_keys, make_client, tmp_path: Path
):
    state = tmp_path / "state.json"
    token = make_token(**OVERSIGHT)
    first = await verify_remote(options(proxy.url, token, log_keys[1], state=state))
    await proxy.client.close()  # stop the proxy
    cut = first.size - 25  # the attacker drops the newest 25 entries and their checkpoints
    await as_superuser(
        proxy.admin,
        ("DELETE FROM audit.entry_facts WHERE idx >= $1", cut),
        ("DELETE FROM audit.entries WHERE idx >= $1", cut),
        ("DELETE FROM audit.checkpoints WHERE size >= $1", cut),
    )
    await fill(proxy.admin, log_keys[0], 0)  # re-sign the shorter history with the real key
    client = await make_client(audit_dsn=proxy.admin)  # restart on the rewritten database
    again = Proxy(client, proxy.admin, url_of(client))
    await checkpoint_at_least(again, cut + 1)
    with pytest.raises(RollbackError) as caught:
        await verify_remote(options(again.url, token, log_keys[1], state=state))
    message = str(caught.value)
    assert f"remembered checkpoint (size {first.size}" in message
    assert "served checkpoint (size" in message and "rollback" in message
    # The state still holds the checkpoint it verified: a failed run never overwrites it.
    kept = load_state(state, Verifier.from_key(log_keys[1]))
    assert kept is not None and kept.size == first.size
    # Without --state nothing catches it: the rewritten log is self-consistent.
    assert (await verify_remote(options(again.url, token, log_keys[1]))).size < first.size


async def test_the_quorum_of_real_witnesses(proxy: Proxy, make_token, log_keys, tmp_path: Path):
    token = make_token(**OVERSIGHT)
    async with log_witnesses(tmp_path, log_keys[1], 3) as ws:
        note, t = await cosign(await proxy.note(), log_keys[1], ws[:2])
        keys = tuple(CosignatureVerifier.from_vkey(w.signer.vkey) for w in ws)
        async with front(proxy, note) as url:
            two = options(url, token, log_keys[1], witnesses=keys[:2], quorum=2)
            report = await verify_remote(two, now=t + 5)
            assert report.size == size_of(note)
            assert set(report.cosigners) == {ws[0].signer.name, ws[1].signer.name}
            # A third witness never cosigned: a quorum of three fails, naming the checkpoint.
            three = options(url, token, log_keys[1], witnesses=keys, quorum=3)
            with pytest.raises(QuorumError, match=f"checkpoint \\(size {report.size}") as caught:
                await verify_remote(three, now=t + 5)
            assert caught.value.found == 2 and ws[2].signer.name in str(caught.value)
            # Stale: older than --max-age; and from the future.
            with pytest.raises(QuorumError, match="older than 3600s"):
                await verify_remote(two, now=t + 3601)
            with pytest.raises(QuorumError, match="in the future"):
                await verify_remote(two, now=t - 3600)
            # Two names for one key are one witness.
            same = options(url, token, log_keys[1], witnesses=(keys[0], keys[0]), quorum=2)
            with pytest.raises(QuorumError):
                await verify_remote(same, now=t + 5)


async def test_a_wrong_token_or_url_is_not_tampering(proxy: Proxy, make_token, log_keys):
    investigator = make_token()
    with pytest.raises(RemoteSetupError, match=r"403.*--token"):
        await verify_remote(options(proxy.url, investigator, log_keys[1]))
    with pytest.raises(RemoteSetupError, match="401"):
        await verify_remote(options(proxy.url, "not-a-token", log_keys[1]))
    with pytest.raises(RemoteSetupError, match="404"):
        await verify_remote(options(proxy.url + "/nope", make_token(**OVERSIGHT), log_keys[1]))
    _, foreign = generate_signer_key(LOG_ORIGIN)  # same name, another key
    with pytest.raises(RemoteSetupError, match="no signature by --key"):
        await verify_remote(options(proxy.url, make_token(**OVERSIGHT), foreign))


_CHILD = """
import asyncio, json, sys, tracemalloc
from proxy.audit.remote import RemoteOptions, verify_remote
from proxy.audit.verify import Verifier
url, token, vkey = sys.argv[1:4]
tracemalloc.start()
options = RemoteOptions(url=url, token=token, key=Verifier.from_key(vkey))
report = asyncio.run(verify_remote(options))
print(json.dumps({"size": report.size, "peak": tracemalloc.get_traced_memory()[1]}))
"""


async def test_thirty_thousand_entries_in_bounded_memory(make_client, dbs, log_keys, make_token):
    admin, dsn = await dbs.fresh_audit()
    pad = 1000  # ~1.3 KB an entry: ~40 MB for the whole log
    await fill(dsn, log_keys[0], 30_000, pad=pad)
    client = await make_client(audit_dsn=dsn)
    proxy = Proxy(client, admin, url_of(client))
    await checkpoint_at_least(proxy, 30_001)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = await asyncio_subprocess(
        sys.executable, "-c", _CHILD, proxy.url, make_token(**OVERSIGHT), log_keys[1], env=env
    )
    result = json.loads(child)
    assert result["size"] >= 30_001
    bound = 8 * 1024 * 1024  # the whole log is 30,000 * ~1.3 KB = ~40 MB
    assert 30_000 * pad > 3 * bound
    assert result["peak"] < bound, result


async def asyncio_subprocess(*args: str, env: dict[str, str]) -> str:
    """Run a child process while this event loop keeps serving the proxy it talks to."""
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_a_missing_entry_names_its_index(proxy: Proxy, make_token, log_keys):
    await as_superuser(
        proxy.admin,
        ("DELETE FROM audit.entry_facts WHERE idx = $1", 600),
        ("DELETE FROM audit.entries WHERE idx = $1", 600),
    )
    with pytest.raises(EntryError, match="entry 600: missing") as caught:
        await verify_remote(options(proxy.url, make_token(**OVERSIGHT), log_keys[1]))
    assert caught.value.index == 600


async def test_a_remembered_checkpoint_of_another_history(
    proxy: Proxy, make_token, log_keys, tmp_path: Path
):
    """A smaller remembered checkpoint whose root the served log does not extend (the log was
    rewritten below it): the consistency proof fails, naming both checkpoints."""
    signer = load_signer(log_keys[0])
    note = sign_checkpoint(signer.name, 10, b"\x01" * 32, signer)
    state = tmp_path / "state.json"
    save_state(state, VerifiedState(signer.name, 10, b"\x01" * 32, note))
    opts = options(proxy.url, make_token(**OVERSIGHT), log_keys[1], state=state)
    with pytest.raises(RollbackError, match="fails the consistency proof") as caught:
        await verify_remote(opts)
    assert "remembered checkpoint (size 10, root AQEB" in str(caught.value)


async def test_the_same_size_with_another_root_is_a_rollback():
    served = Checkpoint(LOG_ORIGIN, 7, b"\x02" * 32)
    remembered = VerifiedState(LOG_ORIGIN, 7, b"\x03" * 32, b"")
    with pytest.raises(RollbackError, match="has the size but not the root of"):
        await check_extends(None, remembered, served)  # type: ignore[arg-type]  # not asked
    await check_extends(None, VerifiedState(LOG_ORIGIN, 7, b"\x02" * 32, b""), served)  # type: ignore[arg-type]
