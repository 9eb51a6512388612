"""Every route of the API, in one table: (method, path, handler). create_app adds them; the
OpenAPI document and the tests read the same table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from proxy.http import (
    admin,
    approvals,
    audit_api,
    console,
    health,
    log_api,
    log_range,
    me,
    search,
)
from proxy.http.transparency import handlers as transparency
from proxy.oversight.reports import REPORTS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A GET also answers HEAD.
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/v1/search", search.search),
    ("GET", "/v1/me", me.me),
    ("GET", "/v1/log/checkpoint", log_api.checkpoint),
    ("GET", "/v1/log/proof/inclusion", log_api.inclusion_proof),
    ("GET", "/v1/log/proof/consistency", log_api.consistency_proof),
    ("GET", "/v1/log/entries/{index}", log_api.entry),
    ("GET", "/v1/log/entries", log_range.entries),
    ("GET", "/v1/audit/entries", audit_api.entries),
    *(("GET", f"/v1/audit/reports/{name}", audit_api.report(name)) for name in REPORTS),
    ("POST", "/v1/audit/reviews", audit_api.review),
    ("GET", "/v1/approvals", approvals.pending),
    ("POST", "/v1/approvals", approvals.decide),
    ("POST", "/v1/admin/policy/reload", admin.reload),
    ("GET", "/healthz", health.healthz),
    ("GET", "/readyz", health.readyz),
    ("GET", "/openapi.json", health.openapi),
    ("GET", "/transparency", transparency.index),
    ("GET", "/transparency/{ori}", transparency.agency),
    ("GET", "/transparency/{ori}/activity.csv", transparency.agency_csv),
    ("GET", "/", console.root),
    ("GET", "/console", console.to_console),
    ("GET", "/console/", console.static),
    ("GET", "/console/{path:.+}", console.static),
    ("GET", "/v1/console/config", console.config),
    ("POST", "/v1/console/demo-token", console.demo_token),
)
