"""Exigent purposes (SPEC §12): run at once and marked; a per-person cap over a sliding 24 h,
and no new exigent search while one's own is overdue for review (injected clock)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from proxy.oversight.facts import catch_up_facts
from tests.http.approval_helpers import AMBER, OAKLAND, POLICY, Clock, code, fresh, search
from tests.http.conftest import NOW, MakeClient
from tests.http.search_helpers import bearer, entry
from tests.pg import Databases


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(make_client: MakeClient, clock: Clock) -> Any:
    return await make_client(policy_toml=POLICY, clock=clock)


async def test_exigent_runs_at_once_and_is_marked(
    client: Any, make_token: Callable[..., str], dbs: Databases
) -> None:
    det = make_token(sub=fresh("det"), ori=OAKLAND)
    status, answer = await search(client, det, **AMBER)
    assert status == 200, answer
    logged = await entry(dbs.audit_admin, answer["audit_index"])
    assert logged["exigent"] is True and logged["decision"] == "allowed"
    status, plain = await search(client, det)  # HOMICIDE: not exigent, not marked
    assert "exigent" not in await entry(dbs.audit_admin, plain["audit_index"])


async def test_daily_cap_is_a_sliding_24_hours(
    client: Any, make_token: Callable[..., str], clock: Clock
) -> None:
    det = make_token(sub=fresh("det"), ori=OAKLAND)
    for _ in range(3):  # exigent_per_user_per_day defaults to 3
        assert (await search(client, det, **AMBER))[0] == 200
    status, answer = await search(client, det, **AMBER)
    assert (status, code(answer)) == (403, "exigent_review_overdue")
    other = make_token(sub=fresh("det"), ori=OAKLAND)  # the cap is per person
    assert (await search(client, other, **AMBER))[0] == 200
    clock.now = NOW + timedelta(hours=23, minutes=59)
    assert (await search(client, det, **AMBER))[0] == 403
    clock.now = NOW + timedelta(hours=24)
    assert (await search(client, det, **AMBER))[0] == 200


async def test_overdue_review_blocks_until_reviewed(
    client: Any, make_token: Callable[..., str], clock: Clock, dbs: Databases
) -> None:
    det = make_token(sub=fresh("det"), ori=OAKLAND)
    status, answer = await search(client, det, **AMBER)
    assert status == 200
    done = answer["audit_index"]
    clock.now = NOW + timedelta(hours=72)  # exigent_review_hours defaults to 72: not yet late
    assert (await search(client, det, **AMBER))[0] == 200
    clock.now = NOW + timedelta(hours=72, seconds=1)
    status, answer = await search(client, det, **AMBER)
    assert (status, code(answer)) == (403, "exigent_review_overdue")
    assert "await review" in answer["error"]["message"]
    assert (await search(client, det))[0] == 200  # other purposes are unaffected

    overseer = make_token(sub=fresh("ig"), ori="CA0349400", roles=("oversight",))
    review = {"index": done, "disposition": "no_issue", "note": "exigency documented"}
    resp = await client.post("/v1/audit/reviews", json=review, headers=bearer(overseer))
    assert resp.status == 200, await resp.text()
    conn = await asyncpg.connect(dbs.audit_admin)
    try:
        await catch_up_facts(conn)  # reviews are read from the derived facts
    finally:
        await conn.close()
    assert (await search(client, det, **AMBER))[0] == 200


async def test_exigent_takes_no_approval(client: Any, make_token: Callable[..., str]) -> None:
    det = make_token(sub=fresh("det"), ori=OAKLAND)
    status, answer = await search(client, det, **AMBER, approval=3)
    assert (status, code(answer)) == (403, "approval_invalid")
