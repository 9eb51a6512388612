"""Reports as JSON, CSV or a self-contained HTML page (for `alpr-proxy audit report`).

JSON is exactly what the HTTP API answers. CSV and HTML show the same figures as tables: one
per report, and for flags one per list; CSV separates them with a blank line and a title row.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import msgspec

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


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return html.escape(str(value))


def to_html(reports: Mapping[str, Report]) -> str:
    first = next(iter(reports.values()))
    title = f"alpr-proxy audit report, {_period(first)}"
    body = [f"<h1>{html.escape(title)}</h1>"]
    body.append(
        "<p>Computed from facts derived from the audit log's entries and their rollups. "
        "The signed log entries are the record; verify them with "
        "<code>alpr-proxy audit verify</code>.</p>"
    )
    for name, report in reports.items():
        for heading, header, rows in tables(name, report):
            body.append(f"<h2>{html.escape(heading)}</h2>")
            if not rows:
                body.append("<p>None.</p>")
                continue
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            lines = "".join(
                "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>")
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
        "th,td{border:1px solid #999;padding:.2em .5em;text-align:left;vertical-align:top}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{style}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def render(reports: Mapping[str, Report], fmt: str) -> str:
    if fmt == "json":
        return to_json(reports)
    if fmt == "csv":
        return to_csv(reports)
    return to_html(reports)
