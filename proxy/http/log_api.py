"""The audit log's read endpoints (SPEC §8)."""

from __future__ import annotations

import base64
from collections.abc import Callable

from aiohttp import web

from proxy.audit import checkpoint as checkpoints
from proxy.audit import postgres, tree
from proxy.errors import ErrorCode, ProxyError
from proxy.http.audit_api import AUDIT_INDEX_HEADER, ROLES, record_access, visible
from proxy.http.common import authenticate, json_response, read_audit
from proxy.http.state import AUDIT_POOL
from proxy.http.witnessed import checkpoint_note


def parse_index(raw: str, name: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise ProxyError("invalid_request", f"`{name}` must be a non-negative integer")
    return int(raw)


async def entry(request: web.Request) -> web.Response:
    """The entry's canonical bytes. Like every read of audit data it is itself audited (an
    `audit_access` entry, before the response), denied attempts included."""
    principal = await authenticate(request, roles=ROLES)
    index = parse_index(request.match_info["index"], "index")
    # A failing audit database is 503 audit_unavailable here too, never a 500.
    body = await read_audit(lambda: postgres.entry_body(request.app[AUDIT_POOL], index))
    refused: ErrorCode | None = None
    if body is None:
        refused = "not_found"
    elif not visible(principal, body):
        refused = "forbidden_role"
    at = await record_access(
        request,
        principal,
        "GET /v1/log/entries/{index}",
        {"index": index},
        0 if refused else 1,
        refused,
    )
    if refused == "not_found":
        raise ProxyError("not_found", f"no entry at index {index}", audit_index=at)
    if refused is not None or body is None:
        raise ProxyError(
            "forbidden_role", "this entry does not concern your agency", audit_index=at
        )
    response = web.Response(body=body, content_type="application/json")
    response.headers[AUDIT_INDEX_HEADER] = str(at)
    return response


async def checkpoint(request: web.Request) -> web.Response:
    """The latest signed checkpoint, exactly as stored (C2SP tlog-checkpoint signed note);
    with witnesses, the newest one that reached the quorum, with its cosignatures."""
    witnessed = await checkpoint_note(request.app)
    if witnessed is not None:
        return web.Response(body=witnessed, content_type="text/plain", charset="utf-8")
    newest = await read_audit(lambda: checkpoints.latest(request.app[AUDIT_POOL]))
    if newest is None:
        raise ProxyError("not_found", "no checkpoint yet: the log is empty")
    return web.Response(body=newest.note, content_type="text/plain", charset="utf-8")


def _query_int(request: web.Request, name: str) -> int:
    raw = request.query.get(name)
    if raw is None:
        raise ProxyError("invalid_request", f"query parameter `{name}` is required")
    return parse_index(raw, name)


async def _proof_hashes(
    request: web.Request, size: int, check: Callable[[], None], needed: list[int]
) -> dict[int, bytes]:
    """The stored hashes a proof against a tree of `size` needs, once `size` is known to be
    within the log and `check` (the proof's own arguments) passes."""

    async def read() -> dict[int, bytes]:
        async with request.app[AUDIT_POOL].acquire() as conn:
            current = await postgres.size(conn)
            if size > current:
                raise ProxyError("invalid_request", f"size {size} exceeds the log's size {current}")
            check()
            return await postgres.read_hashes(conn, needed)

    return await read_audit(read)  # type: ignore[no-any-return]


async def inclusion_proof(request: web.Request) -> web.Response:
    index = _query_int(request, "index")
    size = _query_int(request, "size")

    def check() -> None:
        if index >= size:
            raise ProxyError("invalid_request", f"index {index} is not below size {size}")

    needed = tree.inclusion_proof_needed(size, index) if index < size else []
    hashes = await _proof_hashes(request, size, check, needed)
    proof = tree.inclusion_proof(size, index, hashes)
    return json_response({"index": index, "size": size, "hashes": [_b64(h) for h in proof]})


async def consistency_proof(request: web.Request) -> web.Response:
    old = _query_int(request, "old")
    size = _query_int(request, "size")

    def check() -> None:
        if old > size:
            raise ProxyError("invalid_request", f"old {old} is larger than size {size}")
        if old == 0:
            raise ProxyError("invalid_request", "old must be at least 1 (RFC 9162 §2.1.4)")

    needed = tree.consistency_proof_needed(old, size) if 0 < old <= size else []
    hashes = await _proof_hashes(request, size, check, needed)
    proof = tree.consistency_proof(old, size, hashes)
    return json_response({"old": old, "size": size, "hashes": [_b64(h) for h in proof]})


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()
