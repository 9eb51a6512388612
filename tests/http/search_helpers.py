"""Shared bits of the HTTP tests: request bodies and reading entries back from the log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import orjson

from tests.http.conftest import NOW


def body(**changes: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "type": "plate",
        "plate": "7ABC123",
        "from": (NOW - timedelta(days=500)).isoformat(),
        "to": NOW.isoformat(),
        "purpose": "HOMICIDE",
        "case_number": "26-004211",
        "justification": "Vehicle seen leaving scene of 1/14 homicide, witness statement",
    }
    for key, value in changes.items():
        if value is None:
            b.pop(key, None)
        else:
            b[key] = value
    return b


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def entry(audit_admin_dsn: str, index: int) -> dict[str, Any]:
    conn = await asyncpg.connect(audit_admin_dsn)
    try:
        raw = await conn.fetchval("SELECT body FROM audit.entries WHERE idx = $1", index)
    finally:
        await conn.close()
    assert raw is not None, f"no audit entry at {index}"
    result: dict[str, Any] = orjson.loads(raw)
    return result


async def log_size(audit_admin_dsn: str) -> int:
    conn = await asyncpg.connect(audit_admin_dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM audit.entries"))
    finally:
        await conn.close()
