"""Which retention a purge applies: the operator's policy file, with each owner's signed grant as
the audit log last recorded it in force (SPEC §11).

The purge must delete no more than the running proxy withholds. For an owner with `grant_keys`,
the operator's `retention_days` is ignored: its grant's retention applies (the global one when
the grant sets none or no grant is in force), so an operator cannot shorten an owner's retention
in the policy file and have the purge destroy reads the owner's grant keeps.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

import orjson

from proxy.grants import RecordError, policy_as_recorded
from proxy.oversight import facts
from proxy.policy.model import Policy
from proxy.settings import Settings
from proxy.store.pools import AUDIT, open_proxy_pool


def with_recorded_grants(policy: Policy, grants: dict[str, Any] | None) -> Policy:
    """``policy`` with the grants section of the last ``policy_loaded`` entry applied; owners
    that have keys in the file but nothing on record yet keep only the global retention."""
    recorded = policy_as_recorded(policy, grants)
    unrecorded = {o for o, a in policy.agencies.items() if a.grant_keys} - set(grants or {})
    kept = {o: d for o, d in recorded.owner_retention_days.items() if o not in unrecorded}
    return replace(recorded, owner_retention_days=MappingProxyType(kept), sharing_memo={})


async def policy_in_force(settings: Settings, policy: Policy) -> Policy:
    """Raises RecordError when the last ``policy_loaded`` entry cannot be read as a record (the
    purge then refuses to run), or the database errors of ``open_proxy_pool``."""
    db = settings.database
    async with open_proxy_pool(AUDIT, db.audit_dsn, db, 1) as pool, pool.acquire() as conn:
        body = await facts.latest_of_event(conn, "policy_loaded")
    try:
        entry = orjson.loads(body) if body is not None else {}
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"the last policy_loaded entry is not JSON: {exc}") from None
    grants = entry.get("grants") if isinstance(entry, dict) else None
    return with_recorded_grants(policy, grants if isinstance(grants, dict) else None)
