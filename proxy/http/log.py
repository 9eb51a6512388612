"""The audit log's read endpoints (SPEC §8)."""

from __future__ import annotations

import base64

import orjson
from aiohttp import web

from proxy.audit import checkpoint as checkpoints
from proxy.audit import pg, tree
from proxy.errors import ProxyError
from proxy.http.common import authenticate, json_response
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


async def checkpoint(request: web.Request) -> web.Response:
    """The latest signed checkpoint, exactly as stored (C2SP tlog-checkpoint signed note)."""
    newest = await checkpoints.latest(request.app[AUDIT_POOL])
    if newest is None:
        raise ProxyError("not_found", "no checkpoint yet: the log is empty")
    return web.Response(body=newest.note, content_type="text/plain", charset="utf-8")


def _query_int(request: web.Request, name: str) -> int:
    raw = request.query.get(name)
    if raw is None:
        raise ProxyError("invalid_request", f"query parameter `{name}` is required")
    return parse_index(raw, name)


async def inclusion_proof(request: web.Request) -> web.Response:
    index = _query_int(request, "index")
    size = _query_int(request, "size")
    async with request.app[AUDIT_POOL].acquire() as conn:
        current = await pg.size(conn)
        if size > current:
            raise ProxyError("invalid_request", f"size {size} exceeds the log's size {current}")
        if index >= size:
            raise ProxyError("invalid_request", f"index {index} is not below size {size}")
        hashes = await pg.read_hashes(conn, tree.inclusion_proof_needed(size, index))
    proof = tree.inclusion_proof(size, index, hashes)
    return json_response({"index": index, "size": size, "hashes": [_b64(h) for h in proof]})


async def consistency_proof(request: web.Request) -> web.Response:
    old = _query_int(request, "old")
    size = _query_int(request, "size")
    async with request.app[AUDIT_POOL].acquire() as conn:
        current = await pg.size(conn)
        if size > current:
            raise ProxyError("invalid_request", f"size {size} exceeds the log's size {current}")
        if old > size:
            raise ProxyError("invalid_request", f"old {old} is larger than size {size}")
        if old == 0:
            raise ProxyError("invalid_request", "old must be at least 1 (RFC 9162 §2.1.4)")
        hashes = await pg.read_hashes(conn, tree.consistency_proof_needed(old, size))
    proof = tree.consistency_proof(old, size, hashes)
    return json_response({"old": old, "size": size, "hashes": [_b64(h) for h in proof]})


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()
