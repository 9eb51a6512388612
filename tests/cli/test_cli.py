"""The command line as a user runs it: subprocesses, real files, real databases."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import jwt
import pytest

from proxy.audit import verify
from proxy.auth.tokens import generate_dev_keypair
from proxy.demo import walkthrough
from tests.pg import Databases, fresh_store

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
        check=False,
    )


def test_keygen_writes_private_key_and_prints_verifier_key(tmp_path: Path):
    out = tmp_path / "log.key"
    result = run("keygen", "--name", "example.org/alpr-proxy/audit", "--out", str(out))
    assert result.returncode == 0, result.stderr
    vkey = result.stdout.strip()
    assert vkey.startswith("example.org/alpr-proxy/audit+")
    verifier = verify.Verifier.from_key(vkey)
    assert verifier.name == "example.org/alpr-proxy/audit"
    assert out.read_text().startswith("PRIVATE+KEY+example.org/alpr-proxy/audit+")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    again = run("keygen", "--name", "x", "--out", str(out))
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr


def _token_config(tmp_path: Path, with_key: bool) -> Path:
    private, public = generate_dev_keypair()
    (tmp_path / "dev.key").write_bytes(private)
    (tmp_path / "dev.pub").write_bytes(public)
    config = tmp_path / "config.toml"
    dev = 'dev_private_key_file = "dev.key"' if with_key else ""
    config.write_text(
        f'[auth]\nissuer = "https://idp"\naudience = "alpr-proxy"\n'
        f'public_key_file = "dev.pub"\n{dev}\n'
    )
    return config


def test_token_mints_with_the_dev_key(tmp_path: Path):
    config = _token_config(tmp_path, with_key=True)
    result = run(
        "token",
        "--config",
        str(config),
        "--sub",
        "det.a",
        "--ori",
        "CA0010900",
        "--roles",
        "investigator,auditor",
        "--ttl",
        "30m",
    )
    assert result.returncode == 0, result.stderr
    public = (tmp_path / "dev.pub").read_bytes()
    claims = jwt.decode(
        result.stdout.strip(),
        public,
        algorithms=["EdDSA"],
        audience="alpr-proxy",
        issuer="https://idp",
    )
    assert claims["sub"] == "det.a" and claims["ori"] == "CA0010900"
    assert sorted(claims["roles"]) == ["auditor", "investigator"]
    assert claims["exp"] - claims["iat"] == 1800


def test_token_is_refused_without_a_dev_key(tmp_path: Path):
    config = _token_config(tmp_path, with_key=False)
    result = run(
        "token",
        "--config",
        str(config),
        "--sub",
        "a",
        "--ori",
        "CA0010900",
        "--roles",
        "investigator",
    )
    assert result.returncode == 2
    assert "no auth.dev_private_key_file" in result.stderr
    assert result.stdout == ""


async def test_migrate_is_idempotent(dbs: Databases, tmp_path: Path):
    admin, _ = await fresh_store(dbs)
    audit_admin, _ = await dbs.fresh_audit()
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nstore_dsn = "{admin}"\naudit_dsn = "{audit_admin}"\n')
    first = run("migrate", "--config", str(config))
    assert first.returncode == 0, first.stderr
    assert "store: up to date" in first.stdout  # fresh_store already migrated it
    assert "audit: up to date" in first.stdout
    second = run("migrate", "--config", str(config))
    assert second.returncode == 0 and second.stdout == first.stdout


def test_serve_refuses_to_start_with_an_invalid_policy(tmp_path: Path):
    (tmp_path / "policy.toml").write_text('[settings]\nretention_days = "long"\n')
    config = tmp_path / "config.toml"
    config.write_text('[policy]\nfile = "policy.toml"\n[auth]\npublic_key_file = "x.pub"\n')
    result = run("serve", "--config", str(config), timeout=60)
    assert result.returncode == 2
    assert "retention_days" in result.stderr


def test_unknown_config_key_is_an_error(tmp_path: Path):
    config = tmp_path / "config.toml"
    config.write_text("[server]\nprot = 8080\n")
    result = run("migrate", "--config", str(config))
    assert result.returncode == 2 and "prot" in result.stderr


@pytest.mark.skipif(os.environ.get("ALPR_PROXY_SKIP_DEMO") == "1", reason="demo disabled")
def test_demo_runs_examples_against_embedded_postgres():
    # Not under pytest's tmp dir: pytest tightens its permissions mid-session, and the server
    # runs as another OS user when the tests run as root (see tests/conftest.py).
    data_dir = Path(tempfile.mkdtemp(prefix="alpr-proxy-demo-test-"))
    try:
        result = run("demo", "--data-dir", str(data_dir), "--port", "0", "--once", timeout=300)
        # A restart on the same data dir: same keys, the grants kept, so no rollback.
        again = run("demo", "--data-dir", str(data_dir), "--port", "0", "--once", timeout=300)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    out = result.stdout
    assert out.count("(signed now)") == 2 and again.stdout.count("(in force, kept)") == 2
    keys = [line for line in out.splitlines() if ": grant key " in line]
    assert len(keys) == 2 and keys == [k for k in again.stdout.splitlines() if ": grant key " in k]
    # Piedmont PD's grant admits Oakland PD: its reads are among those the search returns, on
    # the restart too (a grant refused as a rollback would share with no one).
    returned = re.compile(r"-> 200: (\d+) reads returned")
    assert returned.findall(out)[0] == returned.findall(again.stdout)[0] != "0"
    assert "seeded: 200000 reads" in out
    assert out.count("-> 200:") == 2  # the allowed search and the on-behalf-of search
    assert '"code":"purpose_prohibited"' in out
    assert "-> 200: 0 reads returned" in out  # nothing the immigration office may not see
    assert '"decision":"allowed"' in out and '"reason":"purpose_prohibited"' in out
    # The walk-through printed for this data directory, its tokens in DIR/demo.env.
    assert walkthrough.commands(walkthrough.env_path_for(data_dir)) in out
    assert "-> verified with proxy/audit/verify.py: entry" in out
