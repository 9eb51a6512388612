"""Policy lifecycle: audited loads with diffs, invalid files never replace valid ones, and no
request ever sees a half-loaded policy."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from proxy.http.state import POLICY, SETTINGS
from tests.http.search_helpers import bearer, body, entry
from tests.pg import Databases

FBI = "CA0389900"
NARROW = 'to_kinds = ["local", "state"]\nto_states = ["CA"]\nexclude_immigration_enforcement = true\npurposes = ["*"]\nexpires = 2030-12-31'  # noqa: E501
WIDE = NARROW.replace('["local", "state"]', '["local", "state", "federal"]')


def policy_path(client: Any) -> Path:
    return Path(client.server.app[SETTINGS].policy.file)


def widen(client: Any) -> None:
    path = policy_path(client)
    text = path.read_text()
    assert NARROW in text
    path.write_text(text.replace(NARROW, WIDE))


async def fbi_search(client: Any, token: str) -> dict[str, Any]:
    resp = await client.post(
        "/v1/search", json=body(on_behalf_of={"ori": FBI}), headers=bearer(token)
    )
    assert resp.status == 200
    result: dict[str, Any] = await resp.json()
    return result


async def test_startup_load_is_audited_with_the_policy_text(make_client, dbs: Databases):
    admin_dsn, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn)
    e = await entry(admin_dsn, 0)
    assert e["event"] == "policy_loaded" and e["trigger"] == "startup"
    assert e["previous_version"] is None and e["diff"]["from"] is None
    assert e["policy"] == policy_path(client).read_text()
    assert e["policy_version"] == client.server.app[POLICY].current.version


async def test_admin_reload_widening_is_audited_and_takes_effect(make_client, make_token, dbs):
    admin_dsn, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn)
    investigator = make_token()
    assert [r["id"] for r in (await fbi_search(client, investigator))["reads"]] == []
    old_version = client.server.app[POLICY].current.version

    widen(client)
    admin = make_token(sub="ops.lee", ori="CA0010900", roles=("admin",))
    resp = await client.post("/v1/admin/policy/reload", headers=bearer(admin))
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    assert result["previous_version"] == old_version
    assert result["policy_version"] != old_version
    e = await entry(admin_dsn, result["audit_index"])
    assert e["event"] == "policy_loaded" and e["trigger"] == "api:ops.lee@CA0010900"
    assert e["diff"]["from"] == old_version and e["diff"]["to"] == result["policy_version"]
    assert "federal" in str(e["diff"]["sharing"])  # the quietly widened rule is on the record
    after = await fbi_search(client, investigator)
    assert after["policy_version"] == result["policy_version"]
    assert [r["id"] for r in after["reads"]] == [1, 7]  # Oakland now shares with the FBI


async def test_invalid_policy_never_replaces_the_loaded_one(make_client, make_token, dbs):
    _, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn)
    before = client.server.app[POLICY].current.version
    policy_path(client).write_text(
        policy_path(client).read_text().replace('kind = "state"', 'kind = "statewide"')
    )
    admin = make_token(sub="ops.lee", roles=("admin",))
    resp = await client.post("/v1/admin/policy/reload", headers=bearer(admin))
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_request" and "agencies[4].kind" in error["message"]
    assert "previous one stays" in error["message"]
    assert client.server.app[POLICY].current.version == before
    assert (await fbi_search(client, make_token()))["policy_version"] == before


async def test_reload_needs_admin(client, make_token):
    resp = await client.post("/v1/admin/policy/reload", headers=bearer(make_token()))
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "forbidden_role"


async def test_sighup_reloads(make_client, make_token, dbs):
    _, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn)
    before = client.server.app[POLICY].current.version
    widen(client)
    os.kill(os.getpid(), signal.SIGHUP)
    for _ in range(100):
        if client.server.app[POLICY].current.version != before:
            break
        await asyncio.sleep(0.02)
    assert client.server.app[POLICY].current.version != before


async def test_no_request_sees_a_half_loaded_policy(make_client, make_token, dbs):
    """Searches run while the file flips between a narrow, a wide and an invalid version;
    every response must be exactly what the version it names allows."""
    _, dsn = await dbs.fresh_audit()
    client = await make_client(audit_dsn=dsn)
    path = policy_path(client)
    narrow_text = path.read_text()
    wide_text = narrow_text.replace(NARROW, WIDE)
    invalid_text = narrow_text.replace("retention_days = 365", "retention_days = -1")
    admin = make_token(sub="ops.lee", roles=("admin",))
    investigator = make_token()
    versions: dict[str, list[int]] = {client.server.app[POLICY].current.version: []}

    async def flip() -> None:
        for text, expected in [
            (wide_text, [1, 7]),
            (invalid_text, None),
            (narrow_text, []),
            (invalid_text, None),
            (wide_text, [1, 7]),
        ] * 3:
            path.write_text(text)
            resp = await client.post("/v1/admin/policy/reload", headers=bearer(admin))
            if expected is None:
                assert resp.status == 400
            else:
                versions[(await resp.json())["policy_version"]] = expected
            await asyncio.sleep(0)

    results: list[dict[str, Any]] = []

    async def search_many() -> None:
        for _ in range(15):
            results.append(await fbi_search(client, investigator))

    await asyncio.gather(flip(), *(search_many() for _ in range(4)))
    assert len(results) == 60
    for r in results:
        assert r["policy_version"] in versions
        assert [x["id"] for x in r["reads"]] == versions[r["policy_version"]]
