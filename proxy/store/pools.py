"""PostgreSQL connection pools, for the store and the audit log alike: the settings the proxy's
pools share (and the load baseline's), what counts as a database failure (`DB_ERRORS`, the one
definition), and what an operator reads when a database cannot be opened at start."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from proxy.settings import DatabaseSettings


async def keep_session(conn: asyncpg.Connection) -> None:
    """Pool release hook that sends nothing.

    asyncpg's default release runs ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` — one more round trip per query, a sixth of a search's CPU in the profile.
    Before calling this hook the pool still rolls back any open transaction; the proxy never
    changes session state (its settings are startup parameters, its advisory locks are
    transaction-scoped, it holds no cursors or LISTENs), so there is nothing left to reset.
    """
    del conn


class DatabaseUnavailable(Exception):
    """A database the server needs could not be opened. The message is one line for the
    operator: which database, which setting, where, and what is wrong (never a password)."""


# (label, setting) of each database the server opens.
STORE = ("store", "database.store_dsn")
AUDIT = ("audit", "database.audit_dsn")


def _where(dsn: str) -> str:
    """host:port/database of a DSN, without the user or password."""
    if not dsn:
        return "libpq defaults"
    try:
        parts = urlsplit(dsn)
        host, port = parts.hostname or "localhost", parts.port or 5432
    except ValueError:
        return "an unparsable DSN"
    return f"{host}:{port}{parts.path}"


def _cause(exc: BaseException) -> str:
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f"unknown database: {exc}"
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return f"authentication or role failure: {exc}"  # unknown role, wrong password
    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        return f"the role lacks a privilege the proxy needs (run `alpr-proxy migrate`?): {exc}"
    if isinstance(exc, asyncpg.PostgresError):
        return f"the server refused (SQLSTATE {exc.sqlstate}): {exc}"
    if isinstance(exc, TimeoutError):
        return "no answer within database.connect_timeout_s"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host: {exc.strerror}"
    refused = isinstance(exc, ConnectionRefusedError) or (
        isinstance(exc, OSError) and f"[Errno {errno.ECONNREFUSED}]" in str(exc)
    )  # asyncpg joins one error per address (IPv6, IPv4) into a plain OSError
    if refused:
        return "connection refused (is PostgreSQL running there?)"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot connect: {exc.strerror}"
    return f"cannot connect: {type(exc).__name__}: {exc}".rstrip(": ")


def describe(which: tuple[str, str], dsn: str, exc: BaseException) -> str:
    label, setting = which
    return f"{label} database ({setting}, {_where(dsn)}): {_cause(exc)}"


# Every way a database can fail under us. InternalClientError is asyncpg's "the connection went
# away mid-operation" (e.g. "cannot switch to state 12"), not an InterfaceError.
DB_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
PROBE_TIMEOUT_S = 2.0


async def ping(pool: asyncpg.Pool) -> bool:
    """Whether the database answers a trivial query within PROBE_TIMEOUT_S (readiness)."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            return bool(await pool.fetchval("SELECT true"))
    except Exception:  # any failure means "not reachable" for readiness
        return False


@contextlib.contextmanager
def database_errors(which: tuple[str, str], dsn: str) -> Iterator[None]:
    """Turn a failure to open or first use a database into DatabaseUnavailable."""
    try:
        yield
    except DB_ERRORS as exc:
        raise DatabaseUnavailable(describe(which, dsn, exc)) from exc


@contextlib.asynccontextmanager
async def open_pool(
    which: tuple[str, str], dsn: str, **options: Any
) -> AsyncIterator[asyncpg.Pool]:
    """asyncpg.create_pool(dsn, **options), its failure to open described (DatabaseUnavailable)."""
    with database_errors(which, dsn):
        pool = await asyncpg.create_pool(dsn, **options)
    try:
        yield pool
    finally:
        await pool.close()


def open_proxy_pool(
    which: tuple[str, str], dsn: str, db: DatabaseSettings, size: int, **server_settings: str
) -> contextlib.AbstractAsyncContextManager[asyncpg.Pool]:
    """A pool as the server opens each of its databases: `size` connections at most, the
    connect and statement timeouts of [database], no reset query, these session settings."""
    return open_pool(
        which,
        dsn,
        min_size=1,
        max_size=size,
        timeout=db.connect_timeout_s,
        command_timeout=db.statement_timeout_s,
        reset=keep_session,
        server_settings=server_settings,
    )


async def check_databases(db: DatabaseSettings) -> None:
    """Open and close one connection to each database: a start with several workers fails here,
    once, rather than in every worker."""
    for which, dsn in ((STORE, db.store_dsn), (AUDIT, db.audit_dsn)):
        with database_errors(which, dsn):
            conn = await asyncpg.connect(dsn, timeout=db.connect_timeout_s)
            await conn.close()
