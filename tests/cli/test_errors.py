"""Every CLI error is one line on stderr, never a traceback; usage and config errors exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from proxy.audit.note import generate_signer_key
from proxy.auth.tokens import generate_dev_keypair
from proxy.demo.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli-errors")
    private, public = generate_dev_keypair()
    (d / "dev.key").write_bytes(private)
    (d / "dev.pub").write_bytes(public)
    (d / "log.key").write_text(generate_signer_key("x.example/log")[0] + "\n")
    auth = '[auth]\nissuer = "https://idp"\npublic_key_file = "dev.pub"\n'
    (d / "ok.toml").write_text(auth + 'dev_private_key_file = "dev.key"\n')
    (d / "nokey.toml").write_text(auth + 'dev_private_key_file = "absent.key"\n')
    (d / "bad.toml").write_text("[server\nport = ")
    (d / "unknown.toml").write_text("[server]\nprot = 8080\n")
    dsn = f"postgresql://nobody@127.0.0.1:{free_port()}/x"
    (d / "down.toml").write_text(
        f'[database]\nstore_dsn = "{dsn}"\naudit_dsn = "{dsn}"\n[log]\n'
        'signing_key_file = "log.key"\n'
    )
    (d / "unreadable").mkdir()
    return d


TOKEN = ["token", "--sub", "a", "--ori", "CA0010900"]
REPORT = ["audit", "report", "--from", "2026-01-01", "--to", "2026-02-01"]
CASES = {
    "no command": [],
    "unknown command": ["nosuch"],
    "token: unknown role (issue 13)": [*TOKEN, "--config", "ok.toml", "--roles", "investigatr"],
    "token: no role": [*TOKEN, "--config", "ok.toml", "--roles", ","],
    "token: bad ttl": [*TOKEN, "--config", "ok.toml", "--roles", "investigator", "--ttl", "5x"],
    "token: negative ttl": [*TOKEN, "--config", "ok.toml", "--roles", "auditor", "--ttl=-1h"],
    "token: bad ori": ["token", "--config", "ok.toml", "--sub", "a", "--ori", "*", "--roles", "x"],
    "token: missing key file": [*TOKEN, "--config", "nokey.toml", "--roles", "investigator"],
    "token: missing config": [*TOKEN, "--config", "absent.toml", "--roles", "investigator"],
    "token: config is a directory": [*TOKEN, "--config", "unreadable", "--roles", "auditor"],
    "token: bad toml": [*TOKEN, "--config", "bad.toml", "--roles", "investigator"],
    "token: missing flag": ["token", "--config", "ok.toml"],
    "keygen: bad name": ["keygen", "--name", "a b", "--out", "k"],
    "keygen: unwritable": ["keygen", "--name", "a", "--out", "absent/dir/k"],
    "migrate: missing config": ["migrate", "--config", "absent.toml"],
    "migrate: unknown key": ["migrate", "--config", "unknown.toml"],
    "migrate: database down": ["migrate", "--config", "down.toml"],
    "serve: missing config": ["serve", "--config", "absent.toml"],
    "serve: bad toml": ["serve", "--config", "bad.toml"],
    "verify: bad toml": ["audit", "verify", "--config", "bad.toml"],
    "verify: bad key": ["audit", "verify", "--config", "down.toml", "--key", "nonsense"],
    "verify: missing checkpoint": ["audit", "verify", "--config", "down.toml", "--checkpoint", "n"],
    "verify: database down": ["audit", "verify", "--config", "down.toml"],
    "report: bad limit": [*REPORT, "--config", "down.toml", "--limit", "x"],
    "report: bad date": ["audit", "report", "--config", "down.toml", "--from", "x", "--to", "y"],
    "report: database down": [*REPORT, "--config", "down.toml"],
    "report: missing config": [*REPORT, "--config", "absent.toml"],
    "policy diff: missing file": ["policy", "diff", "absent.toml", "absent.toml"],
    "demo: bad data dir": ["demo", "--data-dir", "ok.toml/sub", "--once"],
}


@pytest.mark.parametrize("args", CASES.values(), ids=CASES.keys())
def test_one_line_exit_2_no_traceback(files: Path, args: list[str]) -> None:
    r = run(files, *args)
    assert "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("alpr-proxy") or lines[0].startswith("absent.toml"), lines[0]
    assert r.returncode == 2, r.stdout + r.stderr


def test_unknown_role_names_it_and_the_valid_ones(files: Path) -> None:
    r = run(files, *TOKEN, "--config", "ok.toml", "--roles", "investigator,investigatr")
    assert r.stderr == (
        "alpr-proxy token: --roles: unknown role 'investigatr'; use one or more of admin,"
        " auditor, investigator, oversight, supervisor\n"
    )


def test_version_and_ttl_help(files: Path) -> None:
    version = run(files, "--version")
    assert version.returncode == 0 and version.stdout.startswith("alpr-proxy 0.")
    ttl_help = " ".join(run(files, "token", "--help").stdout.split())
    assert "whole seconds (3600), or a number with a unit s, m, h or d" in ttl_help
