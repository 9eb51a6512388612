"""Searches keep being served while `retention purge` deletes (SPEC §11), and at no moment is a
read past its owner's retention in a response: the search-time check does not wait for the
purge, and the purge's short batches never hold searches up."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from proxy.cli.retention import purge
from proxy.policy import parse_policy
from proxy.settings import load_settings
from tests.http.conftest import NOW, policy_text
from tests.http.search_helpers import bearer, body
from tests.pg import PURGE_ROLE, Databases, as_role, fresh_store

OAKLAND, ALAMEDA = "CA0010900", "CA0010000"  # Alameda shares with Oakland for HOMICIDE
ALAMEDA_ENTRY = 'ori = "CA0010000"\nname = "Alameda County Sheriff\'s Office"\nkind = "local"\n'
# Alameda keeps 21 days of its own; the global retention is 365.
RETENTION = {OAKLAND: timedelta(days=365), ALAMEDA: timedelta(days=21)}
COLUMNS = ["id", "plate", "plate_state", "observed_at", "lat", "lon", "camera_id", "agency_ori"]
SERVABLE = {1: (ALAMEDA, 15), 2: (ALAMEDA, 18), 3: (ALAMEDA, 20), 4: (OAKLAND, 100)}
PAST = [(ALAMEDA, 22 + i % 38) for i in range(1500)] + [
    (OAKLAND, 366 + i % 300) for i in range(1500)
]


async def _seed(admin: str) -> None:
    rows = {**SERVABLE, **{100 + i: row for i, row in enumerate(PAST)}}
    conn = await asyncpg.connect(admin)
    try:
        await conn.copy_records_to_table(
            "reads",
            schema_name="alpr",
            records=[
                (i, "PURGE9", "CA", NOW - timedelta(days=age, hours=i % 24), 37.81, -122.26, "C", o)
                for i, (o, age) in rows.items()
            ],
            columns=COLUMNS,
        )
    finally:
        await conn.close()


def _check(result: dict[str, Any]) -> None:
    """Every read within its owner's retention, and all four servable ones there."""
    for read in result["reads"]:
        age = NOW - datetime.fromisoformat(read["observed_at"])
        assert age <= RETENTION[read["agency"]], read
    assert sorted(r["id"] for r in result["reads"]) == sorted(SERVABLE)


async def test_searches_during_a_purge_never_see_a_read_past_retention(
    make_client, make_token, dbs: Databases, tmp_path: Path
):
    admin, read_only = await fresh_store(dbs)
    await _seed(admin)
    text = policy_text()
    assert ALAMEDA_ENTRY in text
    text = text.replace(ALAMEDA_ENTRY, ALAMEDA_ENTRY + "retention_days = 21\n")
    (tmp_path / "purge-policy.toml").write_text(text)
    _, audit = await dbs.fresh_audit()
    client = await make_client(
        store_dsn=read_only, audit_dsn=audit, policy={"file": str(tmp_path / "purge-policy.toml")}
    )
    headers = bearer(make_token())
    b = body(plate="PURGE9")
    served = 0

    async def search() -> None:
        nonlocal served
        resp = await client.post("/v1/search", json=b, headers=headers)
        result = await resp.json()
        assert resp.status == 200, result
        _check(result)
        served += 1

    await search()  # before: 3000 reads past retention in the store, none served

    async def between_batches(_: object) -> None:
        await search()  # between two committed batches: mid-purge, deterministically

    stop = asyncio.Event()

    async def alongside() -> None:
        while not stop.is_set():
            await search()

    background = asyncio.create_task(alongside())
    settings = load_settings(
        env={},
        overrides={
            "database": {
                "store_dsn": read_only,
                "audit_dsn": audit,
                "purge_dsn": as_role(admin, PURGE_ROLE),
            }
        },
    )
    try:
        run = await purge(
            settings, parse_policy(text.encode()), NOW, batch=250, on_batch=between_batches
        )
    finally:
        stop.set()
        await background
    assert run.deleted == len(PAST)
    assert served >= 1 + 13  # before, and after each of the 12 full batches and the last
    await search()  # after: the same answer
