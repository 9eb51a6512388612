"""The audit log's read endpoints (SPEC §8)."""

from __future__ import annotations

import orjson
from aiohttp import web

from proxy.audit import pg
from proxy.errors import ProxyError
from proxy.http.common import authenticate
from proxy.keys import AUDIT_POOL


def parse_index(raw: str, name: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise ProxyError("invalid_request", f"`{name}` must be a non-negative integer")
    return int(raw)


def concerns_agency(body: bytes, ori: str) -> bool:
    """Whether `ori` is the requester, the on-behalf-of agency or a disclosing owner."""
    entry = orjson.loads(body)
    if entry.get("agency") == ori:
        return True
    obo = entry.get("on_behalf_of")
    if isinstance(obo, dict) and obo.get("ori") == ori:
        return True
    outcome = entry.get("outcome")
    return isinstance(outcome, dict) and ori in (outcome.get("disclosed_by_owner") or {})


async def entry(request: web.Request) -> web.Response:
    principal = await authenticate(request, roles=("auditor", "oversight"))
    index = parse_index(request.match_info["index"], "index")
    body = await pg.entry_body(request.app[AUDIT_POOL], index)
    if body is None:
        raise ProxyError("not_found", f"no entry at index {index}")
    if "oversight" not in principal.roles and not concerns_agency(body, principal.ori):
        raise ProxyError("forbidden_role", "this entry does not concern your agency")
    return web.Response(body=body, content_type="application/json")
