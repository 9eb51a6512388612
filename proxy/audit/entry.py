"""Audit entries (SPEC §8): one builder per event type, plain data in, a canonical record out
(proxy.audit.canonical), and the registry of event types (BUILDERS, EVENTS) with their
decisions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args

from proxy.audit.canonical import Record, canonical, principal_fields, timestamp
from proxy.model import Principal

Event = Literal[
    "search", "auth_failure", "policy_loaded", "audit_access", "review", "purge", "approval"
]
Decision = Literal["allowed", "refused", "error"]  # of a search
DECISIONS: Final[frozenset[str]] = frozenset(get_args(Decision))


def search_entry(**fields: Any) -> Record:
    """A `search` entry (the arguments of ``search_fields``)."""
    return Record(canonical(search_fields(**fields)))


def search_fields(
    *,
    at: datetime,
    request_id: str,
    principal: Principal,
    client: str | None,
    query: Any,
    decision: Decision,
    reason: str | None,
    policy_version: str,
    outcome: Mapping[str, Any] | None,
    approval: int | None = None,
    exigent: bool = False,
) -> dict[str, Any]:
    """A `search` entry as a dict (``Record(canonical(...))`` makes it one; a search that
    claims something derives its fallback from the same dict). `query` is the body exactly as
    asked (parsed JSON, or a note that it was not JSON); purpose, case number, justification
    and on_behalf_of are lifted out of it so oversight can filter on them without re-parsing
    the query. `approval` names the approval the search ran under, `exigent` marks an exigent
    purpose's search (both keys only when set, SPEC §12)."""
    asked = query if isinstance(query, dict) else {}
    obo = asked.get("on_behalf_of")
    entry: dict[str, Any] = {
        "event": "search",
        "time": timestamp(at),
        "request_id": request_id,
        **principal_fields(principal),
        "on_behalf_of": obo if isinstance(obo, dict) else None,
        "client": client,
        "query": query,
        "purpose": _str_or_none(asked.get("purpose")),
        "case_number": _str_or_none(asked.get("case_number")),
        "justification": _str_or_none(asked.get("justification")),
        "decision": decision,
        "reason": reason,
        "policy_version": policy_version,
        "outcome": dict(outcome) if outcome is not None else None,
    }
    if approval is not None:
        entry["approval"] = approval
    if exigent:
        entry["exigent"] = True
    return entry


def auth_failure_entry(
    *,
    at: datetime,
    request_id: str,
    client: str | None,
    method: str | None,
    path: str | None,
    reason: str,
    code: str = "unauthenticated",
) -> Record:
    """A request refused before anyone was identified: a missing or invalid token, or
    (`code` invalid_request, method and path None) a request line or headers that could not
    be parsed at all. `reason` is the detail."""
    entry = {
        "event": "auth_failure",
        "time": timestamp(at),
        "request_id": request_id,
        "client": client,
        "method": method,
        "path": path,
        "decision": "refused",
        "reason": code,
        "detail": reason,
    }
    return Record(canonical(entry))


def policy_loaded_entry(
    *,
    at: datetime,
    trigger: str,
    version: str,
    previous_version: str | None,
    diff: Mapping[str, Any],
    policy_text: str,
    grants: Mapping[str, Any] | None = None,
) -> Record:
    """`grants`: per owner with grant keys, the grant in force or why none is, and the owner's
    record (SPEC §11; proxy.grants.OwnerStatus.to_json)."""
    entry = {
        "event": "policy_loaded",
        "time": timestamp(at),
        "trigger": trigger,
        "policy_version": version,
        "previous_version": previous_version,
        "diff": dict(diff),
        "policy": policy_text,
        "grants": dict(grants or {}),
    }
    return Record(canonical(entry))


def audit_access_entry(
    *,
    at: datetime,
    request_id: str,
    principal: Principal,
    client: str | None,
    endpoint: str,
    filters: Mapping[str, Any],
    returned: int,
    refused: str | None = None,
) -> Record:
    """A read of audit data: who, which endpoint, with which filters, how many entries it
    returned; `refused` names the error code when the read was denied (out of scope, absent)."""
    entry = {
        "event": "audit_access",
        "time": timestamp(at),
        "request_id": request_id,
        **principal_fields(principal),
        "client": client,
        "endpoint": endpoint,
        "filters": dict(filters),
        "returned": returned,
        "decision": "refused" if refused else "allowed",
        "reason": refused,
    }
    return Record(canonical(entry))


def review_entry(
    *,
    at: datetime,
    request_id: str,
    principal: Principal,
    client: str | None,
    reviewed_index: int,
    disposition: str,
    note: str,
) -> Record:
    """An auditor's disposition of an earlier entry. Reviews are appended, never edited: the
    latest review of an index is its current disposition."""
    entry = {
        "event": "review",
        "time": timestamp(at),
        "request_id": request_id,
        **principal_fields(principal),
        "client": client,
        "reviewed_index": reviewed_index,
        "disposition": disposition,
        "note": note,
    }
    return Record(canonical(entry))


@dataclass(frozen=True, slots=True)
class OwnerPurge:
    """One owner's part of a retention purge: its cutoff and how many reads were deleted."""

    cutoff: datetime
    retention_days: int
    deleted: int


def purge_entry(
    *,
    at: datetime,
    policy_version: str,
    retention_days: int,
    owners: Mapping[str, OwnerPurge],
    dry_run: bool = False,
) -> Record:
    """A retention purge (`alpr-proxy retention purge`), appended after its deletions: per owner
    (ORI), the cutoff it applied (reads observed before it were deleted), the effective
    retention and the count deleted; `retention_days` is the global one."""
    entry = {
        "event": "purge",
        "time": timestamp(at),
        "policy_version": policy_version,
        "dry_run": dry_run,
        "retention_days": retention_days,
        "owners": {
            ori: {
                "cutoff": timestamp(o.cutoff),
                "retention_days": o.retention_days,
                "deleted": o.deleted,
            }
            for ori, o in owners.items()
        },
        "deleted": sum(o.deleted for o in owners.values()),
    }
    return Record(canonical(entry))


def approval_entry(**fields: Any) -> Record:
    """An `approval` entry (the arguments of ``approval_fields``)."""
    return Record(canonical(approval_fields(**fields)))


def approval_fields(
    *,
    at: datetime,
    request_id: str,
    principal: Principal,
    client: str | None,
    request_index: int,
    verdict: str,
    note: str,
    requester: Mapping[str, Any] | None,
    reason: str | None = None,
) -> dict[str, Any]:
    """A supervisor's decision on an `approval_required` request (SPEC §12), or (`reason` set,
    decision `refused`) a refused attempt at one. `verdict` is `approve` or `deny` as asked;
    `requester` is the person of request `request_index` (issuer, subject, agency), null when
    that index is not such a request. Only an allowed `approval` entry decides a request."""
    entry = {
        "event": "approval",
        "time": timestamp(at),
        "request_id": request_id,
        **principal_fields(principal),
        "client": client,
        "request_index": request_index,
        "verdict": verdict,
        "note": note,
        "requester": dict(requester) if requester is not None else None,
        "decision": "refused" if reason else "allowed",
        "reason": reason,
    }
    return entry


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# The event registry: every kind of entry and its builder. A new event type is a builder here,
# its line below, and its facts in proxy/oversight/derived.py; tests/audit/test_event_registry.py
# fails when a step is missed (docs/audit-log.md documents each).
BUILDERS: Final[dict[Event, Callable[..., Record]]] = {
    "search": search_entry,
    "auth_failure": auth_failure_entry,
    "policy_loaded": policy_loaded_entry,
    "audit_access": audit_access_entry,
    "review": review_entry,
    "purge": purge_entry,
    "approval": approval_entry,
}
EVENTS: Final[frozenset[str]] = frozenset(BUILDERS)
