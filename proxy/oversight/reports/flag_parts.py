"""The flags report's parts that live in their own modules, in report order: the one list the
report's query and its tables (CSV, HTML, the `audit report` command) follow. A new part is
its module, its line in ``PARTS`` and its field of ``FlagsReport`` (named alike)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from proxy.oversight.period import FlagOptions
from proxy.oversight.reports.flag_approvals import approval_flags, approval_tables
from proxy.oversight.reports.flag_exigent import exigent_flags, exigent_tables
from proxy.oversight.reports.flag_keys import key_change_flags, key_change_tables
from proxy.oversight.reports.kind import Table


@dataclass(frozen=True, slots=True)
class FlagPart:
    name: str  # its FlagsReport field and JSON key
    # ($1 scope, $2 from, $3 to) and the options in, the part's shape out.
    run: Callable[[asyncpg.Connection, tuple[Any, ...], FlagOptions], Awaitable[Any]]
    tables: Callable[[Any], list[Table]]


PARTS: tuple[FlagPart, ...] = (
    FlagPart("approvals", approval_flags, approval_tables),
    FlagPart("exigent", exigent_flags, exigent_tables),
    FlagPart("grant_key_changes", key_change_flags, key_change_tables),
)
