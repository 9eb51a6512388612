"""`policy explain` and `policy diff` with owners' grants (`--grants DIR`): explain names the
grant's rules and says why an owner shares with no one; diff shows what a new grant widens."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from proxy.__main__ import main
from tests.grants.grant_env import ORIGIN, UNION, grant_text, policy_text
from tests.grants.note_ref import RefKey, note

CHIEF = RefKey("unioncity.example.gov/chief")
Capture = pytest.CaptureFixture[str]


def run(capsys: Capture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(policy_text([CHIEF]))
    return path


def grants(tmp_path: Path, name: str, text: str | None) -> Path:
    d = tmp_path / name
    d.mkdir()
    if text is not None:
        (d / f"{UNION}.grant").write_bytes(note(text, CHIEF))
    return d


def test_explain_uses_the_grant_in_force(policy: Path, tmp_path: Path, capsys: Capture) -> None:
    d = grants(tmp_path, "g", grant_text())
    explain = ("policy", "explain", "--policy", str(policy), "--purpose", "HOMICIDE",
               "--date", "2026-12-01")  # fmt: skip
    code, out, err = run(capsys, *explain, "--requester", "CA0010900", "--grants", str(d),
                         "--deployment", ORIGIN)  # fmt: skip
    assert code == 0, err
    assert f"grant {UNION}: in force" in out
    assert f"{UNION}.grant sharing[0]" in out  # Oakland is admitted by the owner's own rule
    code, out, _ = run(capsys, *explain, "--requester", "CA0349400", "--grants", str(d),
                       "--deployment", ORIGIN)  # fmt: skip
    assert f"{UNION} -> CA0349400: {UNION}.grant sharing[0] does not name CA0349400" in out
    # Without the grant: none in force, and the operator's rule is not used either.
    empty = grants(tmp_path, "none", None)
    code, out, _ = run(capsys, *explain, "--requester", "CA0010900", "--grants", str(empty),
                       "--deployment", ORIGIN)  # fmt: skip
    assert f"grant {UNION}: none in force (missing" in out
    assert f"{UNION} -> CA0010900: the owner has no sharing rules" in out
    code, _, err = run(capsys, *explain, "--requester", "CA0010900", "--grants", str(empty))
    assert code == 2 and "--deployment" in err


def test_diff_shows_what_a_new_grant_widens(policy: Path, tmp_path: Path, capsys: Capture) -> None:
    # diff judges grants as of now: issued a day ago, and an hour later.
    issued = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    old = grants(tmp_path, "old", grant_text(issued=issued))
    wider = grant_text(issued=issued + timedelta(hours=1), to='"CA0010900", "DOJFBI000"')
    new = grants(tmp_path, "new", wider)
    code, out, err = run(capsys, "policy", "diff", str(policy), str(policy), "--grants", str(old),
                         "--new-grants", str(new), "--deployment", ORIGIN)  # fmt: skip
    assert code == 1, err
    changes = json.loads(out)
    (changed,) = changes["sharing"]["changed"]
    assert changed["owner"] == UNION and changed["widened"] == ["to_agencies"]
    assert (
        changes["grants"][UNION]["before"]["in_force"]
        != changes["grants"][UNION]["after"]["in_force"]
    )
    # An older grant in the new directory is a rollback against the old side's record.
    older = grants(tmp_path, "older", grant_text(issued=issued - timedelta(hours=1)))
    code, out, _ = run(capsys, "policy", "diff", str(policy), str(policy), "--grants", str(old),
                       "--new-grants", str(older), "--deployment", ORIGIN)  # fmt: skip
    changes = json.loads(out)
    assert changes["grants"][UNION]["after"]["reason"] == "rollback"
    assert changes["sharing"]["removed"][0]["rule"]["owner"] == UNION


def test_check_says_per_owner_why_no_grant_is_in_force(
    policy: Path, tmp_path: Path, capsys: Capture
) -> None:
    d = grants(tmp_path, "g", grant_text(deployment="elsewhere.example/audit"))
    code, out, err = run(capsys, "policy", "check", str(policy), "--date", "2026-12-01",
                         "--grants", str(d), "--deployment", ORIGIN)  # fmt: skip
    assert code == 0, err
    assert f"grant {UNION}: none in force (wrong_deployment:" in out
    assert "ignored_for_grant_owner" not in out  # str(LintWarning) is path: message
    assert f"ignored: {UNION} has grant_keys" in out
