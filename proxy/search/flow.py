"""One search after authentication: parse → decide (pure) → fetch → filter → audit → a result.

No HTTP here: the caller (proxy.http.search) authenticates, reads the body and answers. Every
search produces exactly one audit entry, allowed or refused, and its result exists only once
that entry has committed; a search whose caller goes away still leaves its entry
(`audit_orphan`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from time import perf_counter
from typing import Any

from proxy import metrics
from proxy.audit.canonical import Record, canonical
from proxy.audit.claims import Claim, ClaimLost, ExigentCount, exigent_key, person_key, use_key
from proxy.audit.entry import Decision, search_fields
from proxy.errors import ErrorCode, ProxyError
from proxy.model import Principal, SearchQuery
from proxy.policy.evaluate import Allowed, Refused, decide
from proxy.policy.model import Policy
from proxy.search.disclose import Outcome, disclose
from proxy.search.parse import decode_body, parse_search
from proxy.search.two_person import LogReader, gather
from proxy.store.base import Scope, Store, StoreUnavailable

# Of a body that is not recorded as parsed JSON, the entry keeps this many bytes and a hash.
BODY_PREFIX_BYTES = 64
# A JSON body that is not a valid search is recorded as asked up to this size (every valid
# search is far smaller; a typo stays readable), as a digest beyond it.
RECORDED_BODY_BYTES = 2048
CUT_OFF = "connection closed before the body was complete"
# Entries of searches whose caller went away (cancelled): held until they commit.
_orphans: set[asyncio.Task[int]] = set()


def body_digest(body: bytes) -> dict[str, Any]:
    """What an entry records of a body it does not keep: size, SHA-256 and a short prefix, so
    a flood of large bodies cannot grow the permanent log by more than this per request."""
    return {
        "bytes": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "prefix": body[:BODY_PREFIX_BYTES].decode("utf-8", "replace"),
    }


@dataclass(frozen=True, slots=True)
class Caller:
    """Who searches, and where the request came from (for the entry)."""

    principal: Principal
    request_id: str
    client: str | None


@dataclass(frozen=True, slots=True)
class Setting:
    """What a search runs against: its clock reading, the one policy object it uses throughout,
    the audit log's append (awaits the commit), the store and its row limit."""

    now: datetime
    policy: Policy
    append: Callable[[Record], Coroutine[Any, Any, int]]
    store: Store
    row_limit: int
    # What the decision reads of approvals and exigent searches (SPEC §12); None: no audit
    # database to read, so approvals and exigent purposes are refused (tools, some tests).
    log: LogReader | None = None


@dataclass(frozen=True, slots=True)
class Decided:
    """A search's decision once its entry has committed: what metrics and the log line say."""

    decision: Decision
    reason: ErrorCode | None
    audit_index: int
    policy_version: str
    search_type: str | None = None
    outcome: Outcome | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """An allowed search's answer."""

    audit_index: int
    policy_version: str
    reads: list[dict[str, Any]]
    truncated: bool


class Search:
    """One search: its clock, policy and audit entry. `decided` is set once the entry commits."""

    def __init__(self, caller: Caller, setting: Setting) -> None:
        self.caller = caller
        self.setting = setting
        self.audited = False
        self.decided: Decided | None = None
        # What an entry made on cancellation records: the body stage's refusal until the
        # body is in, then the query as asked with decision "error".
        self.asked: Any = {"invalid_body": CUT_OFF}
        self.orphan: tuple[Decision, ErrorCode | None] = ("refused", "invalid_request")
        # Set once the decision allowed a search that uses an approval or is exigent.
        self.allowed_as: Allowed | None = None
        self.exigent_count: ExigentCount | None = None
        self.approval: int | None = None  # the approval the parsed query names

    def _fields(
        self,
        asked: Any,
        decision: Decision,
        reason: ErrorCode | None,
        outcome: Outcome | None,
    ) -> dict[str, Any]:
        allowed = self.allowed_as
        return search_fields(
            at=self.setting.now,
            request_id=self.caller.request_id,
            principal=self.caller.principal,
            client=self.caller.client,
            query=asked,
            decision=decision,
            reason=reason,
            policy_version=self.setting.policy.version,
            outcome=outcome,
            approval=self.approval,
            exigent=allowed is not None and allowed.exigent,
        )

    def _record(
        self,
        asked: Any,
        decision: Decision,
        reason: ErrorCode | None,
        outcome: Outcome | None,
    ) -> Record:
        fields = self._fields(asked, decision, reason, outcome)
        return Record(canonical(fields), self._claim(fields) if decision == "allowed" else None)

    def _claim(self, fields: dict[str, Any]) -> Claim | None:
        """What an answered search holds at commit (proxy.audit.claims): the approval it uses
        up, or its slot among the person's exigent searches. Its fallback is the same entry,
        refused: a concurrent holder got there first, and nothing is returned."""
        allowed, person = self.allowed_as, self.caller.principal.person
        if allowed is None:
            return None
        refused = {**fields, "decision": "refused", "outcome": None}
        if allowed.approval is not None:
            fallback = {**refused, "reason": "approval_invalid"}
            return Claim(use_key(allowed.approval), canonical(fallback))
        if allowed.exigent and self.exigent_count is not None:
            fallback = {**refused, "reason": "exigent_review_overdue"}
            key = exigent_key(person, self.exigent_count.next_slot)
            return Claim(key, canonical(fallback), person_key(person), self.setting.now)
        return None

    async def audit(
        self,
        asked: Any,
        decision: Decision,
        reason: ErrorCode | None,
        outcome: Outcome | None,
    ) -> int:
        """Append this search's one audit entry and wait for its commit; return its index."""
        t = perf_counter()
        record = self._record(asked, decision, reason, outcome)
        self.audited = True  # append queues the record before it first waits
        try:
            index = await self.setting.append(record)
        except ClaimLost as lost:
            raise self._lost(lost) from None
        metrics.child(metrics.STAGE_SECONDS, "audit").observe(perf_counter() - t)
        return index

    def _lost(self, lost: ClaimLost) -> ProxyError:
        """The entry committed as its fallback refusal: answer with that refusal."""
        code: ErrorCode = "approval_invalid"
        message = "the approval was used by another search at the same time"
        if not lost.key.startswith("use:"):
            code = "exigent_review_overdue"
            message = "another exigent search of yours was recorded at the same time; try again"
        self.decided = Decided("refused", code, lost.index, self.setting.policy.version)
        return ProxyError(code, message, audit_index=lost.index)

    def audit_orphan(self) -> None:
        """The entry of a search cancelled before it made one: committed without a waiter."""
        if self.audited:
            return
        self.audited = True
        record = self._record(self.asked, *self.orphan, None)
        task = asyncio.get_running_loop().create_task(self.setting.append(record))
        _orphans.add(task)
        task.add_done_callback(_settle_orphan)

    async def refuse(
        self, code: ErrorCode, message: str, asked: Any, *, status: int | None = None
    ) -> ProxyError:
        """Audit the refusal; return the error to raise (it names the entry's index)."""
        index = await self.audit(asked, "refused", code, None)
        self.decided = Decided("refused", code, index, self.setting.policy.version)
        return ProxyError(code, message, audit_index=index, status=status)

    async def run(self, body: bytes, *, within_budget: bool) -> Result:
        """The search of a body received in full; raises ProxyError for every refusal.

        Every authenticated request spends from the budget, whatever its body: refusals and
        unparseable bodies too, so one token cannot write entries faster than its budget."""
        self.orphan = ("error", None)
        if not within_budget:
            raise await self.refuse(
                "rate_limited",
                "per-user search budget exhausted; try again later",
                {"rate_limited_body": body_digest(body)},
            )
        t = perf_counter()
        try:
            asked = decode_body(body)
        except ProxyError as exc:
            raise await self.refuse(
                exc.code, exc.message, {"invalid_body": body_digest(body)}
            ) from None
        self.asked = asked
        try:
            query = parse_search(asked)
        except ProxyError as exc:
            if len(body) > RECORDED_BODY_BYTES:  # no valid search is this large
                asked = {"invalid_body": body_digest(body)}
            raise await self.refuse(exc.code, exc.message, asked) from None
        principal, policy, now = self.caller.principal, self.setting.policy, self.setting.now
        self.approval = query.approval
        facts, self.exigent_count = await gather(self.setting.log, principal, query, policy, now)
        decision = decide(principal, query, policy, now, facts)
        metrics.child(metrics.STAGE_SECONDS, "policy").observe(perf_counter() - t)
        if isinstance(decision, Refused):
            raise await self.refuse(decision.code, decision.message, asked)
        self.allowed_as = decision
        return await self.allowed(asked, query, decision)

    async def allowed(self, asked: Any, query: SearchQuery, decision: Allowed) -> Result:
        t = perf_counter()
        d = decision.disclosure
        scope = Scope(d.admitted_owners(), d.retention_cutoff, d.owner_cutoffs)
        try:
            fetched = await self.setting.store.search(query, scope, self.setting.row_limit)
        except StoreUnavailable as exc:
            # Nothing was disclosed, but the attempt is on the record all the same.
            index = await self.audit(asked, "error", "store_unavailable", None)
            self.decided = Decided("error", "store_unavailable", index, self.setting.policy.version)
            raise ProxyError(
                "store_unavailable",
                f"the plate-read store is unavailable ({exc.cause})",
                audit_index=index,
            ) from None
        metrics.child(metrics.STAGE_SECONDS, "store").observe(perf_counter() - t)

        t = perf_counter()
        reads, outcome = disclose(
            fetched.reads,
            decision,
            fetched.withheld,
            row_limit=self.setting.row_limit,
            row_limit_reached=fetched.row_limit_reached,
        )
        metrics.child(metrics.STAGE_SECONDS, "filter").observe(perf_counter() - t)

        index = await self.audit(asked, "allowed", None, outcome)
        version = self.setting.policy.version
        self.decided = Decided("allowed", None, index, version, query.type, outcome)
        return Result(index, version, reads, outcome["truncated"])


def _settle_orphan(task: asyncio.Task[int]) -> None:
    _orphans.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: audit_unavailable is logged by the writer already
