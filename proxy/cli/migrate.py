"""`alpr-proxy migrate --config FILE`."""

from __future__ import annotations

import sys

from proxy import loops
from proxy.migrate import migrate
from proxy.settings import Settings, SettingsError, load_settings


async def migrate_all(settings: Settings) -> dict[str, list[str]]:
    db = settings.database
    store_dsn = db.migrate_store_dsn or db.store_dsn
    audit_dsn = db.migrate_audit_dsn or db.audit_dsn
    return {
        "store": await migrate(store_dsn, "store"),
        "audit": await migrate(audit_dsn, "audit"),
    }


def migrate_command(config: str) -> int:
    try:
        settings = load_settings(config)
        applied = loops.run(migrate_all(settings))
    except (SettingsError, OSError) as exc:
        print(f"alpr-proxy migrate: {exc}", file=sys.stderr)
        return 2
    for component, names in applied.items():
        print(f"{component}: {', '.join(names) if names else 'up to date'}")
    return 0
