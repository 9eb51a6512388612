"""What a report is, for its registry (proxy.oversight.reports.REPORTS): its name, its query,
the shape it answers with, whether it takes the flag options, and how it reads as tables (CSV,
HTML), whose rows are what it "returned" for its `audit_access` entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from proxy.oversight.period import FlagOptions, Period
from proxy.oversight.schemas import DisclosuresReport, FlagsReport, UsageReport

Report = UsageReport | DisclosuresReport | FlagsReport
Table = tuple[str, Sequence[str], list[list[Any]]]


@dataclass(frozen=True, slots=True)
class ReportKind:
    name: str  # GET /v1/audit/reports/{name}, `alpr-proxy audit report --report {name}`
    summary: str  # one line, for the OpenAPI document
    shape: type[Report]  # the JSON answer (its schema is named after it)
    # The query, within one snapshot: (connection, period, scope (None: every agency), options).
    run: Callable[[asyncpg.Connection, Period, str | None, FlagOptions], Awaitable[Any]]
    tables: Callable[[Any], list[Table]]  # the report as titled tables (CSV and HTML)
    flag_options: bool = False  # takes limit, unreviewed, volume_*, boilerplate_min

    def size(self, report: Any) -> int:
        """What a report "returned", for its audit_access entry: its rows, pairs or listed
        items, i.e. the rows of its tables."""
        return sum(len(rows) for _, _, rows in self.tables(report))
