"""The rollups' "every agency" scope cannot be reached by an agency (issue 13, item 6).

It used to be '*', a string a token's `ori` or a search's on_behalf_of.ori could hold: an
auditor of agency '*' read oversight's figures, and an entry naming '*' counted twice in them.
sql/audit/007_rollup_all_scope.sql moves it to '' and rebuilds existing rollups."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

import proxy.migrate
from proxy.audit import postgres
from proxy.migrate import migrate, migration_files
from proxy.oversight.derived import derive_body
from proxy.oversight.facts import COLUMNS, row
from tests.oversight.oversight_fixture import A, B, append, at, search
from tests.oversight.test_reports import run, usage_table
from tests.pg import Databases, with_db

OLD_ALL = "*"
# Whole days only: every figure below comes from the rollups, not from raw edges.
LOG = [
    search(at(2, 10), A, "alice", "HOMICIDE", "Shooting on 5th St, witness saw the car",
           disclosed={A: 2}),
    search(at(2, 11), B, "bob", "ROBBERY", "Robbery at the corner store last night",
           disclosed={B: 1}),
    search(at(2, 12), A, "erin", "HOMICIDE", "Canvass of the area near the bridge"),
    # An agency whose ORI is the old sentinel, and a search on its behalf.
    search(at(3, 9), OLD_ALL, "mallory", "HOMICIDE", "Looking at everything, all agencies",
           disclosed={A: 1}),
    search(at(3, 10), A, "alice", "HOMICIDE", "Follow-up with the witness of the shooting",
           obo=OLD_ALL, disclosed={A: 4}),
]  # fmt: skip
WHOLE = (at(2), at(5))
EVERYTHING = {
    (A, "HOMICIDE", "allowed"): (3, 6),
    (B, "ROBBERY", "allowed"): (1, 1),
    (OLD_ALL, "HOMICIDE", "allowed"): (1, 1),
}
ONLY_OLD_ALL = {(A, "HOMICIDE", "allowed"): (1, 4), (OLD_ALL, "HOMICIDE", "allowed"): (1, 1)}


async def _check(dsn: str) -> None:
    from proxy.oversight.period import Period

    period = Period(*WHOLE)
    # Oversight: every entry once (the on-behalf-of '*' search is not counted twice).
    assert usage_table(await run(dsn, "usage", period, None)) == EVERYTHING
    # An auditor whose ORI is the old sentinel sees only entries concerning that agency.
    assert usage_table(await run(dsn, "usage", period, OLD_ALL)) == ONLY_OLD_ALL
    assert (await run(dsn, "disclosures", period, OLD_ALL)).disclosed == {A: {A: 4, OLD_ALL: 5}}
    everyone = await run(dsn, "flags", period, None, volume_factor=1.0, volume_min=1)
    mine = await run(dsn, "flags", period, OLD_ALL, volume_factor=1.0, volume_min=1)
    # A's users: alice 2 (not 3), erin 1. In the '*' scope alice has 1 search and is alone.
    assert [(u.subject, u.searches) for u in everyone.unusual_volume.users] == [("alice", 2)]
    assert mine.unusual_volume.users == []
    # An empty ORI (tokens never carry one) sees nothing, not everything.
    assert usage_table(await run(dsn, "usage", period, "")) == {}


async def test_an_auditor_whose_ori_is_the_old_sentinel_sees_only_their_own_numbers(
    dbs: Databases,
):
    _, dsn = await dbs.fresh_audit()
    await append(dsn, LOG)
    await _check(dsn)


@pytest.fixture
async def before_007(
    dbs: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[str, str]]:
    """A database migrated through 006, holding LOG rolled up the old way ('*' scope)."""
    old = tmp_path / "sql"
    (old / "audit").mkdir(parents=True)
    for path in migration_files("audit"):
        if path.name < "007":
            shutil.copy(path, old / "audit" / path.name)
    name = f"{dbs.prefix}_pre007_{uuid.uuid4().hex[:6]}"
    server = await asyncpg.connect(dbs.admin_dsn)
    await server.execute(f'CREATE DATABASE "{name}"')
    await server.close()
    admin, dsn = with_db(dbs.admin_dsn, name), with_db(dbs.admin_dsn, name, "alpr_proxy_audit")
    with monkeypatch.context() as m:
        m.setattr(proxy.migrate, "sql_dir", lambda: old)
        await migrate(admin, "audit")
    conn = await asyncpg.connect(dsn)
    try:
        for i, r in enumerate(LOG):
            async with conn.transaction():
                await postgres.append(conn, [r])
            # The facts columns 006 created (later migrations may add more).
            await conn.copy_records_to_table(
                "entry_facts",
                schema_name="audit",
                records=[row(i, derive_body(r.body))[:18]],
                columns=COLUMNS[:18],
            )
        await conn.fetchval("SELECT audit.roll_up()")
        old_all = await conn.fetchval(
            "SELECT sum(searches) FROM audit.daily_usage WHERE scope = '*'"
        )
    finally:
        await conn.close()
    assert old_all == len(LOG) + 2  # the collision: '*' rows mix everything with agency '*'
    try:
        yield admin, dsn
    finally:
        server = await asyncpg.connect(dbs.admin_dsn)
        await server.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await server.close()


async def test_migration_rebuilds_rollups_written_with_the_old_sentinel(
    before_007: tuple[str, str],
):
    admin, dsn = before_007
    assert "007_rollup_all_scope.sql" in await migrate(admin, "audit")
    conn = await asyncpg.connect(dsn)
    try:
        scopes = {
            r["scope"]: int(r["n"])
            for r in await conn.fetch(
                "SELECT scope, sum(searches) AS n FROM audit.daily_usage GROUP BY scope"
            )
        }
        progress = await conn.fetchval("SELECT next_idx FROM audit.rollup_progress")
    finally:
        await conn.close()
    assert scopes == {"": 5, A: 4, B: 1, OLD_ALL: 2}
    assert progress == len(LOG)
    await _check(dsn)
