"""`alpr-proxy retention purge`: deletions on record (one `purge` entry whose counts are the rows
gone), a dry run that changes nothing, and refusals that delete nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from proxy.cli.common import SetupError
from proxy.cli.retention import PurgeIncomplete, purge, report
from proxy.settings import Settings, load_settings
from tests.cli.test_cli import run
from tests.http.search_helpers import entry, log_size
from tests.pg import PURGE_ROLE, Databases, as_role, fresh_store, with_db
from tests.policy.test_retention import TEXT
from tests.store.test_purge import DUE, NOW, POLICY, ROWS, UNION, UNKNOWN, ids, seed


def settings_for(store_admin: str, read_only: str, audit: str, **db: str) -> Settings:
    database = {
        "store_dsn": read_only,
        "audit_dsn": audit,
        "purge_dsn": as_role(store_admin, PURGE_ROLE),
        **db,
    }
    return load_settings(env={}, overrides={"database": database})


async def _counts_by_owner(admin: str) -> dict[str, int]:
    conn = await asyncpg.connect(admin)
    try:
        rows = await conn.fetch("SELECT agency_ori, count(*) FROM alpr.reads GROUP BY 1")
    finally:
        await conn.close()
    return {r[0]: r[1] for r in rows}


async def test_a_purge_appends_one_entry_whose_counts_are_the_rows_gone(dbs: Databases):
    admin, read_only = await fresh_store(dbs)
    audit_admin, audit = await dbs.fresh_audit()
    await seed(admin, ROWS)
    before = await _counts_by_owner(admin)
    settings = settings_for(admin, read_only, audit)
    result = await purge(settings, POLICY, NOW, batch=2)
    after = await _counts_by_owner(admin)
    assert await ids(admin) == set(ROWS) - DUE
    assert await log_size(audit_admin) == 1  # exactly one entry for the run
    assert result.index == 0
    e = await entry(audit_admin, 0)
    assert e["event"] == "purge" and e["dry_run"] is False
    assert e["policy_version"] == POLICY.version and e["retention_days"] == 365
    gone = {o: before[o] - after.get(o, 0) for o in before}
    assert {o: v["deleted"] for o, v in e["owners"].items() if v["deleted"]} == {
        o: n for o, n in gone.items() if n
    }
    assert e["deleted"] == sum(gone.values()) == len(DUE)
    assert e["owners"][UNION] == {
        "cutoff": "2026-05-25T12:00:00.000000Z",  # NOW - 21 days
        "retention_days": 21,
        "deleted": 2,
    }
    assert e["owners"][UNKNOWN]["retention_days"] == 365  # not in the policy: the global one
    # Idempotent: a second run deletes nothing and says so.
    again = await purge(settings, POLICY, NOW)
    assert again.deleted == 0 and (await entry(audit_admin, 1))["deleted"] == 0
    assert "deleted 0 reads (none); entry 1" in report(again)


async def test_a_dry_run_changes_nothing_and_appends_nothing(dbs: Databases):
    admin, read_only = await fresh_store(dbs)
    audit_admin, audit = await dbs.fresh_audit()
    await seed(admin, ROWS)
    result = await purge(settings_for(admin, read_only, audit), POLICY, NOW, dry_run=True)
    assert result.dry_run and result.index is None
    assert {o: p.deleted for o, p in result.owners.items() if p.deleted} == {
        UNION: 2,
        "CA0010900": 1,
        "CA0010800": 1,
        UNKNOWN: 1,
    }
    assert await ids(admin) == set(ROWS)
    assert await log_size(audit_admin) == 0
    assert "would delete 5 reads" in report(result)


@pytest.mark.parametrize(
    ("db", "message"),
    [
        ({"purge_dsn": ""}, "no database.purge_dsn"),
        ({"purge_dsn": "STORE"}, "read-only store DSN"),
        ({"audit_dsn": "postgresql://nobody@127.0.0.1:1/none"}, "audit database"),
    ],
)
async def test_refusals_delete_nothing(dbs: Databases, db: dict[str, str], message: str):
    admin, read_only = await fresh_store(dbs)
    audit_admin, audit = await dbs.fresh_audit()
    await seed(admin, ROWS)
    db = {k: read_only if v == "STORE" else v for k, v in db.items()}
    settings = settings_for(admin, read_only, audit, **db)
    with pytest.raises(SetupError, match=message):
        await purge(settings, POLICY, NOW)
    assert await ids(admin) == set(ROWS)
    assert await log_size(audit_admin) == 0


async def test_the_command_line(dbs: Databases, tmp_path: Path):
    """As cron runs it: a dry run, a run, and the read-only DSN refused in one line."""
    admin, read_only = await fresh_store(dbs)
    audit_admin, audit = await dbs.fresh_audit()
    now = datetime.now(UTC)
    conn = await asyncpg.connect(admin)
    try:
        await conn.executemany(
            "INSERT INTO alpr.reads VALUES ($1, 'CLI1', 'CA', $2, 37.8, -122.2, 'C', $3)",
            [(1, now - timedelta(days=30), UNION), (2, now - timedelta(days=1), UNION)],
        )
    finally:
        await conn.close()
    (tmp_path / "policy.toml").write_text(TEXT)
    config = tmp_path / "config.toml"

    def write(purge_dsn: str) -> None:
        config.write_text(
            f'[database]\nstore_dsn = "{read_only}"\naudit_dsn = "{audit}"\n'
            f'purge_dsn = "{purge_dsn}"\n[policy]\nfile = "policy.toml"\n'
        )

    write(read_only)
    refused = run("retention", "purge", "--config", str(config))
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert "read-only store DSN" in refused.stderr
    write(as_role(admin, PURGE_ROLE))
    dry = run("retention", "purge", "--config", str(config), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-1].endswith(
        f"would delete 1 reads ({UNION} 1); dry run: nothing deleted, nothing appended"
    )
    done = run("retention", "purge", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].endswith(f"deleted 1 reads ({UNION} 1); entry 0")
    assert await ids(admin) == {2}
    assert (await entry(audit_admin, 0))["owners"][UNION]["deleted"] == 1


async def test_a_store_failing_between_batches_records_the_batches_that_went(dbs: Databases):
    admin, read_only = await fresh_store(dbs)
    audit_admin, audit = await dbs.fresh_audit()
    await seed(admin, ROWS)

    async def kill_the_purge_session(_: object) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'alpr-proxy retention purge'"
                " AND datname = current_database()"
            )
        finally:
            await conn.close()

    settings = settings_for(admin, read_only, audit)
    with pytest.raises(PurgeIncomplete, match="stopped early") as caught:
        await purge(settings, POLICY, NOW, batch=2, on_batch=kill_the_purge_session)
    assert caught.value.recorded and caught.value.run.deleted == 2  # the first batch only
    assert len(set(ROWS) - await ids(admin)) == 2
    e = await entry(audit_admin, 0)
    assert e["deleted"] == 2 and caught.value.run.index == 0


async def test_deletions_the_log_could_not_take_are_reported_as_not_recorded(dbs: Databases):
    admin, read_only = await fresh_store(dbs)
    await seed(admin, ROWS)
    # An audit database that opens but has no log to append to.
    unmigrated = await _empty_database(dbs)
    settings = settings_for(admin, read_only, unmigrated)
    with pytest.raises(PurgeIncomplete) as caught:
        await purge(settings, POLICY, NOW)
    assert not caught.value.recorded and caught.value.run.deleted == len(DUE)
    assert await ids(admin) == set(ROWS) - DUE


async def _empty_database(dbs: Databases) -> str:
    name = f"{dbs.prefix}_no_log"
    conn = await asyncpg.connect(dbs.admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_db(dbs.admin_dsn, name)
