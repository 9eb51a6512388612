"""`alpr-proxy retention purge --config FILE [--dry-run]`: delete reads past retention, on record.

Connects to the store as `database.purge_dsn` (the purge role; never the proxy's read-only
`store_dsn`), refuses unless `alpr.reads` is the table `alpr-proxy migrate` created, deletes each
owner's reads older than its cutoff (`proxy.store.purge`) in bounded batches, then appends one
`purge` entry through the audit writer: per owner, the cutoff, the effective retention and the
count deleted. The cutoffs come from the policy file of the configuration and the clock now.

What the log guarantees: every `purge` entry's counts are exactly the rows that run deleted.
The audit database is opened before anything is deleted, so a run that cannot reach it deletes
nothing. If the append still fails after the deletions (the database went away in between), the
command exits 1 and prints the counts it could not record: those deletions are then not in the
log, and the next run does not record them either (it deletes only what became due since). They
were reads past retention, which no search could be served anyway.

If the store fails between batches, the batches already committed are recorded in the entry
and the command exits 1 (run it again to finish).

Exit 0: done (or the dry run printed); 1: stopped early (recorded) or deleted but not recorded;
2: refused or cannot run (configuration, policy, database, another purge running), nothing
deleted. A dry run opens a
read-only session, counts what it would delete per owner, and appends nothing.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

import asyncpg

from proxy import loops
from proxy.audit.canonical import timestamp
from proxy.audit.entry import OwnerPurge, purge_entry
from proxy.audit.writer import AuditWriter
from proxy.cli.common import SetupError
from proxy.cli.retention_policy import policy_in_force
from proxy.errors import ProxyError
from proxy.grants import RecordError
from proxy.policy.model import Policy, PolicyError
from proxy.policy.retention import retention_days
from proxy.search.live_policy import load_policy_file
from proxy.settings import DatabaseSettings, Settings, SettingsError, load_settings
from proxy.store.pools import AUDIT, DB_ERRORS, DatabaseUnavailable, describe, open_proxy_pool
from proxy.store.purge import (
    BATCH,
    Cutoffs,
    PurgeRefused,
    check_store,
    count_due,
    delete_due,
    exclusive,
)

PROG = "alpr-proxy retention purge"
PURGE = ("store", "database.purge_dsn")


@dataclass(frozen=True, slots=True)
class PurgeRun:
    policy_version: str
    dry_run: bool
    owners: Mapping[str, OwnerPurge]  # by ORI: the policy's agencies and any owner deleted from
    index: int | None = None  # of the purge entry; None for a dry run

    @property
    def deleted(self) -> int:
        return sum(o.deleted for o in self.owners.values())


class PurgeIncomplete(Exception):
    """The run did not finish as asked: its `purge` entry could not be appended after the
    deletions (`recorded` false), or the deletions stopped early and the entry records the
    batches that were committed (`recorded` true)."""

    def __init__(self, run: PurgeRun, cause: str, *, recorded: bool) -> None:
        super().__init__(cause)
        self.run = run
        self.recorded = recorded


def purge_dsn(db: DatabaseSettings) -> str:
    """The purge role's DSN; refused when missing or when it is the proxy's store role."""
    if not db.purge_dsn:
        raise SetupError("no database.purge_dsn configured (the purge role's DSN)")
    same_user = _user(db.purge_dsn) is not None and _user(db.purge_dsn) == _user(db.store_dsn)
    if db.purge_dsn == db.store_dsn or same_user:
        raise SetupError(
            "database.purge_dsn is the proxy's read-only store DSN; use the purge role"
        )
    return db.purge_dsn


def _user(dsn: str) -> str | None:
    try:
        return urlsplit(dsn).username
    except ValueError:
        return None


def owners_of(policy: Policy, cutoffs: Cutoffs, counts: Mapping[str, int]) -> dict[str, OwnerPurge]:
    return {
        o: OwnerPurge(cutoffs.of_owner(o), retention_days(policy, o), counts.get(o, 0))
        for o in sorted(set(policy.agencies) | set(counts))
    }


OnBatch = Callable[[Mapping[str, int]], Awaitable[None]]


async def purge(
    settings: Settings,
    policy: Policy,
    now: datetime,
    *,
    dry_run: bool = False,
    batch: int = BATCH,
    on_batch: OnBatch | None = None,
) -> PurgeRun:
    """One run; raises SetupError (nothing deleted) or PurgeIncomplete. `on_batch` is awaited
    after each committed batch with the counts deleted so far."""
    db = settings.database
    dsn = purge_dsn(db)
    read_only = {"default_transaction_read_only": "on"} if dry_run else {}
    try:
        conn = await asyncpg.connect(
            dsn,
            timeout=db.connect_timeout_s,
            server_settings={"application_name": PROG, **read_only},
        )
    except DB_ERRORS as exc:
        raise SetupError(describe(PURGE, dsn, exc)) from exc
    try:
        await check_store(conn)
        await exclusive(conn)
        cutoffs = Cutoffs.of(policy, now)
        if dry_run:
            counts = await count_due(conn, cutoffs)
            return PurgeRun(policy.version, True, owners_of(policy, cutoffs, counts))
        # The audit database first: a run that could not record its deletions does not start.
        async with open_proxy_pool(
            AUDIT, db.audit_dsn, db, 1, synchronous_commit="on", application_name=PROG
        ) as pool:
            return await _delete_and_record(conn, pool, policy, now, batch, on_batch)
    except (PurgeRefused, DatabaseUnavailable) as exc:
        raise SetupError(str(exc)) from None
    except DB_ERRORS as exc:  # before any deletion: checking the store, taking the lock
        raise SetupError(describe(PURGE, dsn, exc)) from exc
    finally:
        await conn.close()


async def _delete_and_record(
    conn: asyncpg.Connection,
    pool: asyncpg.Pool,
    policy: Policy,
    now: datetime,
    batch: int,
    on_batch: OnBatch | None,
) -> PurgeRun:
    cutoffs = Cutoffs.of(policy, now)
    deleted: Counter[str] = Counter()
    stopped: str | None = None
    try:
        async for counts in delete_due(conn, cutoffs, batch):
            deleted.update(counts)
            if on_batch is not None:
                await on_batch(dict(deleted))
    except DB_ERRORS as exc:
        # The batches committed so far are gone all the same: record them, then say so.
        stopped = f"the purge stopped early ({type(exc).__name__}: {exc})"
    run = PurgeRun(policy.version, False, owners_of(policy, cutoffs, deleted))
    record = purge_entry(
        at=now,
        policy_version=run.policy_version,
        retention_days=policy.settings.retention_days,
        owners=run.owners,
    )
    writer = AuditWriter(pool)
    await writer.start()
    try:
        run = replace(run, index=await writer.append(record))
    except ProxyError as exc:
        raise PurgeIncomplete(run, exc.message, recorded=False) from None
    finally:
        await writer.close()
    if stopped is not None:
        raise PurgeIncomplete(run, stopped, recorded=True)
    return run


def _counts(run: PurgeRun) -> str:
    return ", ".join(f"{o} {p.deleted}" for o, p in run.owners.items() if p.deleted) or "none"


def report(run: PurgeRun) -> str:
    """Per owner (cutoff, retention, count), then the one-line summary."""
    verb = "would delete" if run.dry_run else "deleted"
    lines = [
        f"{ori}  retention {p.retention_days}d  cutoff {timestamp(p.cutoff)}  {verb} {p.deleted}"
        for ori, p in run.owners.items()
    ]
    where = "dry run: nothing deleted, nothing appended" if run.dry_run else f"entry {run.index}"
    lines.append(f"{PROG}: {verb} {run.deleted} reads ({_counts(run)}); {where}")
    return "\n".join(lines)


def _policy_in_force(settings: Settings) -> Policy | None:
    """The policy file with the grants on record, or None after saying why on stderr."""
    try:
        policy = load_policy_file(settings.policy.file)
    except (OSError, PolicyError) as exc:
        print(f"{PROG}: the policy ({settings.policy.file}): {exc}", file=sys.stderr)
        return None
    try:
        return loops.run(policy_in_force(settings, policy))
    except RecordError as exc:
        print(f"{PROG}: the grants on record are unreadable ({exc}); no deletion", file=sys.stderr)
    except DatabaseUnavailable as exc:
        print(f"{PROG}: {exc}; nothing deleted", file=sys.stderr)
    except DB_ERRORS as exc:
        audit = describe(AUDIT, settings.database.audit_dsn, exc)
        print(f"{PROG}: {audit}; nothing deleted", file=sys.stderr)
    return None


def purge_command(config: str, *, dry_run: bool = False) -> int:
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    policy = _policy_in_force(settings)
    if policy is None:
        return 2
    try:
        run = loops.run(purge(settings, policy, datetime.now(UTC), dry_run=dry_run))
    except SetupError as exc:
        print(f"{PROG}: {exc}; nothing deleted", file=sys.stderr)
        return 2
    except PurgeIncomplete as exc:
        gone = f"deleted {exc.run.deleted} reads ({_counts(exc.run)})"
        if exc.recorded:
            print(report(exc.run))
            print(f"{PROG}: {exc}; {gone}, recorded in entry {exc.run.index}", file=sys.stderr)
        else:
            print(
                f"{PROG}: {gone} but could not append the purge entry ({exc}):"
                " these deletions are NOT in the audit log",
                file=sys.stderr,
            )
        return 1
    print(report(run))
    return 0
