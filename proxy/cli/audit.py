"""`alpr-proxy audit verify --config FILE [--key VERIFIER_KEY] [--checkpoint FILE]` (SPEC §2).

Exit 0: the whole log verifies; 1: it does not, and the output names the first failing index
or checkpoint with its evidence; 2: the verification could not run (config, key, connection).
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import asyncpg

from proxy import loops
from proxy.audit.checkpoint import load_signer
from proxy.audit.offline import LogReport, LogVerificationError, verify_log
from proxy.audit.verify import NoteFormatError, Verifier
from proxy.settings import Settings, SettingsError, load_settings

PROG = "alpr-proxy audit verify"


class _SetupError(Exception):
    """The verification could not start; exit 2."""


# Failures that mean the log could not be read, as opposed to a log that does not verify.
_NOT_RUN = (SettingsError, _SetupError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _verifier(settings: Settings, key: str | None) -> Verifier:
    if key is None:
        try:
            key = load_signer(settings.log.signing_key_file).verifier_key
        except (OSError, ValueError) as exc:
            msg = f"cannot derive the verifier key from log.signing_key_file: {exc}"
            raise _SetupError(msg) from exc
        # Whoever can edit the database may also hold this file, so it proves little.
        print(
            f"note: verifier key {key} was derived from log.signing_key_file; an auditor should"
            " pass --key from an independent source (e.g. the key published by the operator)"
        )
    try:
        return Verifier.from_key(key)
    except NoteFormatError as exc:
        raise _SetupError(str(exc)) from exc


def _show(value: object) -> str:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else str(value)


async def _run(settings: Settings, key: Verifier, external: bytes | None) -> LogReport:
    db = settings.database
    dsn = db.migrate_audit_dsn or db.audit_dsn
    if not dsn:
        raise _SetupError("no database.audit_dsn configured")
    try:
        conn = await asyncpg.connect(dsn, timeout=db.connect_timeout_s)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise _SetupError(f"cannot connect to the audit database: {exc}") from exc
    try:  # the verifier only reads, inside one read-only snapshot
        return await verify_log(conn, key, external_checkpoint=external, origin=settings.log.origin)
    finally:
        await conn.close()


def verify_command(config: str, *, key: str | None, checkpoint: str | None) -> int:
    try:
        settings = load_settings(config)
        verifier = _verifier(settings, key)
        external = None if checkpoint is None else Path(checkpoint).read_bytes()
        report = loops.run(_run(settings, verifier, external))
    except _NOT_RUN as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except LogVerificationError as exc:
        print(f"FAILED: {exc}")
        for name, value in vars(exc).items():
            print(f"  {name}: {_show(value)}")
        return 1
    rate = report.entries / report.seconds if report.seconds > 0 else 0.0
    print(f"OK: {report.entries} entries and {report.checkpoints} stored checkpoints verified")
    if report.external_checkpoint_size is not None:
        print(f"external checkpoint at size {report.external_checkpoint_size} verified")
    print(f"size {report.size}")
    print(f"root {_show(report.root)}")
    print(f"{report.seconds:.2f} s, {rate:,.0f} entries/s")
    return 0
