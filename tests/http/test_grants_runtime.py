"""Owners' grants in a running proxy (SPEC §11): the grant in force decides who receives the
owner's reads, every policy_loaded entry says per owner what is in force or why not, and the
record read back from the audit log keeps rollback and key-change protection across restarts
(a second app on the same audit database, with nothing of the first one's memory)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.grants.note_ref import RefKey, note
from tests.http.conftest import NOW, MakeClient, policy_text
from tests.http.search_helpers import bearer, body, entry, log_size
from tests.pg import Databases

OAKLAND, SFPD, BERKELEY = "CA0010900", "CA0380100", "CA0010800"
ORIGIN = "test.alpr-proxy.invalid/audit"  # tests.conftest.LOG_ORIGIN
OAKLAND_BLOCK = 'name = "Oakland Police Department"\nkind = "local"\nstate = "CA"\n'
CHIEF = RefKey("oakland.example.gov/chief")


def grant(issued_days_ago: float, to: str = SFPD) -> str:
    issued = NOW - timedelta(days=issued_days_ago)
    return (
        f'owner = "{OAKLAND}"\ndeployment = "{ORIGIN}"\nissued = {issued.isoformat()}\n'
        f"expires = {(issued + timedelta(days=300)).isoformat()}\n\n"
        f'[[sharing]]\nto_agencies = ["{to}"]\npurposes = ["*"]\n'
    )


def setup(tmp_path: Path, key: RefKey, grant_note: bytes | None) -> dict[str, Any]:
    """A policy where Oakland holds the pen with ``key``, and a grants_dir."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    policy = tmp_path / "policy.toml"
    text = policy_text().replace(OAKLAND_BLOCK, OAKLAND_BLOCK + f'grant_keys = ["{key.vkey}"]\n')
    policy.write_text(text)
    grants = tmp_path / "grants"
    grants.mkdir(exist_ok=True)
    if grant_note is not None:
        (grants / f"{OAKLAND}.grant").write_bytes(grant_note)
    return {"file": str(policy), "grants_dir": str(grants)}


async def read_ids(client: Any, token: str) -> list[int]:
    resp = await client.post("/v1/search", json=body(), headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return sorted(r["id"] for r in (await resp.json())["reads"])


async def test_the_grant_in_force_decides_and_is_on_the_record(
    make_client: MakeClient, make_token: Any, dbs: Databases, tmp_path: Path
) -> None:
    admin_dsn, dsn = await dbs.fresh_audit()
    text = grant(1)
    client = await make_client(audit_dsn=dsn, policy=setup(tmp_path, CHIEF, note(text, CHIEF)))
    e = await entry(admin_dsn, 0)
    status = e["grants"][OAKLAND]
    assert status["reason"] is None and status["keys"] == [CHIEF.vkey]
    assert status["in_force"]["signed_by"] == [CHIEF.hash8]
    assert status["in_force"]["text"] == text
    # The operator's rule (local and state agencies in CA) no longer reaches Berkeley.
    assert await read_ids(client, make_token(ori=BERKELEY)) == [2, 5]
    assert await read_ids(client, make_token(ori=SFPD)) == [1, 5, 6, 7]
    assert await read_ids(client, make_token(ori=OAKLAND)) == [1, 5, 7]  # its own, always


async def test_a_missing_grant_shares_with_no_one_and_the_service_runs(
    make_client: MakeClient, make_token: Any, dbs: Databases, tmp_path: Path
) -> None:
    admin_dsn, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn, policy=setup(tmp_path, CHIEF, None))
    assert (await entry(admin_dsn, 0))["grants"][OAKLAND]["reason"] == "missing"
    assert await read_ids(client, make_token(ori=BERKELEY)) == [2, 5]
    assert await read_ids(client, make_token(ori=SFPD)) == [5, 6]


async def test_rollback_is_refused_by_a_second_app_on_the_same_log(
    make_client: MakeClient, make_token: Any, dbs: Databases, tmp_path: Path
) -> None:
    admin_dsn, dsn = await dbs.fresh_audit()
    newer, older = grant(1), grant(2, to=BERKELEY)
    first = await make_client(
        audit_dsn=dsn, policy=setup(tmp_path / "a", CHIEF, note(newer, CHIEF))
    )
    assert await read_ids(first, make_token(ori=SFPD)) == [1, 5, 6, 7]
    await first.close()
    # A fresh host: its own files, the older grant; only the audit log is shared.
    second = await make_client(
        audit_dsn=dsn, policy=setup(tmp_path / "b", CHIEF, note(older, CHIEF))
    )
    last = await entry(admin_dsn, await log_size(admin_dsn) - 1)
    assert last["event"] == "policy_loaded"
    assert last["grants"][OAKLAND]["reason"] == "rollback"
    assert await read_ids(second, make_token(ori=BERKELEY)) == [2, 5]
    assert await read_ids(second, make_token(ori=SFPD)) == [5, 6]


async def test_keys_swapped_by_the_operator_are_refused_after_a_restart(
    make_client: MakeClient, make_token: Any, dbs: Databases, tmp_path: Path
) -> None:
    admin_dsn, dsn = await dbs.fresh_audit()
    first = await make_client(
        audit_dsn=dsn, policy=setup(tmp_path / "a", CHIEF, note(grant(2), CHIEF))
    )
    await first.close()
    operator = RefKey("operator.example/grants")  # signs a wider grant with its own key
    wide = note(grant(1, to=BERKELEY), operator)
    second = await make_client(audit_dsn=dsn, policy=setup(tmp_path / "b", operator, wide))
    last = await entry(admin_dsn, await log_size(admin_dsn) - 1)
    assert last["grants"][OAKLAND]["reason"] == "keys_changed"
    assert last["grants"][OAKLAND]["keys"] == [CHIEF.vkey]  # the record keeps the owner's
    assert await read_ids(second, make_token(ori=BERKELEY)) == [2, 5]


async def test_an_api_reload_picks_up_a_new_grant(
    make_client: MakeClient, make_token: Any, dbs: Databases, tmp_path: Path
) -> None:
    admin_dsn, dsn = await dbs.fresh_audit()
    sections = setup(tmp_path, CHIEF, None)
    client = await make_client(audit_dsn=dsn, policy=sections)
    assert await read_ids(client, make_token(ori=SFPD)) == [5, 6]
    (Path(sections["grants_dir"]) / f"{OAKLAND}.grant").write_bytes(note(grant(1), CHIEF))
    admin = make_token(sub="ops.lee", roles=("admin",))
    resp = await client.post("/v1/admin/policy/reload", headers=bearer(admin))
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["grants"][OAKLAND]["in_force"]["signed_by"] == [CHIEF.hash8]
    e = await entry(admin_dsn, result["audit_index"])
    assert e["grants"][OAKLAND]["reason"] is None
    # The diff shows what the new grant widened: a rule for Oakland naming SFPD.
    (added,) = e["diff"]["sharing"]["added"]
    assert added["rule"]["owner"] == OAKLAND and added["rule"]["to_agencies"] == [SFPD]
    assert "to_agencies" in added["widened"]
    assert await read_ids(client, make_token(ori=SFPD)) == [1, 5, 6, 7]
