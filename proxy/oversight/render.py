"""Reports as JSON, CSV or a self-contained HTML page (for `alpr-proxy audit report`).

JSON is exactly what the HTTP API answers. CSV and HTML show the same figures as tables: one
per report, and for flags one per list; CSV separates them with a blank line and a title row.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

import msgspec

from proxy.oversight import csvout
from proxy.oversight.shapes import (
    DisclosuresReport,
    FlaggedEntry,
    FlagList,
    FlagsReport,
    UsageReport,
)

Report = UsageReport | DisclosuresReport | FlagsReport
Table = tuple[str, Sequence[str], list[list[Any]]]

_FLAG_HEADER = (
    "index",
    "time",
    "agency",
    "subject",
    "on_behalf_of",
    "purpose",
    "decision",
    "reason",
    "justification",
    "unreviewed",
    "review_index",
    "review_disposition",
    "other_reviews",
)


def _beside(e: FlaggedEntry) -> str:
    """The reviews shown beside the reader's own: "CA0000002 no_issue (#17); ..."."""
    return "; ".join(f"{r.agency} {r.disposition} (#{r.audit_index})" for r in e.other_reviews)


def _flag_rows(flags: FlagList) -> list[list[Any]]:
    return [
        [
            e.index,
            e.time,
            e.agency,
            e.subject,
            e.on_behalf_of,
            e.purpose,
            e.decision,
            e.reason,
            e.justification,
            e.unreviewed,
            e.review.audit_index if e.review else None,
            e.review.disposition if e.review else None,
            _beside(e),
        ]
        for e in flags.entries
    ]


def tables(name: str, report: Report) -> list[Table]:
    if isinstance(report, UsageReport):
        rows = [[r.agency, r.purpose, r.decision, r.searches, r.reads] for r in report.rows]
        return [("usage", ("agency", "purpose", "decision", "searches", "reads"), rows)]
    if isinstance(report, DisclosuresReport):
        pairs = [
            [owner, recipient, reads]
            for owner, to in report.disclosed.items()
            for recipient, reads in to.items()
        ]
        return [("disclosures", ("owner", "recipient", "reads"), pairs)]
    out: list[Table] = []
    for label, flags in (
        ("refused", report.refused),
        ("justification_flagged", report.justification_flagged),
        ("on_behalf_of", report.on_behalf_of),
    ):
        title = f"flags: {label} ({flags.total} in all, {flags.unreviewed} unreviewed"
        title += ", list truncated)" if flags.truncated else ")"
        out.append((title, _FLAG_HEADER, _flag_rows(flags)))
    vol = report.unusual_volume
    out.append(
        (
            f"flags: unusual_volume (> {vol.factor:g} x agency median, >= {vol.min_searches})",
            ("agency", "subject", "searches", "agency_median", "agency_users"),
            [[u.agency, u.subject, u.searches, u.agency_median, u.agency_users] for u in vol.users],
        )
    )
    bp = report.boilerplate
    out.append(
        (
            f"flags: boilerplate (shared by >= {bp.min_searches} searches)",
            ("text", "searches", "users", "agencies", "first_index", "last_index"),
            [
                [t.text, t.searches, t.users, ";".join(t.agencies), t.first_index, t.last_index]
                for t in bp.texts
            ],
        )
    )
    out.append(_probe_table(report))
    return out


def _probe_table(report: FlagsReport) -> Table:
    p = report.sensitive_location_probes
    return (
        f"flags: sensitive_location_probes (>= {p.min_refusals} refusals"
        f" within {p.window_hours} hours)",
        ("agency", "subject", "refusals", "most_in_window", "first_index", "last_index"),
        [
            [u.agency, u.subject, u.refusals, u.most_in_window, u.first_index, u.last_index]
            for u in p.users
        ],
    )


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
