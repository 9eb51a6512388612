"""Reports as JSON, CSV or a self-contained HTML page (for `alpr-proxy audit report`); the
HTML is built with proxy.htmlkit, which escapes every value.

JSON is exactly what the HTTP API answers. CSV and HTML show the same figures as tables: one
per report, and for flags one per list; CSV separates them with a blank line and a title row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

import msgspec

from proxy.htmlkit import Markup, concat, el
from proxy.oversight import csvout
from proxy.oversight.reports import REPORTS
from proxy.oversight.reports.kind import Report, Table


def tables(name: str, report: Report) -> list[Table]:
    return REPORTS[name].tables(report)


def _period(report: Report) -> str:
    f = report.from_.astimezone(UTC).isoformat().replace("+00:00", "Z")
    t = report.to.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return f"{f} to {t}, scope {report.scope}"


def to_json(reports: Mapping[str, Report]) -> str:
    value: Any = next(iter(reports.values())) if len(reports) == 1 else dict(reports)
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode() + "\n"


def to_csv(reports: Mapping[str, Report]) -> str:
    parts = []
    for name, report in reports.items():
        for title, header, rows in tables(name, report):
            heading = csvout.table([f"{title}: {_period(report)}"], [])
            parts.append(heading + csvout.table(header, rows))
    return csvout.BOM + "\r\n".join(parts)


def _cell(value: Any) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


# Constant HTML (code, not data): the only markup not built by htmlkit's escaping el().
_INTRO = Markup(
    "<p>Computed from facts derived from the audit log's entries and their rollups. "
    "The signed log entries are the record; verify them with "
    "<code>alpr-proxy audit verify</code>.</p>"
)
_STYLE = Markup(
    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
    "th,td{border:1px solid #999;padding:.2em .5em;text-align:left;vertical-align:top}"
)


def _table(heading: str, header: Sequence[str], rows: list[list[Any]]) -> Markup:
    if not rows:
        return concat(el("h2", heading), el("p", "None."))
    return concat(
        el("h2", heading),
        el(
            "table",
            el("thead", el("tr", [el("th", h) for h in header])),
            el("tbody", [el("tr", [el("td", _cell(v)) for v in row]) for row in rows]),
        ),
    )


def to_html(reports: Mapping[str, Report]) -> str:
    first = next(iter(reports.values()))
    title = f"alpr-proxy audit report, {_period(first)}"
    body = [el("h1", title), _INTRO]
    for name, report in reports.items():
        body += [_table(*t) for t in tables(name, report)]
    head = el("head", el("meta", charset="utf-8"), el("title", title), el("style", _STYLE))
    return "<!DOCTYPE html>\n" + el("html", head, el("body", body), lang="en") + "\n"


def render(reports: Mapping[str, Report], fmt: str) -> str:
    if fmt == "json":
        return to_json(reports)
    if fmt == "csv":
        return to_csv(reports)
    return to_html(reports)
