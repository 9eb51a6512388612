"""`alpr-proxy audit verify --url` as oversight runs it: a subprocess against the real app on a
real audit database, its exit codes (0 verified, 1 does not verify, 2 could not run) and its
one-line answers."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from proxy.audit.checkpoint import load_signer
from proxy.audit.note import sign_checkpoint
from proxy.audit.verify_state import VerifiedState, save_state
from proxy.cli.verify_remote import UsageError, parse_duration
from tests.audit.remote_env import (
    OVERSIGHT,
    Proxy,
    as_superuser,
    checkpoint_at_least,
    cosign,
    fill,
    front,
    log_witnesses,
    url_of,
)
from tests.http import conftest as http_fixtures

ROOT = Path(__file__).resolve().parents[2]
make_client = http_fixtures.make_client  # the real app on the session's databases
seeded_store = http_fixtures.seeded_store


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


async def verify(*args: str) -> Run:
    """The CLI in a child process, while this event loop keeps serving the proxy."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "audit", "verify", *args,
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


@pytest.fixture
async def proxy(make_client, dbs, log_keys) -> Proxy:  # type: ignore[no-untyped-def]
    admin, dsn = await dbs.fresh_audit()
    await fill(dsn, log_keys[0], 300)
    client = await make_client(audit_dsn=dsn)
    made = Proxy(client, admin, url_of(client))
    await checkpoint_at_least(made, 301)
    return made


async def test_a_good_log_then_state(proxy: Proxy, make_token, log_keys, tmp_path: Path):
    state, token_file = tmp_path / "state.json", tmp_path / "token"
    token_file.write_text(make_token(**OVERSIGHT) + "\n")
    common = ("--url", proxy.url, "--key", log_keys[1], "--state", str(state))
    first = await verify(*common, "--token-file", str(token_file))
    assert first.code == 0, first
    assert first.out.startswith("OK: ") and "unwitnessed" in first.out
    assert first.err == ""  # progress only on a terminal
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    second = await verify(*common, "--token", make_token(**OVERSIGHT))
    assert second.code == 0 and "extends the remembered checkpoint" in second.out, second


async def test_a_flipped_byte_is_one_line_naming_the_index(proxy: Proxy, make_token, log_keys):
    await as_superuser(
        proxy.admin,
        "UPDATE audit.entries SET body = convert_to(replace(convert_from(body, 'UTF8'),"
        " '\"r77\"', '\"r78\"'), 'UTF8') WHERE idx = 77",
    )
    run = await verify("--url", proxy.url, "--token", make_token(**OVERSIGHT), "--key", log_keys[1])
    assert run.code == 1, run
    assert run.out.count("\n") == 1 and run.out.startswith("FAILED: entry 77: ")


async def test_a_smaller_checkpoint_than_remembered_is_a_rollback(
    proxy: Proxy, make_token, log_keys, tmp_path: Path
):
    state = tmp_path / "state.json"
    signer = load_signer(log_keys[0])  # a checkpoint of a larger log this verifier once saw
    note = sign_checkpoint(signer.name, 5000, b"\x07" * 32, signer)
    save_state(state, VerifiedState(signer.name, 5000, b"\x07" * 32, note))
    run = await verify(
        "--url", proxy.url, "--token", make_token(**OVERSIGHT), "--key", log_keys[1],
        "--state", str(state),
    )  # fmt: skip
    assert run.code == 1, run
    assert run.out.startswith("FAILED: rollback: the served checkpoint (size ")
    assert "remembered checkpoint (size 5000, root BwcH" in run.out


async def test_configuration_mistakes_exit_2_never_tampering(
    proxy: Proxy, make_token, log_keys, tmp_path: Path
):
    good = make_token(**OVERSIGHT)
    key = ("--key", log_keys[1])
    cases = [
        (("--url", proxy.url, "--token", "garbage", *key), "401"),
        (("--url", proxy.url, "--token", make_token(), *key), "403"),
        (("--url", proxy.url + "/x", "--token", good, *key), "404"),
        (("--url", "http://127.0.0.1:9", "--token", good, *key), "cannot reach"),
        (("--url", proxy.url, "--token", good), "--key"),
        (("--url", proxy.url, *key), "exactly one of --token"),
        (("--url", proxy.url, "--token", good, "--token-file", "t", *key), "exactly one"),
        (("--url", proxy.url, "--token-file", str(tmp_path / "none"), *key), "--token-file"),
        (("--url", proxy.url, "--token", good, *key, "--quorum", "1"), "--quorum 1"),
        (("--url", proxy.url, "--token", good, *key, "--max-age", "soon"), "--max-age"),
        (("--url", proxy.url, "--token", good, *key, "--witness", "x+1+2"), "--witness"),
        (("--url", proxy.url, "--config", "c.toml", "--token", good, *key), "alternatives"),
        ((*key,), "--config FILE"),
        (("--config", "c.toml", "--state", "s"), "--state needs --url"),
        (("--url", "ftp://x", "--token", good, *key), "http://"),
    ]
    for args, says in cases:
        run = await verify(*args)
        assert run.code == 2 and says in run.err and "FAILED" not in run.out, (args, run)


async def test_the_quorum_on_the_command_line(proxy: Proxy, make_token, log_keys, tmp_path: Path):
    token = make_token(**OVERSIGHT)
    async with log_witnesses(tmp_path, log_keys[1], 3) as ws:
        note, _ = await cosign(await proxy.note(), log_keys[1], ws[:2])
        vkeys = [arg for w in ws for arg in ("--witness", w.signer.vkey)]
        async with front(proxy, note) as url:
            base = ("--url", url, "--token", token, "--key", log_keys[1])
            run = await verify(*base, *vkeys[:4])
            assert run.code == 0 and "cosigned by oversight.example.gov/witness" in run.out, run
            run = await verify(*base, *vkeys, "--quorum", "2", "--max-age", "30m")
            assert run.code == 0, run
            run = await verify(*base, *vkeys)  # all three by default: one never cosigned
            assert run.code == 1 and run.out.startswith("FAILED: checkpoint (size "), run
            assert "2 valid cosignatures from distinct witness keys, 3 required" in run.out


def test_durations():
    assert [parse_duration(d) for d in ("90s", "30m", "1h", "2d", "45")] == [
        90,
        1800,
        3600,
        172800,
        45,
    ]
    for bad in ("", "0", "1.5h", "-1m", "1w", "h"):
        with pytest.raises(UsageError):
            parse_duration(bad)
