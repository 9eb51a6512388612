"""An agency's transparency activity as CSV (``GET /transparency/{ori}/activity.csv``): the
same counts as its page, one row per group, for a reader's own spreadsheet."""

from __future__ import annotations

import csv
import io

from proxy.errors import refusal_label, refusal_severity
from proxy.oversight.transparency import AgencyPage

COLUMNS = (
    "section",
    "requesting_agency",
    "on_behalf_of",
    "purpose_or_reason",
    "severity",
    "meaning",
    "searches",
    "reads_disclosed",
)


def activity_csv(p: AgencyPage) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [f"# {p.agency.name} ({p.agency.ori}), {p.since.isoformat()} to {p.now.isoformat()}"]
    )
    writer.writerow(COLUMNS)
    for u in p.activity.usage:
        row = ("disclosed", u.requester, u.on_behalf_of or "", u.purpose, "", "")
        writer.writerow([*row, u.searches, u.reads])
    for reason, n in p.activity.refusals:
        severity = refusal_severity(reason)
        writer.writerow(
            ["refused", p.agency.ori, "", reason, severity, refusal_label(reason), n, 0]
        )
    return out.getvalue()
