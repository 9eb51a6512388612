"""`alpr-proxy migrate --config FILE`: exit 0 when both databases are up to date, 2 when it
cannot run (config, connection, a migration failing), with one line naming the database."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

from proxy import loops
from proxy.migrate import Component, migrate
from proxy.settings import Settings, SettingsError, load_settings
from proxy.store.pools import DB_ERRORS


class MigrateError(Exception):
    """A database could not be migrated; the message names which."""


def _where(dsn: str) -> str:
    """host:port/database of a DSN, never its password."""
    try:
        parts = urlsplit(dsn)
        return f"{parts.hostname}:{parts.port or 5432}{parts.path}"
    except ValueError:
        return "unparseable DSN"


async def _one(dsn: str, component: Component) -> list[str]:
    if not dsn:
        raise MigrateError(f"no database.{component}_dsn configured")
    try:
        return await migrate(dsn, component)
    except DB_ERRORS as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise MigrateError(f"the {component} database ({_where(dsn)}): {detail}") from exc


async def migrate_all(settings: Settings) -> dict[str, list[str]]:
    db = settings.database
    return {
        "store": await _one(db.migrate_store_dsn or db.store_dsn, "store"),
        "audit": await _one(db.migrate_audit_dsn or db.audit_dsn, "audit"),
    }


def migrate_command(config: str) -> int:
    try:
        settings = load_settings(config)
        applied = loops.run(migrate_all(settings))
    except (SettingsError, MigrateError) as exc:
        print(f"alpr-proxy migrate: {exc}", file=sys.stderr)
        return 2
    for component, names in applied.items():
        print(f"{component}: {', '.join(names) if names else 'up to date'}")
    return 0
