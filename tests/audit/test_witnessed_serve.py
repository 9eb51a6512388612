"""`alpr-proxy serve` as a process with two witnesses (SPEC §10), with one and two workers: the
served checkpoint opens with Go's note package and the log key alone; a witness outage longer
than max_unwitnessed_s fails searches and /readyz closed until it comes back; the rewrite
attack: refuses to start behind the witnesses, never serves the forged history with a quorum,
`audit verify --url --state` fails naming the checkpoint, and searches stop."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy.audit.verify import Verifier, open_signed_note, parse_checkpoint
from proxy.audit.verify_state import load_state
from tests.audit.remote_env import as_superuser, fill, log_witnesses
from tests.audit.witnessing_env import LiveWitness
from tests.faults.harness import (
    CHP,
    JUSTIFICATION,
    Keys,
    ProxyProcess,
    seed_rows,
    seed_store,
    write_config,
)
from tests.pg import Databases, fresh_store
from tests.witness.test_witness_go_interop import go, interop

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0
__all__ = ["interop"]  # the Go interop binary, a module fixture


@dataclass
class Served:
    server: ProxyProcess
    keys: Keys
    admin: str  # superuser DSN of the audit database
    http: aiohttp.ClientSession

    async def get(self, path: str) -> tuple[int, bytes]:
        async with self.http.get(self.server.url + path) as r:
            return r.status, await r.read()

    async def search(self) -> tuple[int, dict[str, Any]]:
        now = datetime.now(UTC)
        body = {
            "type": "plate", "plate": "FLT0001", "from": (now - timedelta(days=30)).isoformat(),
            "to": now.isoformat(), "purpose": "HOMICIDE",
            "case_number": "26-000001", "justification": JUSTIFICATION,
        }  # fmt: skip
        token = self.keys.token("det.one", CHP)
        headers = {"Authorization": f"Bearer {token}"}
        async with self.http.post(self.server.url + "/v1/search", json=body, headers=headers) as r:
            return r.status, await r.json()


async def poll(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {DEADLINE_S}s waiting for {what}")
        await asyncio.sleep(0.1)  # a poll interval, not synchronisation: the deadline decides


async def every(served: Served, status: int, what: str, times: int = 6) -> None:
    """Searches answer ``status`` ``times`` in a row (each worker then had its turn)."""
    streak = {"n": 0}

    async def check() -> bool:
        got, _ = await served.search()
        streak["n"] = streak["n"] + 1 if got == status else 0
        return streak["n"] >= times

    await poll(check, what)


def size_of(note: bytes) -> int:
    return parse_checkpoint(note[: note.index(b"\n\n") + 1]).size


async def cli(*args: str) -> tuple[int, str]:
    """`alpr-proxy ...` in a child process, while this loop keeps serving the witnesses."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", *args, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "ALPR_PROXY_METRICS_LISTEN": "127.0.0.1:0"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


def witness_section(ws: Sequence[LiveWitness], max_s: float) -> dict[str, Any]:
    return {"checkpoint_interval_s": 0.3, "witness_quorum": 2, "max_unwitnessed_s": max_s}


def witnesses_toml(ws: Sequence[LiveWitness]) -> str:
    return "".join(
        f'\n[[log.witnesses]]\nname = "{w.signer.name}"\nurl = "{w.url}"\nkey = "{w.signer.vkey}"\n'
        for w in ws
    )


@asynccontextmanager
async def serving(
    tmp: Path, dbs: Databases, keys: Keys, ws: Sequence[LiveWitness], workers: int, max_s: float
) -> AsyncIterator[Served]:
    store_admin, store = await fresh_store(dbs)
    await seed_store(store_admin, seed_rows(datetime.now(UTC)))
    admin, audit = await dbs.fresh_audit()
    config, port = write_config(
        tmp, keys, store_dsn=store, audit_dsn=audit, verify_dsn=admin, workers=workers,
        sections={"log": witness_section(ws, max_s)},
    )  # fmt: skip
    config.write_text(config.read_text() + witnesses_toml(ws))
    server = ProxyProcess(config, port, tmp / "serve.log", workers=workers)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        try:
            await server.start()
            yield Served(server, keys, admin, http)
        finally:
            await server.close()


async def start_unready(server: ProxyProcess) -> None:
    """Start it and wait for every worker's "started" line, not for /readyz (failing closed)."""
    before = sum(1 for line in server.log_lines() if line.get("message") == "started")

    async def ready_or_not() -> None:
        pass

    server.wait_ready = lambda wait_s=60.0: ready_or_not()  # type: ignore[method-assign]
    await server.start()

    async def started() -> bool:
        assert server.running, server.tail()
        lines = server.log_lines()
        return sum(1 for line in lines if line.get("message") == "started") - before >= (
            server.workers
        )

    await poll(started, "the restarted server's workers to start")


@pytest.fixture
def keys(dev_keys: tuple[Path, Path], log_keys: tuple[Path, str]) -> Keys:
    return Keys(dev_keys[0], dev_keys[1], log_keys[0], log_keys[1])


@pytest.mark.parametrize("workers", [1, 2])
async def test_quorum_outage_and_recovery(
    tmp_path: Path, dbs: Databases, keys: Keys, workers: int, interop: Path
) -> None:
    async with (
        log_witnesses(tmp_path, keys.log_verifier, 2) as ws,
        serving(tmp_path, dbs, keys, ws, workers, max_s=2.0) as served,
    ):
        status, answer = await served.search()
        assert status == 200, answer

        async def covered() -> bool:
            status, note = await served.get("/v1/log/checkpoint")
            return status == 200 and size_of(note) > answer["audit_index"]

        await poll(covered, "a quorum checkpoint covering the search")
        _, note = await served.get("/v1/log/checkpoint")
        opened = open_signed_note(note, [Verifier.from_key(keys.log_verifier)])
        assert sorted(s.name for s in opened.unverified) == sorted(w.signer.name for w in ws)
        result = go(interop, "open", keys.log_verifier, stdin=note.decode())
        assert result.returncode == 0, result.stderr  # Go opens it with the log key alone
        for w in ws:
            assert go(interop, "cosig", w.signer.vkey, stdin=note.decode()).returncode == 0

        sizes = []  # whichever worker answers, the served checkpoint never goes back
        for _ in range(4):
            assert (await served.search())[0] == 200
            for _ in range(3):
                status, note = await served.get("/v1/log/checkpoint")
                assert status == 200
                sizes.append(size_of(note))
        assert sizes == sorted(sizes), sizes

        await ws[1].stop()  # an outage longer than max_unwitnessed_s
        await every(served, 503, "searches to fail closed")
        _, body = await served.search()
        assert body["error"]["code"] == "audit_unavailable", body
        assert (await served.get("/readyz"))[0] == 503
        await ws[1].start()  # back on its port: retried within 5 s
        await every(served, 200, "searches to be served again")
        assert (await served.get("/readyz"))[0] == 200


@pytest.mark.parametrize("workers", [1, 2])
async def test_the_rewrite_attack_on_a_running_server(
    tmp_path: Path, dbs: Databases, keys: Keys, workers: int
) -> None:
    state = tmp_path / "verified.json"
    oversight = keys.token("ig", CHP, ["oversight"])
    async with log_witnesses(tmp_path, keys.log_verifier, 2) as ws:
        verify = (
            "audit", "verify", "--url", "", "--token", oversight, "--key", keys.log_verifier,
            *(a for w in ws for a in ("--witness", w.signer.vkey)), "--state", str(state),
        )  # fmt: skip
        async with serving(tmp_path, dbs, keys, ws, workers, max_s=2.0) as served:
            url = served.server.url
            for _ in range(30):
                assert (await served.search())[0] == 200
            last = (await served.search())[1]["audit_index"]

            async def covered() -> bool:
                status, note = await served.get("/v1/log/checkpoint")
                return status == 200 and size_of(note) > last

            await poll(covered, "a quorum checkpoint covering the searches")
            code, out = await cli(*(url if a == "" else a for a in verify))
            assert code == 0, out
            _, note = await served.get("/v1/log/checkpoint")
            assert await served.server.terminate() == 0
            first = size_of(note)
            admin, server = served.admin, served.server
            cut = first - 25
            await as_superuser(
                admin,
                "ALTER TABLE audit.cosignatures DISABLE TRIGGER ALL",
                ("DELETE FROM audit.cosignatures WHERE size >= $1", cut),
                "ALTER TABLE audit.cosignatures ENABLE ALWAYS TRIGGER"
                " cosignatures_no_update_delete",
                "ALTER TABLE audit.cosignatures ENABLE ALWAYS TRIGGER cosignatures_no_truncate",
                ("DELETE FROM audit.entry_facts WHERE idx >= $1", cut),
                ("DELETE FROM audit.entries WHERE idx >= $1", cut),
                ("DELETE FROM audit.checkpoints WHERE size >= $1", cut),
            )
            await fill(admin, keys.log_signing, 0)  # re-signed with the real key

            # Restart: the witnesses hold a larger tree, so it refuses (exit 2, one line).
            code, out = await cli("serve", "--config", str(server.config))
            assert code == 2, out
            assert "audit log is behind its witnesses" in out
            assert f"the database's newest checkpoint is {cut}" in out

            # Padded past the witnesses: it starts, but the forged history gets no quorum.
            await fill(admin, keys.log_signing, 60)
            await start_unready(server)  # /readyz is 503 at once: entry 0 is older than 2 s
            status, served_note = await served.get("/v1/log/checkpoint")
            assert status == 503 or size_of(served_note) < cut
            code, out = await cli(*(url if a == "" else a for a in verify))
            assert code in (1, 2) and code != 0, out
            remembered = load_state(state, Verifier.from_key(keys.log_verifier))
            assert remembered is not None  # the state a failed run leaves as it was
            named = f"remembered checkpoint (size {remembered.size}"  # an older one is served
            assert (named in out) or ("no checkpoint has been cosigned" in out), out
            await every(served, 503, "searches to stop once max_unwitnessed_s passed")
            assert (await served.get("/readyz"))[0] == 503
