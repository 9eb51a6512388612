"""Public transparency pages (no token): ``GET /transparency`` and ``GET /transparency/{ori}``.

Both are generated per request from ``app[POLICY].current`` (the policy being enforced at that
moment) and the audit database, read in one read-only snapshot so the activity and the
checkpoint agree, after the entries' facts have caught up with the log (proxy.oversight.facts).
Responses may be cached for ``MAX_AGE_S`` seconds: the pages are public, and a minute is the
most a reader can lag behind a policy reload or a search.

An unknown ORI is a 404: the SPEC's JSON error envelope by default (as every other error of the
API), or a small HTML page when the client asks for HTML (``Accept`` names ``text/html``, as
every browser does), so a mistyped link shows a readable page with a way back. The same goes for
503 when the audit database cannot be read: the page is never rendered with the log part
missing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from proxy.audit import checkpoint as checkpoints
from proxy.errors import ProxyError
from proxy.htmlkit import concat, el
from proxy.http.state import AUDIT_POOL, CLOCK, POLICY
from proxy.http.transparency.agency_page import render_agency
from proxy.http.transparency.index_page import CSP, page
from proxy.http.transparency.overview_page import render_index as render_index_page
from proxy.oversight import facts
from proxy.oversight.key_changes import fetch_key_changes
from proxy.oversight.purpose_rules import two_person_rules
from proxy.oversight.signing import Signing, signing_of
from proxy.oversight.transparency import (
    Activity,
    AgencyPage,
    CheckpointView,
    build_page,
    fetch_activity,
)
from proxy.oversight.transparency_csv import activity_csv
from proxy.oversight.transparency_flows import (
    WindowError,
    build_overview,
    fetch_overview_activity,
    parse_window,
)
from proxy.store.pools import DB_ERRORS

MAX_AGE_S = 60
# Key changes are listed whatever the activity window: a key swap stays on the owner's page.
ALWAYS = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def _html(text: str, status: int = 200, cache: bool = True) -> web.Response:
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_S}" if cache else "no-store"
    return response


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def _error(request: web.Request, exc: ProxyError, title: str) -> web.Response:
    """``exc`` as the JSON envelope (raised for the middleware), or as an HTML page."""
    if not _wants_html(request):
        raise exc
    app = request.app
    body = concat(
        el("h1", title),
        el("section", el("p", exc.message), el("p", el("a", "All agencies", href="/transparency"))),
    )
    response = _html(
        page(title, body, app[POLICY].current.version, app[CLOCK]()), exc.status, cache=False
    )
    response.headers["Vary"] = "Accept"
    return response


def _view(cp: checkpoints.StoredCheckpoint | None) -> CheckpointView | None:
    return None if cp is None else CheckpointView(cp.size, cp.root, cp.note.decode())


def _days(request: web.Request) -> int:
    try:
        return parse_window(request.query.get("days"))
    except WindowError as exc:
        raise ProxyError("invalid_request", str(exc)) from None


async def index(request: web.Request) -> web.Response:
    app = request.app
    policy = app[POLICY].current  # one policy object for the whole request
    statuses = app[POLICY].grant_statuses()  # of the same load: no await in between
    now = app[CLOCK]()
    try:
        days = _days(request)
    except ProxyError as exc:
        return _error(request, exc, "Not a history window")
    try:
        async with app[AUDIT_POOL].acquire() as conn:
            await facts.catch_up_facts(conn)
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                activity = await fetch_overview_activity(conn, policy, now, days)
                cp = await checkpoints.latest(conn)
    except DB_ERRORS:
        return _unavailable(request)
    overview = build_overview(policy, now)
    rules = two_person_rules(policy)
    signing = {ori: signing_of(statuses, ori) for ori in policy.agencies}
    cp_view = _view(cp)
    return _html(
        render_index_page(overview, activity, cp_view, policy.version, now, rules, signing)
    )


async def _agency_page(request: web.Request) -> tuple[AgencyPage, Signing] | web.Response:
    """The page's data, or the error response to send instead."""
    app = request.app
    policy = app[POLICY].current
    statuses = app[POLICY].grant_statuses()  # of the same load as `policy`: no await between
    now = app[CLOCK]()
    ori = request.match_info["ori"]
    if ori not in policy.agencies:
        shown = ori if len(ori) <= 40 else ori[:40] + "…"
        return _error(
            request,
            ProxyError("not_found", f"no agency with ORI {shown!r} in the policy in force"),
            "Agency not found",
        )
    try:
        days = _days(request)
    except ProxyError as exc:
        return _error(request, exc, "Not a history window")
    since = now - timedelta(days=days)
    try:
        async with app[AUDIT_POOL].acquire() as conn:
            await facts.catch_up_facts(conn)
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                activity: Activity = await fetch_activity(conn, ori, since)
                cp = await checkpoints.latest(conn)
                changes = await fetch_key_changes(conn, ori, *ALWAYS)
    except DB_ERRORS:
        return _unavailable(request)
    signing = signing_of(statuses, ori, tuple(changes))
    return build_page(policy, ori, now, activity, _view(cp), days), signing


async def agency(request: web.Request) -> web.Response:
    found = await _agency_page(request)
    return found if isinstance(found, web.Response) else _html(render_agency(*found))


async def agency_csv(request: web.Request) -> web.Response:
    found = await _agency_page(request)
    if isinstance(found, web.Response):
        return found
    data, _ = found
    response = web.Response(text=activity_csv(data), content_type="text/csv", charset="utf-8")
    name = f"{data.agency.ori}-last-{data.days}-days.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_S}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _unavailable(request: web.Request) -> web.Response:
    return _error(
        request,
        ProxyError("audit_unavailable", "the audit log cannot be read right now; try again"),
        "Temporarily unavailable",
    )
