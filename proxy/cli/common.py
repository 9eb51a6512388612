"""What the offline audit commands share: their setup error (exit 2) and the audit database
connection they read through (the migration role's DSN when configured)."""

from __future__ import annotations

import asyncpg

from proxy.settings import DatabaseSettings
from proxy.store.pools import DB_ERRORS


class SetupError(Exception):
    """The command could not start or run; exit 2."""


async def connect_audit(db: DatabaseSettings) -> asyncpg.Connection:
    dsn = db.migrate_audit_dsn or db.audit_dsn
    if not dsn:
        raise SetupError("no database.audit_dsn configured")
    try:
        return await asyncpg.connect(dsn, timeout=db.connect_timeout_s)
    except DB_ERRORS as exc:
        raise SetupError(f"cannot connect to the audit database: {exc}") from exc
