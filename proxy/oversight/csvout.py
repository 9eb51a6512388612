"""CSV that a spreadsheet opens as is, and that cannot run formulas in it.

RFC 4180: a header row, CRLF line ends, fields quoted when they hold a comma, a quote or a
line break, quotes doubled. UTF-8 with a byte-order mark, which is how Excel recognises UTF-8
(without it, names with accents come out garbled); `csv` readers should open it with
encoding="utf-8-sig". Formula injection (OWASP "CSV injection"): a cell that starts with
= + - @ (or a tab or carriage return, which some spreadsheets skip before one) gets a leading
single quote, so a justification such as "=HYPERLINK(...)" shows as text and is never evaluated.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

BOM = "\ufeff"
MEDIA_TYPE = "text/csv"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# The columns of GET /v1/audit/entries as CSV, in order (README lists what each holds).
ENTRY_COLUMNS: tuple[str, ...] = (
    "index",
    "time",
    "event",
    "request_id",
    "subject",
    "agency",
    "roles",
    "client",
    "on_behalf_of",
    "on_behalf_of_person",
    "query_type",
    "plate",
    "purpose",
    "case_number",
    "justification",
    "decision",
    "reason",
    "policy_version",
    "matched",
    "returned",
    "truncated",
    "withheld_retention",
    "withheld_sharing",
    "withheld_sensitive_location",
    "disclosed_by_owner",
    "endpoint",
    "filters",
    "reviewed_index",
    "disposition",
    "note",
    "detail",
)


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, int | float):
        return neutralise(str(value))
    return neutralise(orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode())


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """One CSV table, header first, every cell neutralised; no byte-order mark."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def attribute_rows(items: Iterable[Any], header: Sequence[str]) -> list[list[Any]]:
    """One row per item: its attributes named by ``header``, in order (reports whose CSV columns
    are the fields of their list entries)."""
    return [[getattr(item, name) for name in header] for item in items]


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _detail(event: Any, entry: Mapping[str, Any]) -> Any:
    """The free-form column; absent parts are left out, never shown as "None"."""
    detail = entry.get("detail")
    if event == "auth_failure":
        where = " ".join(str(entry[k]) for k in ("method", "path") if entry.get(k) is not None)
        return ": ".join(str(x) for x in (where, detail) if x) or None
    if event == "policy_loaded":
        previous = entry.get("previous_version")
        before = f"previous {previous}" if previous is not None else "no previous policy"
        return f"trigger {entry.get('trigger')}, {before}"
    return detail


def entry_row(entry: Mapping[str, Any]) -> list[Any]:
    """An entry object (with `index`) flattened into ENTRY_COLUMNS."""
    event = entry.get("event")
    query = _dict(entry.get("query"))
    obo = _dict(entry.get("on_behalf_of"))
    outcome = _dict(entry.get("outcome"))
    withheld = _dict(outcome.get("withheld"))
    owners = _dict(outcome.get("disclosed_by_owner"))
    roles = entry.get("roles")
    detail = _detail(event, entry)
    returned = entry.get("returned") if event == "audit_access" else outcome.get("returned")
    values: dict[str, Any] = {
        **{k: entry.get(k) for k in ENTRY_COLUMNS},
        "roles": ";".join(map(str, roles)) if isinstance(roles, list) else None,
        "on_behalf_of": obo.get("ori"),
        "on_behalf_of_person": obo.get("person"),
        "query_type": query.get("type"),
        "plate": query.get("plate", query.get("pattern")),
        "matched": outcome.get("matched"),
        "returned": returned,
        "truncated": outcome.get("truncated"),
        "withheld_retention": withheld.get("retention"),
        "withheld_sharing": withheld.get("sharing"),
        "withheld_sensitive_location": withheld.get("sensitive_location"),
        "disclosed_by_owner": ";".join(f"{k}={v}" for k, v in sorted(owners.items())) or None,
        "detail": detail,
    }
    return [values[c] for c in ENTRY_COLUMNS]


def entries_csv(entries: Iterable[Mapping[str, Any]]) -> str:
    return BOM + table(ENTRY_COLUMNS, (entry_row(e) for e in entries))
