"""A missing $PROMETHEUS_MULTIPROC_DIR is created (0700), or reported in one line naming the
path and the reason: never a traceback when the metrics are imported."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from proxy.metrics_dir import MULTIPROC_ENV, MetricsDirError, ensure_multiproc_dir

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, multiproc_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_PROXY_")}
    env.update({MULTIPROC_ENV: str(multiproc_dir), "PYTHONPATH": str(ROOT)})
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_missing_directory_is_created_private(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    wanted = tmp_path / "a" / "metrics"
    monkeypatch.setenv(MULTIPROC_ENV, str(wanted))
    assert ensure_multiproc_dir() == wanted
    assert stat.S_IMODE(wanted.stat().st_mode) & 0o077 == 0
    assert ensure_multiproc_dir() == wanted  # already there: left as it is
    monkeypatch.delenv(MULTIPROC_ENV)
    assert ensure_multiproc_dir() is None


@pytest.mark.parametrize(("under", "reason"), [("file/x", "Not a directory"), ("file", "a file")])
def test_an_uncreatable_directory_is_an_error_naming_path_and_reason(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch, under: str, reason: str
) -> None:
    (tmp_path / "file").write_text("in the way")
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path / under))
    with pytest.raises(MetricsDirError) as caught:
        ensure_multiproc_dir()
    assert caught.value.path == str(tmp_path / under)
    assert reason in caught.value.reason


def test_serve_creates_a_missing_directory_and_goes_on_to_its_config(tmp_path: Path) -> None:
    wanted = tmp_path / "missing" / "metrics"
    done = cli("serve", "--config", str(tmp_path / "no.toml"), multiproc_dir=wanted)
    assert wanted.is_dir()
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no.toml" in done.stderr  # the next fault, the config, is what it reports


def test_serve_reports_an_uncreatable_directory_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    bad = tmp_path / "file" / "metrics"
    done = cli("serve", "--config", str(tmp_path / "no.toml"), multiproc_dir=bad)
    assert done.returncode == 2
    assert done.stderr == (
        f"alpr-proxy serve: {MULTIPROC_ENV}={bad}: cannot create the directory: Not a directory\n"
    )
    version = cli("--version", multiproc_dir=bad)
    assert version.returncode == 0 and version.stdout.startswith("alpr-proxy ")
