"""Approvals (SPEC §12): a supervisor's pending list and decisions.

``GET /v1/approvals?status=pending``: supervisors see their agency's undecided requests,
oversight all; the read is audited as ``audit_access``. ``POST /v1/approvals`` appends an
``approval`` entry; who may decide is the pure ``proxy.policy.approvals.check_decider``, over
what the log says about request N. Every authenticated attempt leaves an ``approval`` entry,
allowed or refused; only the first allowed one for a request commits (claim ``decide:N``).
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from proxy.audit.canonical import Record, canonical
from proxy.audit.claims import Claim, ClaimLost, PoolLog, decide_key
from proxy.audit.entry import approval_fields
from proxy.errors import ProxyError
from proxy.http.audit_api import AUDIT_INDEX_HEADER, record_access
from proxy.http.common import authenticate, json_response, read_audit, read_body, request_id
from proxy.http.state import AUDIT_POOL, AUDIT_WRITER, CLOCK
from proxy.oversight import approvals
from proxy.policy.approvals import RequestOnRecord, check_decider
from proxy.search.two_person import request_on_record

LIST_ROLES = ("supervisor", "oversight")
STATUSES = ("pending",)


async def pending(request: web.Request) -> web.Response:
    principal = await authenticate(request, roles=LIST_ROLES)
    params = dict(request.query)
    unknown = sorted(set(params) - {"status"})
    if unknown:
        raise ProxyError("invalid_request", f"unknown query parameter `{unknown[0]}`")
    if params.get("status") not in STATUSES or len(request.query.getall("status", [])) != 1:
        raise ProxyError("invalid_request", "`status` must be pending")
    scope = None if "oversight" in principal.roles else principal.ori

    async def read() -> list[tuple[int, bytes]]:
        async with request.app[AUDIT_POOL].acquire() as conn:
            return await approvals.pending(conn, scope)

    rows = await read_audit(read)
    out = approvals.PendingList([approvals.pending_request(i, b) for i, b in rows])
    index = await record_access(request, principal, "GET /v1/approvals", params, len(rows))
    response = web.Response(body=msgspec.json.encode(out), content_type="application/json")
    response.headers[AUDIT_INDEX_HEADER] = str(index)
    return response


async def decide(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    try:
        asked = msgspec.json.decode(await read_body(request), type=approvals.ApprovalIn)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise ProxyError("invalid_request", f"invalid approval: {exc}") from None
    log = PoolLog(request.app[AUDIT_POOL])
    record = request_on_record(await read_audit(lambda: log.entry(asked.index)))
    decided = await read_audit(lambda: log.holder(decide_key(asked.index))) is not None
    refused = check_decider(principal, record, decided)
    # The requester is named only to whom may see them: not to a supervisor of another
    # agency probing an index (their own agency's auditors read this entry).
    same_agency = record is not None and record.person[2] == principal.ori
    fields = approval_fields(
        at=request.app[CLOCK](),
        request_id=request_id(request),
        principal=principal,
        client=request.remote,
        request_index=asked.index,
        verdict=asked.decision,
        note=asked.note,
        requester=_requester(record) if same_agency else None,
        reason=refused.code if refused is not None else None,
    )
    claim = None
    if refused is None:  # the first allowed decision to commit holds decide:N
        fallback = {**fields, "decision": "refused", "reason": "invalid_request"}
        claim = Claim(decide_key(asked.index), canonical(fallback))
    try:
        index = await request.app[AUDIT_WRITER].append(Record(canonical(fields), claim))
    except ClaimLost as lost:
        raise ProxyError(
            "invalid_request", "that request has already been decided", audit_index=lost.index
        ) from None
    if refused is not None:
        raise ProxyError(refused.code, refused.message, audit_index=index)
    return json_response({"audit_index": index})


def _requester(record: RequestOnRecord | None) -> dict[str, str] | None:
    if record is None:
        return None
    issuer, subject, agency = record.person
    return {"issuer": issuer, "subject": subject, "agency": agency}
