"""An app wired to the session's real databases, a fixed clock and a small hand-made policy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from proxy.app import create_app
from proxy.settings import load_settings
from tests.conftest import AUDIENCE, ISSUER, LOG_ORIGIN
from tests.pg import Databases

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
CLINIC = (37.8000, -122.2700)  # a sensitive location of radius 100 m in TEST_POLICY
RALLY = (37.8050, -122.2650)  # inside the protest polygon, active 2026-06-10 16:00-22:00Z
RALLY_DAY_18H = NOW - datetime(2026, 6, 10, 18, 0, tzinfo=UTC)  # age of a read at 18:00

TEST_POLICY = """
[settings]
retention_days = 365
max_results = 5
justification_min_chars = 20
prohibited_terms = ["immigration", "ICE", "ERO", "deport", "deportation", "illegal alien"]
rate_limit_per_minute = RATE

[[agencies]]
ori = "CA0010900"
name = "Oakland Police Department"
kind = "local"
state = "CA"

[[agencies]]
ori = "CA0010000"
name = "Alameda County Sheriff's Office"
kind = "local"
state = "CA"

[[agencies]]
ori = "CA0380100"
name = "San Francisco Police Department"
kind = "local"
state = "CA"

[[agencies]]
ori = "CA0010800"
name = "Berkeley Police Department"
kind = "local"
state = "CA"

[[agencies]]
ori = "CA0349400"
name = "California Highway Patrol"
kind = "state"
state = "CA"

[[agencies]]
ori = "NV0160200"
name = "Reno Police Department"
kind = "local"
state = "NV"

[[agencies]]
ori = "CA0389900"
name = "FBI San Francisco"
kind = "federal"
state = "CA"

[[agencies]]
ori = "CA0389999"
name = "ICE ERO San Francisco"
kind = "federal"
state = "CA"
immigration_enforcement = true

[[purposes]]
code = "HOMICIDE"
description = "Homicide investigation"
max_lookback_days = 730
case_number = "required"
query_types = ["plate"]

[[purposes]]
code = "ROBBERY"
description = "Robbery investigation"
max_lookback_days = 90
case_number = "required"
query_types = ["plate"]

[[purposes]]
code = "AMBER_ALERT"
description = "AMBER alert: abducted child"
max_lookback_days = 30
case_number = "optional"
query_types = ["plate"]
sensitive_locations = "include"

[[purposes]]
code = "CANVASS"
description = "Area canvass only"
max_lookback_days = 30
case_number = "required"
query_types = ["area"]
area_max_radius_m = 300
area_max_window_hours = 2

[[purposes]]
code = "KIDNAPPING"
description = "Kidnapping / abduction"
max_lookback_days = 730
case_number = "required"
query_types = ["plate", "partial_plate", "area"]
area_max_radius_m = 500
area_max_window_hours = 6

[[purposes]]
code = "CIVIL_IMMIGRATION"
description = "Civil immigration enforcement"
prohibited = true

[[sharing]]
owner = "CA0010900"
to_kinds = ["local", "state"]
to_states = ["CA"]
exclude_immigration_enforcement = true
purposes = ["*"]
expires = 2030-12-31

[[sharing]]
owner = "CA0010000"
to_kinds = ["local"]
to_states = ["CA"]
to_agencies = ["CA0389999"]
exclude_immigration_enforcement = true
purposes = ["HOMICIDE"]

[[sharing]]
owner = "CA0380100"
to_kinds = ["local", "state"]
to_states = ["CA"]
exclude_immigration_enforcement = true
purposes = ["*"]
expires = 2026-06-14

[[sensitive_locations]]
name = "Eastside Women's Clinic"
category = "medical"
circle = { lat = 37.8000, lon = -122.2700, radius_m = 100 }

[[sensitive_locations]]
name = "Plaza rally"
category = "protest"
polygon = [[-122.2655, 37.8045], [-122.2645, 37.8045], [-122.2645, 37.8055], [-122.2655, 37.8055]]
active_from = 2026-06-10T16:00:00Z
active_until = 2026-06-10T22:00:00Z
"""


def policy_text(rate: int = 1000) -> str:
    return TEST_POLICY.replace("RATE", str(rate))


# id, plate, state, age, lat, lon, camera, owner
_TOWN = (37.8100, -122.2600)
STORE_ROWS: list[tuple[int, str, str | None, timedelta, float, float, str, str]] = [
    (1, "7ABC123", "CA", timedelta(days=1), *_TOWN, "OAK-1", "CA0010900"),
    (2, "7ABC123", "CA", timedelta(days=2), *_TOWN, "BRK-1", "CA0010800"),
    (3, "7ABC123", "CA", timedelta(days=3), *CLINIC, "OAK-2", "CA0010900"),
    (4, "7ABC123", "CA", timedelta(days=400), *_TOWN, "OAK-1", "CA0010900"),
    (5, "7ABC123", "CA", timedelta(days=4), *_TOWN, "ACSO-1", "CA0010000"),
    (6, "7ABC123", "CA", timedelta(days=5), *_TOWN, "SF-1", "CA0380100"),
    (7, "7ABC123", "NV", timedelta(days=6), *_TOWN, "OAK-1", "CA0010900"),
    # Same place, during the rally (withheld) and the next day (an ordinary street corner).
    (20, "8XYZ999", "CA", RALLY_DAY_18H, *RALLY, "OAK-9", "CA0010900"),
    (21, "8XYZ999", "CA", RALLY_DAY_18H - timedelta(days=1), *RALLY, "OAK-9", "CA0010900"),
    *[
        (100 + i, "MANY1", "CA", timedelta(hours=i + 1), *_TOWN, "OAK-3", "CA0010900")
        for i in range(8)
    ],
]


@pytest.fixture(scope="session")
async def seeded_store(dbs: Databases) -> str:
    conn = await asyncpg.connect(dbs.store_admin)
    try:
        await conn.execute("TRUNCATE alpr.reads")
        await conn.copy_records_to_table(
            "reads",
            schema_name="alpr",
            records=[
                (i, p, s, NOW - age, lat, lon, cam, owner)
                for i, p, s, age, lat, lon, cam, owner in STORE_ROWS
            ],
            columns=[
                "id",
                "plate",
                "plate_state",
                "observed_at",
                "lat",
                "lon",
                "camera_id",
                "agency_ori",
            ],
        )
    finally:
        await conn.close()
    return dbs.store


MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def make_client(
    dbs: Databases,
    seeded_store: str,
    dev_keys: tuple[Path, Path],
    log_keys: tuple[Path, str],
    tmp_path: Path,
) -> AsyncIterator[MakeClient]:
    clients: list[TestClient[Any, Any]] = []

    async def make(
        *,
        rate: int = 1000,
        audit_dsn: str | None = None,
        store_dsn: str | None = None,
        server_class: type[TestServer] = TestServer,
        policy_toml: str | None = None,
        clock: Callable[[], datetime] = lambda: NOW,
        **sections: dict[str, Any],
    ) -> TestClient[Any, Any]:
        policy = tmp_path / f"policy-{len(clients)}.toml"
        policy.write_text(policy_text(rate) if policy_toml is None else policy_toml)
        overrides: dict[str, dict[str, Any]] = {
            "database": {
                "store_dsn": store_dsn or seeded_store,
                "audit_dsn": audit_dsn or dbs.audit,
                "connect_timeout_s": 2,
                "statement_timeout_s": 5,
            },
            "auth": {
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "public_key_file": str(dev_keys[1]),
                "algorithms": ["EdDSA"],
            },
            "policy": {"file": str(policy)},
            "log": {
                "origin": LOG_ORIGIN,
                "signing_key_file": str(log_keys[0]),
                "checkpoint_interval_s": 0.2,
            },
        }
        for name, values in sections.items():
            overrides.setdefault(name, {}).update(values)
        settings = load_settings(env={}, overrides=overrides)
        client = TestClient(server_class(create_app(settings, clock=clock)))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.close()


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    return await make_client()
