"""What the audit log says about approvals and exigent searches (SPEC §12), as the plain facts
the pure decision takes (proxy.policy.approvals).

Read from the log itself (entry bodies) and its claims table, never from oversight's derived
facts, which lag a checkpoint: an approval given a second ago must count. The reads go through
a ``LogReader`` (proxy.audit.claims.PoolLog), so this module holds no database code.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson

from proxy.audit.claims import ExigentCount, decide_key, use_key
from proxy.errors import ProxyError
from proxy.model import Principal, SearchQuery
from proxy.policy.approvals import (
    EXIGENT_WINDOW,
    ApprovalFacts,
    DecisionOnRecord,
    ExigentFacts,
    Person,
    RequestOnRecord,
    TwoPersonFacts,
)
from proxy.policy.model import Policy
from proxy.search.parse import parse_search

log = logging.getLogger("alpr_proxy.search")


class LogReader(Protocol):
    async def entry(self, index: int) -> bytes | None: ...

    async def holder(self, key: str) -> int | None: ...

    async def exigent(
        self, person: Person, since: datetime, due_before: datetime
    ) -> ExigentCount: ...


def _object(body: bytes | None) -> dict[str, Any]:
    value = orjson.loads(body) if body is not None else None
    return value if isinstance(value, dict) else {}


def entry_person(entry: dict[str, Any]) -> Person | None:
    """(issuer, subject, agency) of an entry; an entry without `issuer` has issuer ""."""
    issuer, subject, agency = entry.get("issuer", ""), entry.get("subject"), entry.get("agency")
    if isinstance(issuer, str) and isinstance(subject, str) and isinstance(agency, str):
        return (issuer, subject, agency)
    return None


def request_on_record(body: bytes | None) -> RequestOnRecord | None:
    """Request N, when its entry is a search refused with approval_required."""
    entry = _object(body)
    refused = entry.get("event") == "search" and entry.get("decision") == "refused"
    person = entry_person(entry)
    if not refused or entry.get("reason") != "approval_required" or person is None:
        return None
    query: SearchQuery | None
    try:
        query = parse_search(entry.get("query"))
    except ProxyError:
        query = None
    return RequestOnRecord(person, query)


def decision_on_record(body: bytes | None) -> DecisionOnRecord | None:
    entry = _object(body)
    person, verdict, at = entry_person(entry), entry.get("verdict"), entry.get("time")
    allowed = entry.get("event") == "approval" and entry.get("decision") == "allowed"
    if not allowed or person is None or verdict not in ("approve", "deny"):
        return None
    try:
        when = datetime.fromisoformat(str(at))
    except ValueError:
        return None
    return DecisionOnRecord(person, "approve" if verdict == "approve" else "deny", when)


async def approval_facts(reader: LogReader, index: int) -> ApprovalFacts:
    request = request_on_record(await reader.entry(index))
    if request is None:
        return ApprovalFacts(index, None, None, used=False)
    decided = await reader.holder(decide_key(index))
    decision = None if decided is None else decision_on_record(await reader.entry(decided))
    used = await reader.holder(use_key(index)) is not None
    return ApprovalFacts(index, request, decision, used)


async def gather(
    reader: LogReader | None,
    principal: Principal,
    query: SearchQuery,
    policy: Policy,
    now: datetime,
) -> tuple[TwoPersonFacts, ExigentCount | None]:
    """The facts this search's decision needs (none for most searches: nothing is read), and
    the exigent count whose next slot an exigent search claims. A failed read leaves its fact
    out, which the decision refuses (fail closed)."""
    purpose = policy.purposes.get(query.purpose)
    exigent = purpose is not None and purpose.exigent
    if reader is None or (query.approval is None and not exigent):
        return TwoPersonFacts(), None
    approval = count = None
    try:
        if query.approval is not None:
            approval = await approval_facts(reader, query.approval)
        if exigent:
            due = now - timedelta(hours=policy.settings.exigent_review_hours)
            count = await reader.exigent(principal.person, now - EXIGENT_WINDOW, due)
    except Exception as exc:  # the audit database: the decision refuses without the facts
        log.error("reading approval facts failed: %s: %s", type(exc).__name__, exc)
    facts = ExigentFacts(count.recent, count.overdue) if count is not None else None
    return TwoPersonFacts(approval=approval, exigent=facts), count
