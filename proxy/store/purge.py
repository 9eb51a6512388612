"""Deleting reads past retention from `alpr.reads` (`alpr-proxy retention purge`, SPEC §11).

The one place that deletes from the store, through its own role (sql/store/004_purge_role.sql:
SELECT and DELETE on alpr.reads), never the proxy's read-only one. A read is due when it was
observed before its owner's cutoff (`proxy.policy.retention`: the owner's own retention when
shorter, else the global one; owners the policy does not know get the global one), the same
cutoffs the search filter and the store's fetch apply, computed from the same `now`.

Deletion goes in batches of at most `batch` rows, each its own short transaction, so a search
never waits on a long-held lock and a crash loses at most the batch in flight (rolled back).
It is idempotent: a second run finds nothing due but what aged past a cutoff in between.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from proxy.policy.model import Policy
from proxy.policy.retention import cutoff, owner_cutoffs
from proxy.store.postgres import owner_cutoff

BATCH = 10_000
# Serialises purge runs on one store (a cron job overlapping a slow previous run).
LOCK_KEY = 0x616C7072_0050  # "alpr" + P


class PurgeRefused(Exception):
    """The store is not one this command may delete from; the message says why."""


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """When a read of each owner is due: `owners` for those with a shorter retention of their
    own, `default` for everyone else."""

    default: datetime
    owners: Mapping[str, datetime]

    @classmethod
    def of(cls, policy: Policy, now: datetime) -> Cutoffs:
        return cls(cutoff(now, policy.settings.retention_days), owner_cutoffs(policy, now))

    def of_owner(self, owner: str) -> datetime:
        return self.owners.get(owner, self.default)

    def args(self) -> tuple[object, ...]:
        """$1 the latest cutoff (an index range bound), $2 owners, $3 their cutoffs, $4 the
        default: the parameters of `_DUE`."""
        latest = max([self.default, *self.owners.values()])
        return latest, list(self.owners), list(self.owners.values()), self.default


_DUE = f"observed_at < $1 AND observed_at < {owner_cutoff('$4', 2)}"
COUNT_SQL = f"SELECT agency_ori, count(*) FROM alpr.reads WHERE {_DUE} GROUP BY agency_ori"
# One batch: the oldest $5 due rows at or after $6 (where the previous batch ended: each batch
# resumes the index range scan instead of starting over past the reads it kept, e.g. a year of
# other owners' reads between the global cutoff and a short retention's), deleted by primary
# key; what went per owner, and the newest time deleted.
DELETE_SQL = (
    f"WITH doomed AS (SELECT id FROM alpr.reads WHERE {_DUE} AND observed_at >= $6"
    " ORDER BY observed_at LIMIT $5),"
    " gone AS (DELETE FROM alpr.reads r USING doomed WHERE r.id = doomed.id"
    " RETURNING r.agency_ori, r.observed_at)"
    " SELECT agency_ori, count(*), max(observed_at) FROM gone GROUP BY agency_ori"
)
_MIGRATED = (
    "SELECT EXISTS (SELECT 1 FROM public.alpr_proxy_migrations"
    " WHERE component = 'store' AND name = '001_reads.sql')"
)
# 001_reads.sql creates this index only with the table; 003's indexes exist on any table.
_OWN_TABLE = (
    "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = 'alpr' AND c.relname = 'reads' AND c.relkind = 'r')"
    " AND to_regclass('alpr.reads_plate_observed_idx') IS NOT NULL"
)
_CAN_DELETE = "SELECT has_table_privilege('alpr.reads', 'DELETE')"


async def check_store(conn: asyncpg.Connection) -> None:
    """Refuse unless alpr.reads is the table `alpr-proxy migrate` created and this session
    may delete from it. An operator's view over reads kept elsewhere is never purged."""
    if await conn.fetchval("SELECT to_regclass('alpr.reads') IS NULL"):
        raise PurgeRefused("there is no alpr.reads in this database")
    if not await conn.fetchval(_CAN_DELETE):
        raise PurgeRefused("this role may not DELETE from alpr.reads (use the purge role)")
    try:
        migrated = await conn.fetchval(_MIGRATED)
    except asyncpg.UndefinedTableError:
        migrated = False
    except asyncpg.InsufficientPrivilegeError:
        raise PurgeRefused("this role may not read the migration bookkeeping") from None
    if not migrated:
        raise PurgeRefused("the store has no record of `alpr-proxy migrate` creating alpr.reads")
    if not await conn.fetchval(_OWN_TABLE):
        raise PurgeRefused("alpr.reads is not the table `alpr-proxy migrate` created")


async def exclusive(conn: asyncpg.Connection) -> None:
    """Hold the purge lock for this session; refuse when another purge holds it."""
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
        raise PurgeRefused("another purge is running on this store")


async def count_due(conn: asyncpg.Connection, cutoffs: Cutoffs) -> dict[str, int]:
    """Reads that a purge would delete now, per owner (a dry run)."""
    return {r[0]: r[1] for r in await conn.fetch(COUNT_SQL, *cutoffs.args())}


async def delete_due(
    conn: asyncpg.Connection, cutoffs: Cutoffs, batch: int = BATCH
) -> AsyncIterator[dict[str, int]]:
    """Delete every due read, `batch` rows per transaction, yielding the count deleted per
    owner of each batch once it is committed (so a caller knows what went if a later one
    fails)."""
    args = cutoffs.args()
    resume = datetime.min.replace(tzinfo=UTC)
    while True:
        async with conn.transaction():
            rows = await conn.fetch(DELETE_SQL, *args, batch, resume)
        yield {r[0]: r[1] for r in rows}
        if sum(r[1] for r in rows) < batch:
            return
        # Reads at that very time may remain due (a tie cut by LIMIT): start there, not after.
        resume = max(r[2] for r in rows)
