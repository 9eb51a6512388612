"""Session fixtures: a real PostgreSQL, migrated databases, signing keys, a test policy."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from proxy.audit.note import generate_signer_key
from proxy.auth.tokens import generate_dev_keypair, mint_token
from proxy.demo.embedded import PASSFILE_ENV, EmbeddedPostgres
from tests.pg import Databases, create_databases, drop_databases

ISSUER = "https://idp.test.example"
AUDIENCE = "alpr-proxy"
LOG_ORIGIN = "test.alpr-proxy.invalid/audit"

# Every `serve` a test starts gets a free metrics port (0) rather than the default 9464, which
# servers started side by side would contend for. Tests of the listener choose their own.
os.environ.setdefault("ALPR_PROXY_METRICS_LISTEN", "127.0.0.1:0")


@pytest.fixture(scope="session", autouse=True)
def pg_passfile() -> Iterator[Path]:
    """One password file for every embedded cluster of the session (they require passwords);
    clients find it through $PGPASSFILE, so DSNs written by hand need no password."""
    directory = Path(tempfile.mkdtemp(prefix="alpr-proxy-test-pgpass-"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASSFILE_ENV, str(directory / "pgpass"))
        mp.setenv("PGPASSFILE", str(directory / "pgpass"))
        yield directory / "pgpass"
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_dsn(pg_passfile: Path) -> Iterator[str]:
    external = os.environ.get("ALPR_PROXY_TEST_DSN")
    if external:
        yield external
        return
    # Not under pytest's tmp dir: pytest tightens its permissions mid-session, and the server
    # runs as another OS user when the tests run as root.
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="alpr-proxy-test-pg-")) / "data")
    server.start()
    try:
        yield server.dsn()
    finally:
        server.destroy()
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
async def dbs(pg_admin_dsn: str) -> AsyncIterator[Databases]:
    databases = await create_databases(pg_admin_dsn)
    try:
        yield databases
    finally:
        await drop_databases(databases)


@pytest.fixture(scope="session")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(private PEM path, public PEM path) of an Ed25519 token-signing key."""
    private, public = generate_dev_keypair()
    d = tmp_path_factory.mktemp("keys")
    (d / "dev.key").write_bytes(private)
    (d / "dev.pub").write_bytes(public)
    return d / "dev.key", d / "dev.pub"


@pytest.fixture(scope="session")
def log_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(signing key file, verifier key) for the audit log's checkpoints."""
    skey, vkey = generate_signer_key(LOG_ORIGIN)
    path = tmp_path_factory.mktemp("logkey") / "log-signing.key"
    path.write_text(skey + "\n")
    return path, vkey


@pytest.fixture(scope="session")
def make_token(dev_keys: tuple[Path, Path]):  # type: ignore[no-untyped-def]
    private = dev_keys[0].read_bytes()

    def make(
        sub: str = "det.alvarez",
        ori: str = "CA0010900",
        roles: tuple[str, ...] = ("investigator",),
        ttl_s: int = 600,
    ) -> str:
        return mint_token(
            private,
            issuer=ISSUER,
            audience=AUDIENCE,
            sub=sub,
            ori=ori,
            roles=list(roles),
            ttl_s=ttl_s,
        )

    return make
