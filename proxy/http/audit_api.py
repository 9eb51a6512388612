"""The audit API (SPEC §8): entries, reports and reviews, for auditors and oversight.

Scope: oversight sees every entry; an auditor only entries that concern their agency (it is the
requester, the on-behalf-of agency or a disclosing owner). Every read of audit data appends an
`audit_access` entry before anything is sent, and if that entry cannot be made durable the
caller gets 503 audit_unavailable and no data: reading the log is itself on the record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import msgspec
import orjson
from aiohttp import web

from proxy.audit import postgres
from proxy.audit.entry import audit_access_entry, review_entry
from proxy.errors import ErrorCode, ProxyError
from proxy.http.common import authenticate, json_response, read_audit, read_body, request_id
from proxy.http.state import AUDIT_POOL, AUDIT_WRITER, CLOCK, POLICY
from proxy.model import Principal
from proxy.oversight import csvout, render
from proxy.oversight.derived import concerns
from proxy.oversight.entries import entry_object, fetch_page, parse_count, parse_query, parse_time
from proxy.oversight.period import FlagOptions, Period, snapshot
from proxy.oversight.reports import REPORTS
from proxy.oversight.reviewers import REVIEW_ROLES, review_refusal
from proxy.oversight.schemas import (
    ReviewIn,
    ReviewOut,
)

ROLES = ("auditor", "oversight")
AUDIT_INDEX_HEADER = "X-Audit-Index"


def scope_of(principal: Principal) -> str | None:
    """None: every entry (oversight); else the auditor's ORI."""
    return None if "oversight" in principal.roles else principal.ori


def visible(principal: Principal, body: bytes) -> bool:
    scope = scope_of(principal)
    if scope is None:
        return True
    entry = orjson.loads(body)
    return isinstance(entry, dict) and scope in concerns(entry)


async def record_access(
    request: web.Request,
    principal: Principal,
    endpoint: str,
    filters: Mapping[str, Any],
    returned: int,
    refused: ErrorCode | None = None,
) -> int:
    """Append the audit_access entry and wait for its commit; raises audit_unavailable."""
    record = audit_access_entry(
        at=request.app[CLOCK](),
        request_id=request_id(request),
        principal=principal,
        client=request.remote,
        endpoint=endpoint,
        filters=filters,
        returned=returned,
        refused=refused,
    )
    return await request.app[AUDIT_WRITER].append(record)


def _single(request: web.Request) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in request.query.items():
        if name in params:
            raise ProxyError("invalid_request", f"query parameter `{name}` given more than once")
        if "\x00" in value:  # PostgreSQL text cannot hold NUL: refuse it, never a DB error
            raise ProxyError("invalid_request", f"query parameter `{name}` contains NUL")
        params[name] = value
    return params


def _wants_csv(accept: str) -> bool:
    """text/csv when the client prefers it to JSON (q-values honoured); JSON otherwise."""
    best = {"text/csv": 0.0, "application/json": 0.0}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if media.lower() in best:
            best[media.lower()] = max(best[media.lower()], q)
    return best["text/csv"] > 0 and best["text/csv"] > best["application/json"]


async def entries(request: web.Request) -> web.StreamResponse:
    principal = await authenticate(request, roles=ROLES)
    params = _single(request)
    query = parse_query(params)
    scope = scope_of(principal)

    async def page() -> tuple[list[tuple[int, bytes]], int | None]:
        async with request.app[AUDIT_POOL].acquire() as conn, snapshot(conn):
            return await fetch_page(conn, query, scope)

    rows, next_index = await read_audit(page)
    objects = [entry_object(i, b) for i, b in rows]
    index = await record_access(request, principal, "GET /v1/audit/entries", params, len(rows))
    cursor = None if next_index is None else str(next_index)
    if _wants_csv(request.headers.get("Accept", "")):
        response = web.Response(
            body=csvout.entries_csv(objects).encode("utf-8"),
            headers={"Content-Disposition": 'attachment; filename="audit-entries.csv"'},
        )
        response.content_type = csvout.MEDIA_TYPE
        response.charset = "utf-8"
        if cursor is not None:
            response.headers["X-Next-Cursor"] = cursor
    else:
        response = json_response({"entries": objects, "next_cursor": cursor})
    response.headers[AUDIT_INDEX_HEADER] = str(index)
    return response


_REPORT_PARAMS = frozenset({"from", "to"})
_FLAG_PARAMS = _REPORT_PARAMS | {
    "limit",
    "unreviewed",
    "volume_factor",
    "volume_min",
    "boilerplate_min",
}


def _period(params: Mapping[str, str], allowed: frozenset[str]) -> Period:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ProxyError("invalid_request", f"unknown query parameter `{unknown[0]}`")
    for name in ("from", "to"):
        if name not in params:
            raise ProxyError("invalid_request", f"query parameter `{name}` is required")
    frm, to = parse_time("from", params["from"]), parse_time("to", params["to"])
    if frm > to:
        raise ProxyError("invalid_request", "`from` must not be after `to`")
    return Period(frm, to)


def _flag_options(params: Mapping[str, str]) -> FlagOptions:
    d = FlagOptions()
    unreviewed = params.get("unreviewed", "false")
    if unreviewed not in ("true", "false"):
        raise ProxyError("invalid_request", "`unreviewed` must be true or false")
    factor = d.volume_factor
    if "volume_factor" in params:
        try:
            factor = float(params["volume_factor"])
        except ValueError:
            factor = 0.0
        if not 1.0 <= factor <= 1000.0:
            raise ProxyError("invalid_request", "`volume_factor` must be a number from 1 to 1000")

    def count(name: str, default: int, low: int, high: int) -> int:
        return parse_count(name, params[name], low=low, high=high) if name in params else default

    return FlagOptions(
        limit=count("limit", d.limit, 1, 1000),
        unreviewed_only=unreviewed == "true",
        volume_factor=factor,
        volume_min=count("volume_min", d.volume_min, 1, 10**9),
        boilerplate_min=count("boilerplate_min", d.boilerplate_min, 2, 10**9),
    )


def _deadlines(request: web.Request, options: FlagOptions) -> FlagOptions:
    """The live policy's approval and exigent windows, judged at the server's clock."""
    settings = request.app[POLICY].current.settings
    return replace(
        options,
        approval_valid_hours=settings.approval_valid_hours,
        exigent_review_hours=settings.exigent_review_hours,
        now=request.app[CLOCK](),
    )


def report(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of GET /v1/audit/reports/{name}, for each report of the registry: JSON, or
    with `Accept: text/csv` the report's tables as CSV (as `alpr-proxy audit report`)."""
    kind = REPORTS[name]

    async def handler(request: web.Request) -> web.Response:
        principal = await authenticate(request, roles=ROLES)
        params = _single(request)
        period = _period(params, _FLAG_PARAMS if kind.flag_options else _REPORT_PARAMS)
        options = _deadlines(request, _flag_options(params) if kind.flag_options else FlagOptions())
        scope = scope_of(principal)

        async def run() -> Any:
            async with request.app[AUDIT_POOL].acquire() as conn, snapshot(conn):
                return await kind.run(conn, period, scope, options)

        answer = await read_audit(run)
        endpoint = f"GET /v1/audit/reports/{name}"
        index = await record_access(request, principal, endpoint, params, kind.size(answer))
        if _wants_csv(request.headers.get("Accept", "")):
            response = web.Response(
                body=render.to_csv({name: answer}).encode("utf-8"),
                headers={"Content-Disposition": f'attachment; filename="report-{name}.csv"'},
            )
            response.content_type = csvout.MEDIA_TYPE
            response.charset = "utf-8"
        else:
            response = web.Response(
                body=msgspec.json.encode(answer), content_type="application/json"
            )
        response.headers[AUDIT_INDEX_HEADER] = str(index)
        return response

    return handler


async def review(request: web.Request) -> web.Response:
    """Append a `review` of an earlier entry the caller may review (proxy.oversight.reviewers);
    reviews are never edited. A refused attempt is itself an `audit_access` entry."""
    principal = await authenticate(request, roles=REVIEW_ROLES)
    try:
        asked = msgspec.json.decode(await read_body(request), type=ReviewIn)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise ProxyError("invalid_request", f"invalid review: {exc}") from None
    body = await read_audit(lambda: postgres.entry_body(request.app[AUDIT_POOL], asked.index))
    entry: dict[str, Any] | None = None
    if body is not None:
        parsed = orjson.loads(body)
        entry = parsed if isinstance(parsed, dict) else {}  # no entry is anything else
    refused = review_refusal(principal, entry)
    if refused is not None:
        filters = {"index": asked.index}
        endpoint = "POST /v1/audit/reviews"
        at = await record_access(request, principal, endpoint, filters, 0, refused.code)
        message = refused.message
        if refused.code == "not_found":
            message = f"no entry at index {asked.index}"
        raise ProxyError(refused.code, message, audit_index=at)
    record = review_entry(
        at=request.app[CLOCK](),
        request_id=request_id(request),
        principal=principal,
        client=request.remote,
        reviewed_index=asked.index,
        disposition=asked.disposition,
        note=asked.note,
    )
    index = await request.app[AUDIT_WRITER].append(record)
    out = ReviewOut(audit_index=index, reviewed_index=asked.index)
    return web.Response(body=msgspec.json.encode(out), content_type="application/json")
