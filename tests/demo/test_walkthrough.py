"""The README's curl walk-through is the demo's printout, and every command of it works."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from proxy.demo import walkthrough
from proxy.demo.city import OAKLAND_PD, PIEDMONT_PD
from proxy.demo.policy import DEMO_INVESTIGATOR, DEMO_PLATE, DEMO_PURPOSE, IMMIGRATION_ORI

ROOT = Path(__file__).resolve().parents[2]
READY = "Serving until Ctrl-C."


def readme_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## A curl walk-through\n") : text.index("\n## Commands\n")]
    (block,) = re.findall(r"^```sh\n(.*?)^```$", section, flags=re.S | re.M)
    return block


def test_readme_walkthrough_is_the_demo_printout() -> None:
    assert readme_block() == walkthrough.commands()


def test_env_file_quotes_what_the_shell_would_expand() -> None:
    text = walkthrough.env_file_text({"A": "x y$HOME", "B": "plain"})
    assert "export A='x y$HOME'\n" in text and "export B=plain\n" in text


def user_env(home: Path) -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "HOME": str(home), "PYTHONPATH": str(ROOT), "PATH": path}


@pytest.fixture
async def demo() -> AsyncIterator[tuple[Path, str]]:
    """A running `alpr-proxy demo` with its default data directory under a fresh $HOME:
    (home, everything it printed until it serves)."""
    # Not under pytest's tmp dir: the server runs as another OS user when the tests run as root.
    home = Path(tempfile.mkdtemp(prefix="alpr-proxy-walkthrough-"))
    env = {**user_env(home), "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "demo", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    printed: list[str] = []
    try:
        while READY not in "".join(printed[-1:]):
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=300)
            assert line, "".join(printed)[-3000:]
            printed.append(line.decode())
        yield home, "".join(printed)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.communicate(), timeout=120)
        shutil.rmtree(home, ignore_errors=True)


def steps(block: str) -> list[str]:
    """The walk-through cut at its numbered comments: '# 0.', '# 1.', ..."""
    parts = re.split(r"^(?=# \d+\. )", block, flags=re.M)
    return [p for p in parts if p.strip()]


@pytest.mark.skipif(os.environ.get("ALPR_PROXY_SKIP_DEMO") == "1", reason="demo disabled")
async def test_every_command_of_the_readme_walkthrough_against_a_live_demo(
    demo: tuple[Path, str],
) -> None:
    home, printed = demo
    assert walkthrough.commands() in printed  # the default data dir: the README's text exactly
    env_file = home / ".alpr-proxy-demo" / "demo.env"
    assert env_file.stat().st_mode & 0o077 == 0
    parts = steps(readme_block())
    assert len(parts) == 12
    script = "set -euo pipefail\n" + "".join(
        f"echo '@@ step {n}'\n{part}" for n, part in enumerate(parts)
    )
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", script, env=user_env(home),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
    assert proc.returncode == 0, out.decode()[-3000:] + err.decode()[-3000:]
    answers = out.decode().split("@@ step ")[1:]
    assert [a.split("\n", 1)[0] for a in answers] == [str(n) for n in range(12)]
    check_answers([a.split("\n", 1)[1] for a in answers])


def check_answers(answers: list[str]) -> None:
    def status_and_json(text: str) -> tuple[str, dict[str, object]]:
        status, body = text.strip().split("\n", 1)
        return status, json.loads(body)

    status, allowed = status_and_json(answers[1])
    assert status == "HTTP 200" and isinstance(allowed["reads"], list) and allowed["reads"]
    # Piedmont PD has no operator rule: its reads reach Oakland only through its signed grant.
    assert PIEDMONT_PD in {r["agency"] for r in allowed["reads"]}  # type: ignore[attr-defined]
    status, refused = status_and_json(answers[2])
    assert status == "HTTP 403"
    assert refused["error"]["code"] == "purpose_prohibited"  # type: ignore[index]
    status, on_behalf = status_and_json(answers[3])
    assert status == "HTTP 200" and on_behalf["reads"] == []
    entry = json.loads(answers[4])
    assert entry["event"] == "search" and entry["decision"] == "allowed"
    assert entry["on_behalf_of"]["ori"] == IMMIGRATION_ORI
    assert entry["outcome"]["returned"] == 0
    verified = answers[5].strip().splitlines()[-1]
    assert verified.startswith(f"verified: entry {on_behalf['audit_index']} is in the log of ")
    status, look_alike = status_and_json(answers[6])
    assert status == "HTTP 403"
    assert look_alike["error"]["code"] == "justification_flagged"  # type: ignore[index]
    api_metrics, *series = answers[7].strip().splitlines()
    assert api_metrics == "API port /metrics: HTTP 404"
    assert series and all(s.startswith("alpr_proxy_searches_total{") for s in series)
    assert any('reason="justification_flagged"' in s for s in series)
    verified = answers[8]  # over HTTP, with both witnesses' cosignatures (quorum 2)
    assert verified.startswith("OK: ") and "cosigned by " in verified, verified
    assert "oversight.demo-state.invalid/witness" in verified
    assert "civil-liberties-board.demo.invalid/witness" in verified
    check_grant_and_approval(answers[9:])


def check_grant_and_approval(answers: list[str]) -> None:
    grant = answers[0].splitlines()  # `alpr-proxy grant check` on Oakland PD's signed grant
    assert grant[0].startswith(f"in force: {OAKLAND_PD}, issued "), answers[0]
    assert grant[1].startswith("signed by ") and "(1 required); sha256:" in grant[1]
    assert PIEDMONT_PD in grant[2] and IMMIGRATION_ORI not in answers[0]
    lines = answers[1].strip().split("\n")
    refused, refusal, pending, decided, decided_status, approved_status, approved = lines
    assert refused == "HTTP 403"
    index = json.loads(refusal)["error"]["audit_index"]
    assert json.loads(refusal)["error"]["code"] == "approval_required"
    (listed,) = [a for a in json.loads(pending)["approvals"] if a["index"] == index]
    assert listed["requester"]["subject"] == DEMO_INVESTIGATOR.sub
    assert json.loads(decided)["audit_index"] > index and decided_status == "HTTP 200"
    assert approved_status == "HTTP 200"
    result = json.loads(approved)
    assert result["audit_index"] > index and result["reads"], approved
    assert any(r["plate"] == DEMO_PLATE for r in result["reads"])
    me = json.loads(answers[2])
    assert (me["sub"], me["roles"]) == (DEMO_INVESTIGATOR.sub, ["investigator"])
    homicide = {p["code"]: p for p in me["purposes"]}[DEMO_PURPOSE]
    assert homicide["approval_required"] == ["area"]
