"""Schemathesis against /openapi.json of a running server (`python -m proxy serve`).

A token holding every role goes in the Authorization header, so every operation is reached
past authentication (the `ignored_auth` check also sends requests without it). Every check
runs except `positive_data_acceptance` (a schema-valid search is often, rightly, refused by the
policy): no 5xx at all (the databases are up), every status, content type, header and body as
documented (`response_schema_conformance`), schema-invalid input rejected with 4xx.

Bounded: ALPR_PROXY_FUZZ_EXAMPLES cases per operation and phase (default 100: 30 missed a bug
that 100 find), a fixed seed (ALPR_PROXY_FUZZ_SEED to change it), a subprocess timeout; about
35 s. One schemathesis worker: with two threads, CPython 3.11 before 3.11.8 can fail ast.parse
inside hypothesis ("AST constructor recursion depth mismatch", a thread-safety bug in
CPython), a tool error that is not a finding.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.harness import ROOT, Keys, ProxyProcess, write_config
from tests.pg import Databases

RUN = "from schemathesis.cli import schemathesis; import sys; sys.exit(schemathesis())"


@pytest.fixture(scope="module")
async def server(
    tmp_path_factory: pytest.TempPathFactory,
    dbs: Databases,
    dev_keys: tuple[Path, Path],
    log_keys: tuple[Path, str],
) -> AsyncIterator[tuple[ProxyProcess, Keys, Path]]:
    _, audit = await dbs.fresh_audit()
    keys = Keys(dev_keys[0], dev_keys[1], log_keys[0], log_keys[1])
    tmp = tmp_path_factory.mktemp("fuzz")
    config, port = write_config(tmp, keys, store_dsn=dbs.store, audit_dsn=audit)
    proc = ProxyProcess(config, port, tmp / "serve.log")
    await proc.start()
    try:
        yield proc, keys, tmp
    finally:
        await proc.close()


def _schemathesis(url: str, token: str, cwd: Path) -> tuple[int, str]:
    examples = os.environ.get("ALPR_PROXY_FUZZ_EXAMPLES", "100")
    seed = os.environ.get("ALPR_PROXY_FUZZ_SEED", "20261122")
    cmd = [
        sys.executable,
        "-c",
        RUN,
        "run",
        f"{url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        examples,
        "--seed",
        seed,
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--no-color",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return done.returncode, done.stdout + done.stderr


async def test_openapi_conformance_under_fuzzing(server) -> None:
    proc, keys, tmp = server
    token = keys.token("fuzzer", "CA0010900", ("investigator", "auditor", "oversight", "admin"))
    rc, out = await asyncio.to_thread(_schemathesis, proc.url, token, tmp)
    print("\n[schemathesis]\n" + "\n".join(out.splitlines()[-25:]))
    assert rc == 0, out[-20000:]
    # Every operation schemathesis loaded from /openapi.json was tested.
    loaded = re.search(r"Operations:\s+(\d+) selected / (\d+) total", out)
    assert loaded is not None and loaded[1] == loaded[2], out[-5000:]
    assert f"Tested: {loaded[2]}" in out and " passed" in out, out[-5000:]
    assert proc.running
    unhandled = [x for x in proc.log_lines() if x.get("message") == "unhandled error"]
    assert not unhandled, unhandled[:3]
