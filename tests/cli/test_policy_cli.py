"""`alpr-proxy policy check | explain | diff` run as a user runs them: subprocesses on files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.policy_text import FBI, OAKLAND, SETTINGS, SFPD

ROOT = Path(__file__).resolve().parents[2]

POLICY = (
    SETTINGS
    + OAKLAND
    + SFPD
    + FBI
    + """
[[purposes]]
code = "HOMICIDE"
max_lookback_days = 365

[[purposes]]
code = "CIVIL_IMMIGRATION"
prohibited = true

[[sharing]]
owner = "CA0010900"
to_kinds = ["local"]
to_states = ["CA"]
purposes = ["HOMICIDE"]
expires = 2027-06-30
"""
)

NO_EXPIRY = """
[[sharing]]
owner = "CA0380100"
to_kinds = ["local"]
to_states = ["CA"]
purposes = ["HOMICIDE"]
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", "policy", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


Write = Callable[..., str]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    def _write(text: str, name: str = "policy.toml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return _write


def test_check_clean(write: Write) -> None:
    r = run("check", write(POLICY), "--date", "2026-03-01")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("policy sha256:") and "agencies: 3" in r.stdout
    assert "warning" not in r.stdout and r.stderr == ""
    assert run("check", "--strict", write(POLICY), "--date", "2026-03-01").returncode == 0


def test_check_warnings_and_strict(write: Write) -> None:
    path = write(POLICY + NO_EXPIRY)
    r = run("check", path, "--date", "2026-03-01")
    assert r.returncode == 0, r.stderr
    assert "1 warning(s):" in r.stdout
    assert "warning: sharing[1].expires: never expires" in r.stdout
    strict = run("check", "--strict", path, "--date", "2026-03-01")
    assert strict.returncode == 1 and strict.stdout == r.stdout
    # The same rule is dead a year after it expired; --date decides.
    r = run("check", write(POLICY), "--date", "2027-07-01", "--strict")
    assert r.returncode == 1 and "sharing[0].expires: expired on 2027-06-30" in r.stdout


def test_check_errors(write: Write) -> None:
    bad = POLICY.replace('kind = "federal"', 'kind = "feds"').replace("max_results = 100", "")
    r = run("check", write(bad))
    assert r.returncode == 1 and r.stdout == ""
    assert "agencies[2].kind: must be one of" in r.stderr
    assert "settings.max_results: is required" in r.stderr
    assert "invalid (2 error(s)); not loadable" in r.stderr
    assert run("check", write(POLICY), "--date", "2026-13-01").returncode == 1
    missing = run("check", "/nonexistent/policy.toml")
    assert missing.returncode == 1 and "cannot read" in missing.stderr


def test_explain(write: Write) -> None:
    path = write(POLICY)
    r = run(
        "explain",
        "--policy",
        path,
        "--requester",
        "CA0380100",
        "--on-behalf-of",
        "DOJFBI000",
        "--purpose",
        "HOMICIDE",
        "--date",
        "2026-03-01",
    )
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()]
    assert ["OWNER", "READS", "RETAIN", "CA0380100", "DOJFBI000", "NAME"] in rows
    assert rows_starting(rows, "CA0010900")[:5] == ["CA0010900", "no", "365d", "sharing[0]", "no"]
    assert rows_starting(rows, "CA0380100")[:6] == ["CA0380100", "no", "365d", "own", "reads", "no"]
    assert rows_starting(rows, "DOJFBI000")[:6] == ["DOJFBI000", "no", "365d", "no", "own", "reads"]
    assert "CA0010900 -> DOJFBI000: sharing[0] does not admit kind federal" in r.stdout
    assert r.stdout.rstrip().endswith("reads of 0 of 3 agencies would be returned")

    alone = run("explain", "--policy", path, "--requester", "CA0380100", "--purpose", "HOMICIDE")
    assert alone.returncode == 0
    rows = [line.split() for line in alone.stdout.splitlines()]
    assert rows_starting(rows, "CA0010900")[:4] == ["CA0010900", "yes", "365d", "sharing[0]"]


def rows_starting(rows: list[list[str]], ori: str) -> list[str]:
    (row,) = [r for r in rows if len(r) > 1 and r[0] == ori and r[1] in ("yes", "no")]
    return row


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["--requester", "XX0000000", "--purpose", "HOMICIDE"], 1, "unknown_agency"),
        (["--requester", "CA0010900", "--on-behalf-of", "XX1", "--purpose", "HOMICIDE"], 1, "XX1"),
        (["--requester", "CA0010900", "--purpose", "PARKING"], 1, "unknown_purpose"),
        (["--requester", "CA0010900", "--purpose", "CIVIL_IMMIGRATION"], 0, "prohibited"),
    ],
)
def test_explain_refusals(write: Write, args: list[str], code: int, text: str) -> None:
    r = run("explain", "--policy", write(POLICY), *args)
    assert r.returncode == code, r.stdout + r.stderr
    assert text in r.stdout and "every search would be refused" in r.stdout


def test_diff(write: Write) -> None:
    old = write(POLICY, "old.toml")
    new = write(
        POLICY.replace('to_kinds = ["local"]', 'to_kinds = ["local", "federal"]'), "new.toml"
    )
    r = run("diff", old, new)
    assert r.returncode == 1, r.stderr  # as diff(1): 1 when they differ
    d = json.loads(r.stdout)
    (change,) = d["sharing"]["changed"]
    assert change["widened"] == ["to_kinds"] and change["owner"] == "CA0010900"
    same = run("diff", old, write(POLICY, "same.toml"))
    assert same.returncode == 0 and set(json.loads(same.stdout)) == {"from", "to"}
    bad = run("diff", old, write("nonsense = 1", "bad.toml"))
    assert bad.returncode == 2 and bad.stdout == ""
