"""Oversight reports (SPEC §8), shared by the HTTP API and `alpr-proxy audit report`: one module
per report, each defining its ReportKind, and the registry of them all.

Ranges, scopes and the rollup/raw split are in proxy.oversight.period. Reports are a convenience
view computed from facts derived from each entry (proxy.oversight.facts): the canonical entry bytes,
which the verifier checks, are the record. A new report is one module here (its SQL, shape,
tables) and its line below; the route, the OpenAPI path and the CLI choice follow from it.
"""

from __future__ import annotations

from proxy.oversight.reports.disclosures import DISCLOSURES
from proxy.oversight.reports.flags import FLAGS
from proxy.oversight.reports.kind import ReportKind
from proxy.oversight.reports.usage import USAGE

REPORTS: dict[str, ReportKind] = {kind.name: kind for kind in (USAGE, DISCLOSURES, FLAGS)}
