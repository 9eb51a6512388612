"""`alpr-proxy audit report` as oversight runs it: a subprocess against a real audit database,
the same figures as the HTTP reports, in JSON, CSV and HTML."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import msgspec
import orjson
import pytest

from proxy.demo.embedded import free_port
from proxy.oversight.period import FlagOptions, Period, snapshot
from proxy.oversight.reports import REPORTS
from tests.oversight.oversight_fixture import LOG, A, B, C, append, at, search
from tests.pg import Databases

ROOT = Path(__file__).resolve().parents[2]
QUARTER = ("--from", "2026-03-02", "--to", "2026-03-05T00:00:00Z")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "proxy", "audit", "report", *args],
        capture_output=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    # Decoded by hand: text mode would turn the CSV's CRLF line ends into LF.
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


def write_config(tmp_path: Path, audit_dsn: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\naudit_dsn = "{audit_dsn}"\n')
    return str(path)


@pytest.fixture
async def setup(dbs: Databases, tmp_path: Path) -> tuple[str, str]:
    """(proxy-role dsn, config file) for the hand-made log of tests/oversight."""
    _, dsn = await dbs.fresh_audit()
    await append(dsn, LOG)
    return dsn, write_config(tmp_path, dsn)


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run, *args)


async def test_json_is_the_api_report_for_oversight(setup: tuple[str, str]):
    dsn, cfg = setup
    result = await cli("--config", cfg, *QUARTER, "--format", "json")
    assert result.returncode == 0, result.stderr
    got = orjson.loads(result.stdout)
    assert set(got) == {"usage", "disclosures", "flags"}
    conn = await asyncpg.connect(dsn)
    try:
        async with snapshot(conn):
            period = Period(at(2), at(5))
            want = {
                "usage": await REPORTS["usage"].run(conn, period, None, FlagOptions()),
                "disclosures": await REPORTS["disclosures"].run(conn, period, None, FlagOptions()),
                "flags": await REPORTS["flags"].run(conn, period, None, FlagOptions(limit=1000)),
            }
    finally:
        await conn.close()
    assert got == orjson.loads(msgspec.json.encode(want))
    assert got["usage"]["searches"] == 10 and got["usage"]["scope"] == "all"
    assert got["disclosures"]["disclosed"] == {A: {A: 2, B: 3, C: 3}, B: {A: 1}}
    one = await cli("--config", cfg, *QUARTER, "--report", "usage")
    assert orjson.loads(one.stdout) == got["usage"]  # one report: just that object


async def test_csv_sections_open_as_tables(setup: tuple[str, str]):
    _, cfg = setup
    result = await cli("--config", cfg, *QUARTER, "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("\ufeff")
    sections = [
        list(csv.reader(io.StringIO(part, newline="")))
        for part in result.stdout.lstrip("\ufeff").split("\r\n\r\n")
    ]
    prefixes = [
        "usage: ",
        "disclosures: ",
        "flags: refused (",
        "flags: justification_flagged (",
        "flags: on_behalf_of (",
        "flags: unusual_volume (",
        "flags: boilerplate (",
        "flags: sensitive_location_probes (",
        "flags: approvals pending (",
        "flags: approval requests denied (",
        "flags: approvals never used (",
        "flags: approval decisions by supervisor",
        "flags: approvals used by more than one search",
        "flags: exigent searches unreviewed (",
        "flags: exigent searches reviewed late (",
        "flags: grant key changes (",
    ]
    assert [s[0][0][: len(p)] for s, p in zip(sections, prefixes, strict=True)] == prefixes
    assert sections[0][0][0].endswith("2026-03-02T00:00:00Z to 2026-03-05T00:00:00Z, scope all")
    usage = sections[0]
    assert usage[1] == ["agency", "purpose", "decision", "searches", "reads"]
    assert [A, "HOMICIDE", "allowed", "6", "3"] in usage[2:]
    flagged = sections[3]
    assert flagged[1][8] == "justification" and flagged[2][0] == "4"
    assert flagged[2][8] == "'=HYPERLINK(deport someone now please)"  # neutralised
    assert sections[2][0][0].startswith("flags: refused (2 in all, 2 unreviewed)")
    assert sections[-1][1][:4] == ["owner", "index", "time", "change"]


async def test_html_is_one_escaped_page(setup: tuple[str, str]):
    dsn, cfg = setup
    markup = "<script>alert(1)</script> & friends, a justification"
    await append(dsn, [search(at(4, 12), C, "mallory", "ROBBERY", markup, refused="x_y")])
    result = await cli("--config", cfg, *QUARTER, "--format", "html", "--report", "flags")
    assert result.returncode == 0, result.stderr
    page = result.stdout
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<h2>flags: refused (3 in all, 3 unreviewed)</h2>" in page
    assert "<td>=HYPERLINK(deport someone now please)</td>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in page
    assert "<script" not in page


@pytest.mark.parametrize(
    "args",
    [
        ("--from", "2026-03-05", "--to", "2026-03-02"),
        ("--from", "March", "--to", "2026-03-02"),
        ("--from", "2026-03-02T00:00:00", "--to", "2026-03-05"),  # no zone
        ("--from", "2026-03-02", "--to", "2026-03-05", "--limit", "0"),
    ],
)
async def test_bad_arguments_exit_2(setup: tuple[str, str], args: tuple[str, ...]):
    _, cfg = setup
    result = await cli("--config", cfg, *args)
    assert result.returncode == 2 and result.stdout == ""
    assert "alpr-proxy audit report:" in result.stderr


async def test_unreachable_database_exits_2(tmp_path: Path):
    cfg = write_config(tmp_path, f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    result = await cli("--config", cfg, *QUARTER)
    assert result.returncode == 2 and "cannot connect" in result.stderr
    bad = await cli("--config", str(tmp_path / "absent.toml"), *QUARTER)
    assert bad.returncode == 2
