"""`alpr-proxy audit verify --config FILE [--key VERIFIER_KEY] [--checkpoint FILE]
[--witness VKEY]... [--quorum K]` (SPEC §2, §10).

Exit 0: the whole log verifies (and, with --witness, a stored checkpoint has the quorum of
cosignatures); 1: it does not, and the output names the first failing index or checkpoint with
its evidence, or the best-cosigned checkpoint; 2: the verification could not run (config, key,
--witness, --quorum, connection), or the key or origin given is not this log's (the message
names the setting to fix).

An auditor's config may hold only `database.audit_dsn`: without `log.origin`, the origin is the
verifier key's name, as `alpr-proxy keygen --name ORIGIN` makes it.
"""

from __future__ import annotations

import base64
import os
import sys
import time
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from proxy import loops
from proxy.audit import claims
from proxy.audit.checkpoint import load_signer
from proxy.audit.config_check import ConfigurationMismatch, Expected, check_log
from proxy.audit.log_errors import LogVerificationError
from proxy.audit.offline import LogReport, verify_log
from proxy.audit.verify import NoteFormatError, Verifier
from proxy.audit.witness_check import (
    WitnessFinding,
    WitnessPolicy,
    WitnessUsageError,
    check_witnesses,
    parse_witnesses,
)
from proxy.cli.common import SetupError, connect_audit
from proxy.settings import Settings, SettingsError, load_settings
from proxy.store.pools import DB_ERRORS

PROG = "alpr-proxy audit verify"


# Failures that mean the log could not be read, as opposed to a log that does not verify.
_NOT_RUN = (
    SettingsError,
    SetupError,
    ConfigurationMismatch,
    WitnessUsageError,
    OSError,
    *DB_ERRORS,
)


def _origin_setting(config: str) -> str | None:
    """log.origin as the operator set it (environment, then file); None when left default."""
    if (env := os.environ.get("ALPR_PROXY_LOG_ORIGIN")) is not None:
        return env
    data = tomllib.loads(Path(config).read_text(encoding="utf-8"))  # load_settings read it
    origin = data.get("log", {}).get("origin")
    return origin if isinstance(origin, str) else None


def _expected(config: str, verifier: Verifier, key: str | None) -> Expected:
    origin = _origin_setting(config)
    return Expected(
        key=verifier,
        key_setting="--key" if key is not None else "log.signing_key_file",
        origin=verifier.name if origin is None else origin,
        origin_setting=None if origin is None else "log.origin",
    )


def _verifier(settings: Settings, key: str | None) -> Verifier:
    if key is None:
        try:
            key = load_signer(settings.log.signing_key_file).verifier_key
        except (OSError, ValueError) as exc:
            msg = f"cannot derive the verifier key from log.signing_key_file: {exc}"
            raise SetupError(msg) from exc
        # Whoever can edit the database may also hold this file, so it proves little.
        print(
            f"note: verifier key {key} was derived from log.signing_key_file; an auditor should"
            " pass --key from an independent source (e.g. the key published by the operator)"
        )
    try:
        return Verifier.from_key(key)
    except NoteFormatError as exc:
        raise SetupError(str(exc)) from exc


def _show(value: object) -> str:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else str(value)


async def _run(
    settings: Settings, want: Expected, external: bytes | None, policy: WitnessPolicy | None
) -> tuple[LogReport, WitnessFinding | None, dict[int, list[int]]]:
    conn = await connect_audit(settings.database)
    try:  # the verifier only reads, inside one read-only snapshot
        await check_log(conn, want, external)
        report = await verify_log(conn, want.key, external_checkpoint=external, origin=want.origin)
        # Single use of approvals is kept by a table beside the log; the log shows a breach.
        reused = await claims.duplicate_uses(conn)
        if policy is None:
            return report, None, reused
        now = int(time.time())
        found = await check_witnesses(conn, want.key, policy, report.covered, now)
        return report, found, reused
    finally:
        await conn.close()


def verify_command(
    config: str,
    *,
    key: str | None,
    checkpoint: str | None,
    witnesses: Sequence[str] = (),
    quorum: int | None = None,
) -> int:
    try:
        policy = parse_witnesses(witnesses, quorum) if witnesses or quorum else None
        settings = load_settings(config)
        want = _expected(config, _verifier(settings, key), key)
        external = None if checkpoint is None else Path(checkpoint).read_bytes()
        report, finding, reused = loops.run(_run(settings, want, external, policy))
    except _NOT_RUN as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except LogVerificationError as exc:
        print(f"FAILED: {exc}")
        for name, value in vars(exc).items():
            print(f"  {name}: {_show(value)}")
        return 1
    if finding is not None and (failed := finding.failure()) is not None:
        print(f"FAILED: {failed}")
        return 1
    for n, used in reused.items():  # the entries verify, but single use was broken
        print(f"FAILED: approval {n} was used by {len(used)} searches: entries {used}")
    if reused:
        return 1
    rate = report.entries / report.seconds if report.seconds > 0 else 0.0
    print(f"OK: {report.entries} entries and {report.checkpoints} stored checkpoints verified")
    if report.external_checkpoint_size is not None:
        print(f"external checkpoint at size {report.external_checkpoint_size} verified")
    print(f"size {report.size}")
    print(f"root {_show(report.root)}")
    print(f"{report.seconds:.2f} s, {rate:,.0f} entries/s")
    for line in uncovered_lines(report, settings.log.checkpoint_interval_s, datetime.now(UTC)):
        print(line)
    for line in [] if finding is None else finding.lines(report.size):
        print(line)
    return 0


def uncovered_lines(report: LogReport, interval_s: float, now: datetime) -> list[str]:
    """What no signed checkpoint vouches for: entries beyond the newest stored checkpoint, and,
    when the oldest of them is older than a checkpoint interval allows, the checkpoint that
    should exist and does not (deleted with the entries it covered, or a checkpointer that
    stopped). Reported, not failed: a proxy killed before its final checkpoint leaves the same
    trace until its next start; only a checkpoint kept outside the database (--checkpoint) or a
    witness proves what was there."""
    if report.covered >= report.size:
        return []
    first, last = report.covered, report.size - 1
    out = [f"uncovered: entries {first}..{last} are not covered by any stored checkpoint"]
    at = report.oldest_uncovered_at
    due = None if at is None else at + timedelta(seconds=2 * interval_s + 60)
    if due is not None and now > due:
        out.append(
            f"WARNING: a checkpoint covering entry {first} (committed {at:%Y-%m-%dT%H:%M:%SZ}) "
            f"was due by {due:%Y-%m-%dT%H:%M:%SZ} and none is stored: checkpoints were deleted, "
            "or the checkpointer stopped"
        )
    return out
