"""`alpr-proxy grant keygen | draft | sign | check` (SPEC §11), as an owner runs them."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

from proxy.__main__ import main
from proxy.audit.verify import Verifier
from proxy.cli.grant import UNKNOWN_DEPLOYMENT
from tests.grants.grant_env import ORIGIN, UNION, grant_text, policy_text
from tests.grants.note_ref import RefKey

CHIEF, CLERK = RefKey("unioncity.example.gov/chief"), RefKey("unioncity.example.gov/clerk")
Capture = pytest.CaptureFixture[bytes]
AT = "2026-12-01T12:00:00+00:00"  # tests.grants.grant_env.NOW


def run(capsysbinary: Capture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsysbinary.readouterr()
    return code, out.decode(), err.decode()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / name for name in ("policy", "quorum2", "chief", "clerk", "grant")}
    paths["policy"].write_text(policy_text([CHIEF]))
    paths["quorum2"].write_text(policy_text([CHIEF, CLERK], 2))
    paths["chief"].write_text(CHIEF.skey + "\n")
    paths["clerk"].write_text(CLERK.skey + "\n")
    paths["grant"].write_text(grant_text())
    return paths


def test_keygen_writes_a_go_signer_key_and_prints_its_vkey(
    tmp_path: Path, capsysbinary: Capture
) -> None:
    out = tmp_path / "g.key"
    code, vkey, _ = run(
        capsysbinary, "grant", "keygen", "--name", "city.example/grants", "--out", str(out)
    )
    assert code == 0
    assert Verifier.from_key(vkey.strip()).name == "city.example/grants"
    assert out.read_text().startswith("PRIVATE+KEY+city.example/grants+")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    code, _, err = run(capsysbinary, "grant", "keygen", "--name", "x", "--out", str(out))
    assert code == 2 and "refusing to overwrite" in err and err.count("\n") == 1


def test_draft_names_todays_matching_agencies_by_ori(
    files: dict[str, Path], capsysbinary: Capture
) -> None:
    code, text, err = run(
        capsysbinary, "grant", "draft", "--policy", str(files["policy"]), "--owner", UNION,
        "--deployment", ORIGIN,
    )  # fmt: skip
    assert code == 0, err
    doc = tomllib.loads(text)
    assert doc["owner"] == UNION and doc["deployment"] == ORIGIN
    # Local and state agencies in CA: Oakland and the CHP; not the FBI, not ICE, not itself.
    assert doc["sharing"][0]["to_agencies"] == ["CA0010900", "CA0349400"]
    assert doc["sharing"][0]["purposes"] == ["*"]
    code, text, _ = run(
        capsysbinary, "grant", "draft", "--policy", str(files["policy"]), "--owner", UNION,
        "--deployment", ORIGIN, "--kinds", "federal", "--states", "*",
    )  # fmt: skip
    assert tomllib.loads(text)["sharing"][0]["to_agencies"] == ["DOJFBI000"]  # not ICE
    # SPEC §11's invocation, no deployment given: a placeholder no origin matches, and a warning.
    code, text, err = run(
        capsysbinary, "grant", "draft", "--policy", str(files["policy"]), "--owner", UNION
    )
    assert code == 0 and "edit the deployment line" in err
    assert tomllib.loads(text)["deployment"] == UNKNOWN_DEPLOYMENT != ORIGIN
    code, _, err = run(
        capsysbinary, "grant", "draft", "--policy", str(files["policy"]), "--owner", UNION,
        "--deployment", ORIGIN, "--kinds", "fedral",
    )  # fmt: skip
    assert code == 2 and "fedral" in err
    code, out, err = run(
        capsysbinary, "grant", "draft", "--policy", str(files["policy"]), "--owner", UNION,
        "--deployment", ORIGIN, "--kinds", "tribal",
    )  # fmt: skip
    assert (code, out) == (1, "") and "no agency matches" in err


def test_sign_then_check(files: dict[str, Path], capsysbinary: Capture, tmp_path: Path) -> None:
    code, signed, _ = run(
        capsysbinary, "grant", "sign", "--key", str(files["chief"]), str(files["grant"])
    )
    assert code == 0
    # Ed25519 is deterministic: the line is the one the spec-written signer makes.
    assert signed == grant_text() + "\n" + CHIEF.line(grant_text())
    note = tmp_path / f"{UNION}.grant"
    note.write_text(signed)
    check = ("grant", "check", "--policy", str(files["policy"]), "--at", AT)
    code, out, err = run(capsysbinary, *check, "--deployment", ORIGIN, str(note))
    assert code == 0, err
    assert f"signed by {CHIEF.hash8}" in out
    code, _, err = run(capsysbinary, *check, "--deployment", "other.example/log", str(note))
    assert code == 1 and ": wrong_deployment: " in err
    code, _, err = run(
        capsysbinary,
        "grant",
        "check",
        "--policy",
        str(files["policy"]),
        "--at",
        "2027-12-01T00:00:00Z",
        str(note),
    )
    assert code == 1 and ": expired: " in err


def test_two_signatures_for_a_quorum_of_two(
    files: dict[str, Path], capsysbinary: Capture, tmp_path: Path
) -> None:
    _, once, _ = run(
        capsysbinary, "grant", "sign", "--key", str(files["chief"]), str(files["grant"])
    )
    first = tmp_path / "once"
    first.write_text(once)
    check = ("grant", "check", "--policy", str(files["quorum2"]), "--at", AT)
    code, _, err = run(capsysbinary, *check, str(first))
    assert code == 1 and ": under_signed: " in err
    code, twice, err = run(
        capsysbinary,
        "grant",
        "sign",
        "--key",
        str(files["clerk"]),
        "--policy",
        str(files["quorum2"]),
        str(first),
    )
    assert code == 0, err
    assert twice == once + CLERK.line(grant_text())
    second = tmp_path / "twice"
    second.write_text(twice)
    assert run(capsysbinary, *check, str(second))[0] == 0
    # The same key again is refused; so is adding to a note whose signature does not verify.
    code, _, err = run(capsysbinary, "grant", "sign", "--key", str(files["chief"]), str(first))
    assert code == 1 and "already signed" in err
    altered = tmp_path / "altered"
    altered.write_text(once.replace('"CA0010900"', '"CA0349400"'))
    code, _, err = run(
        capsysbinary,
        "grant",
        "sign",
        "--key",
        str(files["clerk"]),
        "--policy",
        str(files["quorum2"]),
        str(altered),
    )
    assert code == 1 and "bad_signature" in err


@pytest.mark.parametrize("bad", ["\r", "\t", "\x07", "\x7f", "\x85"])
def test_sign_refuses_text_a_note_cannot_carry(
    files: dict[str, Path], capsysbinary: Capture, bad: str
) -> None:
    files["grant"].write_text(
        grant_text().replace("\n[[sharing]]", f"\n#{bad}\n[[sharing]]"), newline=""
    )
    code, out, err = run(
        capsysbinary, "grant", "sign", "--key", str(files["chief"]), str(files["grant"])
    )
    assert (code, out) == (1, "") and "invalid" in err and err.count("\n") == 1


def test_sign_refuses_what_is_not_a_grant(files: dict[str, Path], capsysbinary: Capture) -> None:
    files["grant"].write_text(grant_text().replace("to_agencies", "to_kinds"))
    code, out, err = run(
        capsysbinary, "grant", "sign", "--key", str(files["chief"]), str(files["grant"])
    )
    assert (code, out) == (1, "") and "to_kinds" in err


def test_draft_takes_the_log_origin_from_its_environment_variable(
    files: dict[str, Path], capsysbinary: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALPR_PROXY_LOG_ORIGIN", ORIGIN)
    code, text, err = run(
        capsysbinary, "grant", "draft", "--policy", str(files["policy"]), "--owner", UNION
    )
    assert (code, err) == (0, "") and tomllib.loads(text)["deployment"] == ORIGIN
