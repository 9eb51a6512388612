"""Grants signed by Go's golang.org/x/mod/sumdb/note are in force here, and what
`alpr-proxy grant sign` writes opens in Go with the owner's vkeys alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from proxy.__main__ import main
from proxy.grants import check_grant
from tests.gobuild import build_go
from tests.grants.grant_env import NOW, ORIGIN, UNION, grant_text
from tests.grants.note_ref import RefKey

SOURCE = Path(__file__).parent / "go" / "grantnote.go"
CHIEF, CLERK = RefKey("unioncity.example.gov/chief"), RefKey("unioncity.example.gov/clerk")


@pytest.fixture(scope="module")
def grantnote(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_go(SOURCE, tmp_path_factory.mktemp("go"))


def go(binary: Path, *args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(binary), *args], input=stdin, capture_output=True, timeout=60, check=False
    )


def test_a_grant_signed_in_go_by_two_keys_is_in_force(grantnote: Path) -> None:
    text = grant_text()
    signed = go(grantnote, "sign", CHIEF.skey, CLERK.skey, stdin=text.encode())
    assert signed.returncode == 0, signed.stderr
    grant = check_grant(signed.stdout, UNION, (CHIEF.vkey, CLERK.vkey), 2, ORIGIN, NOW)
    assert grant.signed.text == text
    assert grant.signed.signed_by == tuple(sorted((CHIEF.hash8, CLERK.hash8)))


def test_grant_sign_output_opens_in_go(
    grantnote: Path, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    key, grant = tmp_path / "chief.key", tmp_path / "union.grant"
    key.write_text(CHIEF.skey + "\n")
    grant.write_text(grant_text())
    assert main(["grant", "sign", "--key", str(key), str(grant)]) == 0
    signed = capsysbinary.readouterr().out
    opened = go(grantnote, "open", CHIEF.vkey, stdin=signed)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.decode() == grant_text()
