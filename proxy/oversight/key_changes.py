"""Changes of owners' grant keys read from the log (proxy.grants.key_history), for the flags
report's `grant_key_changes` part (proxy.oversight.reports.flag_keys) and the owners'
transparency pages.

Each change is judged against the load before it, so every ``policy_loaded`` entry up to the
end of the range is read (a few per reload: a small, indexed set), then the range and scope
(an auditor's scope is the owner) are applied to the changes.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import orjson

from proxy.grants.key_history import OwnerKeyChange, key_changes

_LOADS = """
SELECT f.idx, f.at, e.body FROM audit.entry_facts f JOIN audit.entries e ON e.idx = f.idx
WHERE f.event = 'policy_loaded' AND f.at < $1 ORDER BY f.idx
"""


async def fetch_key_changes(
    conn: asyncpg.Connection, owner: str | None, from_: datetime, to: datetime
) -> list[OwnerKeyChange]:
    """Changes in entries whose time is in [from_, to), of ``owner`` (None: every owner)."""
    rows = await conn.fetch(_LOADS, to)
    in_range = {int(r["idx"]) for r in rows if r["at"] >= from_}
    loads = ((int(r["idx"]), orjson.loads(r["body"])) for r in rows)
    return [
        c for c in key_changes(loads) if c.index in in_range and (owner is None or c.owner == owner)
    ]
