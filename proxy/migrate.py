"""Apply the numbered SQL files in sql/store and sql/audit, each once, under an advisory lock.

Each database records what it has applied in `public.alpr_proxy_migrations`, so running
`alpr-proxy migrate` again (or from several hosts at once) is a no-op.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import asyncpg

Component = Literal["store", "audit"]
_LOCK_KEY = 0x616C7072  # "alpr": serialises concurrent migrate runs on one database


def sql_dir() -> Path:
    packaged = Path(__file__).parent / "_sql"  # wheel installs (see pyproject force-include)
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "sql"  # source checkout / editable install


def migration_files(component: Component) -> list[Path]:
    return sorted((sql_dir() / component).glob("*.sql"))


async def migrate(dsn: str, component: Component) -> list[str]:
    """Apply pending migrations for `component` to the database at `dsn`; return their names."""
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS public.alpr_proxy_migrations ("
            " component text NOT NULL, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (component, name))"
        )
        done = {
            r["name"]
            for r in await conn.fetch(
                "SELECT name FROM public.alpr_proxy_migrations WHERE component = $1", component
            )
        }
        for path in migration_files(component):
            if path.name in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text(encoding="utf-8"))
                await conn.execute(
                    "INSERT INTO public.alpr_proxy_migrations (component, name) VALUES ($1, $2)",
                    component,
                    path.name,
                )
            applied.append(path.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
        await conn.close()
    return applied
