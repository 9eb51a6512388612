"""The flags report's `grant_key_changes` (SPEC §11): every change of an owner's grant keys in
the operator's policy in the range (an auditor's scope: its own agency as owner), with whether
a `<ORI>.keys` note signed by a quorum of the owner's keys on record authorised it. An operator
taking the pen back would show here as a `refused` change (proxy.grants.key_history)."""

from __future__ import annotations

from typing import Any

import asyncpg

from proxy.oversight.key_changes import fetch_key_changes
from proxy.oversight.period import FlagOptions
from proxy.oversight.reports.kind import Table
from proxy.oversight.schemas import GrantKeyChange, GrantKeyChanges


async def key_change_flags(
    conn: asyncpg.Connection, args: tuple[Any, ...], options: FlagOptions
) -> GrantKeyChanges:
    """``args``: $1 scope, $2 from, $3 to, as for the other parts."""
    scope, from_, to = args
    found = await fetch_key_changes(conn, scope, from_, to)
    listed = found[: options.limit]
    return GrantKeyChanges(
        total=len(found),
        truncated=len(found) > len(listed),
        changes=[
            GrantKeyChange(
                owner=c.owner,
                index=c.index,
                time=c.time,
                change=c.change,
                before=list(c.before),
                after=list(c.after),
                before_quorum=c.before_quorum,
                after_quorum=c.after_quorum,
                outcome=c.outcome,
                authorised=c.authorised,
            )
            for c in listed
        ],
    )


_HEADER = (
    "owner", "index", "time", "change", "before", "after", "before_quorum", "after_quorum",
    "outcome", "authorised",
)  # fmt: skip


def key_change_tables(flags: GrantKeyChanges) -> list[Table]:
    title = f"flags: grant key changes ({flags.total} in all"
    title += ", list truncated)" if flags.truncated else ")"
    rows = [
        [c.owner, c.index, c.time, c.change, ";".join(c.before), ";".join(c.after),
         c.before_quorum, c.after_quorum, c.outcome, c.authorised]
        for c in flags.changes
    ]  # fmt: skip
    return [(title, _HEADER, rows)]
