"""The test session's PostgreSQL: embedded by default, `ALPR_PROXY_TEST_DSN` to use a server.

Each test session creates its own store and audit databases (unique names, dropped at the end),
and fresh audit databases are cloned from a migrated template, so tests that need an empty log
cost one CREATE DATABASE.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from proxy.migrate import migrate


def with_db(dsn: str, database: str, user: str | None = None) -> str:
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if user is not None:
        host = netloc.rsplit("@", 1)[-1]
        netloc = f"{user}@{host}"
    return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, parts.fragment))


@dataclass
class Databases:
    admin_dsn: str  # a superuser on the server, any database
    store_admin: str
    audit_admin: str
    store: str  # as the proxy's read-only store role
    audit: str  # as the proxy's insert/select-only audit role
    prefix: str

    async def fresh_audit(self) -> tuple[str, str]:
        """A new, migrated, empty audit database: (admin dsn, proxy-role dsn)."""
        name = f"{self.prefix}_audit_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.prefix}_audit_tmpl"')
        finally:
            await conn.close()
        return with_db(self.admin_dsn, name), with_db(self.admin_dsn, name, "alpr_proxy_audit")


PURGE_ROLE = "alpr_proxy_purge"  # sql/store/004_purge_role.sql: SELECT, DELETE on alpr.reads


def as_role(dsn: str, role: str) -> str:
    """The same database as `dsn`, logged in as `role` (the test server trusts local roles)."""
    return with_db(dsn, urlsplit(dsn).path.lstrip("/"), role)


async def fresh_store(dbs: Databases) -> tuple[str, str]:
    """A new, migrated, empty store database: (admin dsn, read-only-role dsn)."""
    name = f"{dbs.prefix}_store_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dbs.admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    admin = with_db(dbs.admin_dsn, name)
    await migrate(admin, "store")
    return admin, with_db(dbs.admin_dsn, name, "alpr_proxy_store")


async def create_databases(admin_dsn: str) -> Databases:
    prefix = f"alpr_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        for suffix in ("store", "audit", "audit_tmpl"):
            await conn.execute(f'CREATE DATABASE "{prefix}_{suffix}"')
    finally:
        await conn.close()
    store_admin = with_db(admin_dsn, f"{prefix}_store")
    audit_admin = with_db(admin_dsn, f"{prefix}_audit")
    await migrate(store_admin, "store")
    await migrate(audit_admin, "audit")
    await migrate(with_db(admin_dsn, f"{prefix}_audit_tmpl"), "audit")
    return Databases(
        admin_dsn=admin_dsn,
        store_admin=store_admin,
        audit_admin=audit_admin,
        store=with_db(admin_dsn, f"{prefix}_store", "alpr_proxy_store"),
        audit=with_db(admin_dsn, f"{prefix}_audit", "alpr_proxy_audit"),
        prefix=prefix,
    )


async def drop_databases(dbs: Databases) -> None:
    conn = await asyncpg.connect(dbs.admin_dsn)
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", dbs.prefix + "%"
        )
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()
