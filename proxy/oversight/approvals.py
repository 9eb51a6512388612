"""Requests awaiting a supervisor (SPEC §12, ``GET /v1/approvals?status=pending``): searches
refused with ``approval_required`` that no allowed ``approval`` entry has decided yet."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import asyncpg
import msgspec
import orjson

from proxy.oversight.facts import catch_up_facts

PENDING_LIMIT = 1000  # the oldest first; a backlog larger than this is itself a finding

_PENDING = """
SELECT f.idx, e.body FROM audit.entry_facts f JOIN audit.entries e ON e.idx = f.idx
WHERE f.event = 'search' AND f.reason = 'approval_required' AND f.decision = 'refused'
  AND ($1::text IS NULL OR f.agency = $1)
  AND NOT EXISTS (SELECT 1 FROM audit.claims c WHERE c.claim = 'decide:' || f.idx)
ORDER BY f.idx LIMIT $2
"""


async def pending(conn: asyncpg.Connection, agency: str | None) -> list[tuple[int, bytes]]:
    """(index, entry bytes) of the undecided requests of ``agency`` (None: all), oldest first.
    Facts catch up first, so a request made a moment ago is listed."""
    await catch_up_facts(conn)
    rows = await conn.fetch(_PENDING, agency, PENDING_LIMIT)
    return [(int(r["idx"]), bytes(r["body"])) for r in rows]


class ApprovalIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``POST /v1/approvals``."""

    index: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]  # the request's audit index
    decision: Literal["approve", "deny"]
    note: Annotated[str, msgspec.Meta(max_length=4000)] = ""


class ApprovalOut(msgspec.Struct, forbid_unknown_fields=True):
    audit_index: int  # the `approval` entry


class Requester(msgspec.Struct, forbid_unknown_fields=True):
    issuer: str
    subject: str
    agency: str


class PendingRequest(msgspec.Struct, forbid_unknown_fields=True):
    index: int  # send "approval": index once it is approved
    at: str  # the request's time, as its entry records it
    requester: Requester
    query: dict[str, Any]  # as asked
    purpose: str | None
    case_number: str | None
    justification: str | None
    on_behalf_of: dict[str, Any] | None


class PendingList(msgspec.Struct, forbid_unknown_fields=True):
    approvals: list[PendingRequest]


def pending_request(index: int, body: bytes) -> PendingRequest:
    entry: dict[str, Any] = orjson.loads(body)
    obo, query = entry.get("on_behalf_of"), entry.get("query")
    return PendingRequest(
        index=index,
        at=str(entry.get("time")),
        requester=Requester(
            issuer=str(entry.get("issuer", "")),
            subject=str(entry.get("subject")),
            agency=str(entry.get("agency")),
        ),
        query=query if isinstance(query, dict) else {},
        purpose=entry.get("purpose"),
        case_number=entry.get("case_number"),
        justification=entry.get("justification"),
        on_behalf_of=obo if isinstance(obo, dict) else None,
    )
