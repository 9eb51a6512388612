"""`serve` with two workers: an API reload reaches both (proxy.reload_peers), and both agree
on the grant in force, as each one's policy_loaded entry records."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import LOG_ORIGIN
from tests.faults.harness import (
    Keys,
    ProxyProcess,
    log_entries,
    seed_rows,
    seed_store,
    write_config,
)
from tests.grants.note_ref import RefKey, note
from tests.pg import Databases, fresh_store

OAKLAND = "CA0010900"
OAKLAND_BLOCK = 'name = "Oakland Police Department"\nkind = "local"\nstate = "CA"\n'


def grant_text(now: datetime) -> str:
    issued = now - timedelta(minutes=5)
    return (
        f'owner = "{OAKLAND}"\ndeployment = "{LOG_ORIGIN}"\nissued = {issued.isoformat()}\n'
        f"expires = {(issued + timedelta(days=90)).isoformat()}\n\n"
        '[[sharing]]\nto_agencies = ["CA0380100"]\npurposes = ["*"]\n'
    )


async def loads(admin_dsn: str, at_least: int, wait_s: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + wait_s
    while True:
        entries = await log_entries(admin_dsn)
        found = [e for _, e in sorted(entries.items()) if e["event"] == "policy_loaded"]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_an_api_reload_reaches_both_workers_and_they_agree(
    tmp_path: Path, dbs: Databases, dev_keys: tuple[Path, Path], log_keys: tuple[Path, str]
) -> None:
    keys = Keys(dev_keys[0], dev_keys[1], log_keys[0], log_keys[1])
    store_admin, store = await fresh_store(dbs)
    await seed_store(store_admin, seed_rows(datetime.now(UTC)))
    admin_dsn, audit = await dbs.fresh_audit()
    grants = tmp_path / "grants"
    grants.mkdir()
    config, port = write_config(
        tmp_path,
        keys,
        store_dsn=store,
        audit_dsn=audit,
        workers=2,
        sections={"policy": {"grants_dir": str(grants)}},
    )
    chief = RefKey("oakland.example.gov/chief")
    policy = tmp_path / "policy.toml"
    text = policy.read_text()
    assert OAKLAND_BLOCK in text
    policy.write_text(
        text.replace(OAKLAND_BLOCK, OAKLAND_BLOCK + f'grant_keys = ["{chief.vkey}"]\n')
    )
    server = ProxyProcess(config, port, tmp_path / "serve.log", workers=2)
    try:
        await server.start()
        started = await loads(admin_dsn, 2)
        assert [e["grants"][OAKLAND]["reason"] for e in started] == ["missing", "missing"]

        grant = grant_text(datetime.now(UTC))
        (grants / f"{OAKLAND}.grant").write_bytes(note(grant, chief))
        admin = keys.token("ops.lee", OAKLAND, ["admin"])
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                server.url + "/v1/admin/policy/reload",
                headers={"Authorization": f"Bearer {admin}"},
            ) as resp,
        ):
            assert resp.status == 200, await resp.text()
        after = (await loads(admin_dsn, 4))[2:]
        triggers = sorted(e["trigger"] for e in after)
        assert triggers == ["api:ops.lee@CA0010900", "peer:api:ops.lee@CA0010900"]
        in_force = [e["grants"][OAKLAND]["in_force"] for e in after]
        assert None not in in_force, [e["grants"] for e in after]
        assert [f["text"] for f in in_force] == [grant, grant]
        assert len({f["sha256"] for f in in_force}) == 1
    finally:
        await server.close()
