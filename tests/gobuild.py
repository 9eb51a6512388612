"""Build a Go interop program against Debian's golang.org/x/mod (GOPATH mode, no network), or
skip the test saying what is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

GOPATH = Path("/usr/share/gocode")


def build_go(source: Path, out_dir: Path) -> Path:
    """``source`` compiled into ``out_dir``; skips without Go or golang.org/x/mod."""
    if shutil.which("go") is None:
        pytest.skip("no Go toolchain on this machine")
    if not (GOPATH / "src/golang.org/x/mod/sumdb/note").is_dir():
        pytest.skip("golang.org/x/mod is not installed (Debian: golang-golang-x-mod-dev)")
    binary = out_dir / source.stem
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOCACHE": str(out_dir / "c")}
    subprocess.run(
        ["go", "build", "-o", str(binary), str(source)],
        env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return binary
