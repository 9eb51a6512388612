"""The embedded PostgreSQL (demo and tests) requires every role's password, on every route."""

from __future__ import annotations

import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from proxy.demo.embedded import ROLES, EmbeddedPostgres, read_passfile


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedPostgres]:
    # Not under pytest's tmp dir: the server runs as another OS user when the tests run as root.
    parent = Path(tempfile.mkdtemp(prefix="alpr-proxy-embedded-auth-"))
    pg = EmbeddedPostgres(parent / "data", passfile=parent / "pgpass")
    pg.start()
    try:
        yield pg
    finally:
        pg.destroy()
        shutil.rmtree(parent, ignore_errors=True)


async def refused(pg: EmbeddedPostgres, user: str, **how: object) -> bool:
    """Whether a connection as `user` without the right password is refused."""
    assert pg.passfile is not None
    nowhere = str(pg.passfile.parent / "no-such-passfile")  # not $PGPASSFILE either
    try:
        conn = await asyncpg.connect(user=user, database="postgres", passfile=nowhere, **how)
    except asyncpg.InvalidPasswordError:
        return True
    await conn.close()
    return False


async def test_every_role_needs_its_password_over_tcp_and_the_socket(server: EmbeddedPostgres):
    tcp = {"host": "127.0.0.1", "port": server.port}
    socket = {"host": str(server.data_dir), "port": server.port}
    for role in ROLES:
        assert await refused(server, role, **tcp)
        assert await refused(server, role, **socket)
        assert await refused(server, role, password="wrong", **tcp)
        conn = await asyncpg.connect(server.dsn("postgres", role))  # dsn() carries it
        assert await conn.fetchval("SELECT current_user") == role
        await conn.close()


def test_passwords_are_kept_in_an_owner_only_file(server: EmbeddedPostgres):
    assert server.passfile is not None
    assert stat.S_IMODE(server.passfile.stat().st_mode) == 0o600
    assert set(read_passfile(server.passfile)) == set(ROLES)


async def test_a_data_directory_made_with_trust_authentication_is_upgraded(
    server: EmbeddedPostgres,
):
    # What an older `alpr-proxy demo` left behind: trust for everyone, no password file.
    server.stop()
    (server.data_dir / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
    assert server.passfile is not None
    server.passfile.unlink()
    server.start()
    assert await refused(server, "postgres", host="127.0.0.1", port=server.port)
    conn = await asyncpg.connect(server.dsn())
    await conn.close()
