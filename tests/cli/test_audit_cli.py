"""`alpr-proxy audit verify` as an auditor runs it: a subprocess against a real audit database."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import orjson
import pytest

from proxy.audit import tree
from proxy.audit.canonical import Record
from proxy.audit.checkpoint import load_signer, make_checkpoint
from proxy.audit.note import Signer, generate_signer_key, sign_note
from proxy.audit.writer import AuditWriter
from proxy.demo.embedded import free_port
from tests.audit.memtree import InMemoryTree
from tests.conftest import LOG_ORIGIN
from tests.pg import Databases

ROOT = Path(__file__).resolve().parents[2]
BODIES = [orjson.dumps({"event": "test", "i": i}) for i in range(120)]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", "audit", "verify", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


async def build(dsn: str, key_file: Path) -> dict[int, bytes]:
    notes = {}
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        writer = AuditWriter(pool)
        await writer.start()
        for lo, hi in ((0, 40), (40, 120)):
            recs = [Record(b) for b in BODIES[lo:hi]]
            await asyncio.gather(*(writer.append(r) for r in recs))
            async with pool.acquire() as conn:
                made = await make_checkpoint(conn, load_signer(key_file), LOG_ORIGIN)
            assert made is not None
            notes[hi] = made.note
        await writer.close()
    return notes


def config(tmp_path: Path, audit_dsn: str, key_file: Path) -> str:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\naudit_dsn = "{audit_dsn}"\n\n'
        f'[log]\nsigning_key_file = "{key_file}"\norigin = "{LOG_ORIGIN}"\n'
    )
    return str(path)


@pytest.fixture
async def setup(
    dbs: Databases, log_keys: tuple[Path, str], tmp_path: Path
) -> tuple[str, str, str, dict[int, bytes]]:
    """(admin dsn, config file, verifier key, checkpoint notes) for a 120-entry log."""
    admin, dsn = await dbs.fresh_audit()
    notes = await build(dsn, log_keys[0])
    return admin, config(tmp_path, dsn, log_keys[0]), log_keys[1], notes


async def test_clean_log_exits_0_with_a_summary(setup: tuple[str, str, str, dict[int, bytes]]):
    _, cfg, vkey, _ = setup
    result = await asyncio.to_thread(run, "--config", cfg, "--key", vkey)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 120 entries and 2 stored checkpoints verified" in result.stdout
    root = base64.b64encode(InMemoryTree(BODIES).root()).decode()
    assert f"root {root}" in result.stdout
    assert "entries/s" in result.stdout
    assert "independent source" not in result.stdout


async def test_without_key_derives_it_and_says_so(setup: tuple[str, str, str, dict[int, bytes]]):
    _, cfg, vkey, _ = setup
    result = await asyncio.to_thread(run, "--config", cfg)
    assert result.returncode == 0, result.stdout + result.stderr
    assert vkey in result.stdout and "pass --key from an independent source" in result.stdout


async def test_external_checkpoint(setup: tuple[str, str, str, dict[int, bytes]], tmp_path: Path):
    _, cfg, vkey, notes = setup
    kept = tmp_path / "checkpoint.txt"
    kept.write_bytes(notes[40])
    result = await asyncio.to_thread(run, "--config", cfg, "--key", vkey, "--checkpoint", str(kept))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "external checkpoint at size 40 verified" in result.stdout
    kept.write_bytes(notes[40].replace(b"\n40\n", b"\n41\n"))
    result = await asyncio.to_thread(run, "--config", cfg, "--key", vkey, "--checkpoint", str(kept))
    assert result.returncode == 1 and "external checkpoint does not verify" in result.stdout


async def test_tampered_entry_exits_1_naming_the_index(
    setup: tuple[str, str, str, dict[int, bytes]],
):
    admin, cfg, vkey, _ = setup
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute("ALTER TABLE audit.entries DISABLE TRIGGER ALL")
        await conn.execute("UPDATE audit.entries SET body = '{}'::bytea WHERE idx = 17")
    finally:
        await conn.close()
    result = await asyncio.to_thread(run, "--config", cfg, "--key", vkey)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED: entry 17:" in result.stdout
    assert "  index: 17" in result.stdout
    stored = base64.b64encode(tree.leaf_hash(BODIES[17])).decode()
    assert f"  stored_hash: {stored}" in result.stdout


async def test_setup_errors_exit_2(
    setup: tuple[str, str, str, dict[int, bytes]], log_keys: tuple[Path, str], tmp_path: Path
):
    _, cfg, _, _ = setup
    bad_key = await asyncio.to_thread(run, "--config", cfg, "--key", "not-a-key")
    assert bad_key.returncode == 2 and "malformed verifier key" in bad_key.stderr
    nowhere = config(tmp_path, f"postgresql://nobody@127.0.0.1:{free_port()}/x", log_keys[0])
    down = await asyncio.to_thread(run, "--config", nowhere, "--key", log_keys[1])
    assert down.returncode == 2 and "cannot connect" in down.stderr
    missing = await asyncio.to_thread(run, "--config", str(tmp_path / "absent.toml"))
    assert missing.returncode == 2


async def test_minimal_auditor_config_takes_the_origin_from_the_key(
    setup: tuple[str, str, str, dict[int, bytes]], tmp_path: Path
):
    admin, _, vkey, _ = setup
    minimal = tmp_path / "auditor.toml"
    minimal.write_text(f'[database]\naudit_dsn = "{admin}"\n')
    result = await asyncio.to_thread(run, "--config", str(minimal), "--key", vkey)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 120 entries and 2 stored checkpoints verified" in result.stdout


async def test_wrong_origin_is_a_configuration_error_not_tampering(
    setup: tuple[str, str, str, dict[int, bytes]], log_keys: tuple[Path, str], tmp_path: Path
):
    admin, _, vkey, _ = setup
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(
        f'[database]\naudit_dsn = "{admin}"\n[log]\norigin = "elsewhere.example/log"\n'
    )
    result = await asyncio.to_thread(run, "--config", str(wrong), "--key", vkey)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "FAILED" not in result.stdout
    (line,) = result.stderr.splitlines()
    assert "log.origin is 'elsewhere.example/log'" in line and repr(LOG_ORIGIN) in line


async def test_key_of_another_log_is_a_configuration_error_not_tampering(
    setup: tuple[str, str, str, dict[int, bytes]], tmp_path: Path
):
    _, cfg, vkey, _ = setup
    _, other = generate_signer_key("elsewhere.example/log")
    result = await asyncio.to_thread(run, "--config", cfg, "--key", other)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "FAILED" not in result.stdout
    (line,) = result.stderr.splitlines()
    assert line.startswith("alpr-proxy audit verify: --key: key elsewhere.example/log+")
    assert f"signed by {'+'.join(vkey.split('+')[:2])})" in line


async def test_one_checkpoint_signed_by_another_key_is_still_tampering(
    setup: tuple[str, str, str, dict[int, bytes]],
):
    admin, cfg, vkey, notes = setup
    skey, _ = generate_signer_key(LOG_ORIGIN)
    body = notes[40].decode().split("\n\n")[0] + "\n"
    forged = sign_note(body, Signer.from_private_key(skey)).decode()
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute("ALTER TABLE audit.checkpoints DISABLE TRIGGER ALL")
        await conn.execute("UPDATE audit.checkpoints SET note = $1 WHERE size = 40", forged)
    finally:
        await conn.close()
    result = await asyncio.to_thread(run, "--config", cfg, "--key", vkey)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED: checkpoint 40 does not verify" in result.stdout


async def test_an_approval_used_twice_fails(
    dbs: Databases, log_keys: tuple[Path, str], tmp_path: Path
) -> None:
    """Single use lives in audit.claims; with its claim deleted, a second use is still in the
    verified log, and verify names both entries (docs/cli.md)."""
    _, dsn = await dbs.fresh_audit()
    use = {"event": "search", "decision": "allowed", "approval": 5}
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:  # writer holds one
        writer = AuditWriter(pool)
        await writer.start()
        for i in range(3):  # no claims: as after a DBA removed them
            await writer.append(Record(orjson.dumps({**use, "i": i} if i else {"event": "x"})))
        async with pool.acquire() as conn:
            assert await make_checkpoint(conn, load_signer(log_keys[0]), LOG_ORIGIN)
        await writer.close()
    cfg = config(tmp_path, dsn, log_keys[0])
    result = await asyncio.to_thread(run, "--config", cfg, "--key", log_keys[1])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED: approval 5 was used by 2 searches: entries [1, 2]" in result.stdout
