"""The audit API's request and response shapes (SPEC §8), as msgspec Structs.

Handlers encode these, the OpenAPI document is generated from them, and the tests decode real
responses into them strictly, so the three cannot disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

Disposition = Literal["no_issue", "needs_follow_up", "violation"]
DISPOSITIONS: tuple[str, ...] = ("no_issue", "needs_follow_up", "violation")


class _Out(msgspec.Struct, forbid_unknown_fields=True, rename={"from_": "from"}):
    pass


class EntriesPage(_Out):
    """Entries in index order; each is the entry's JSON object plus its `index`."""

    entries: list[dict[str, Any]]
    next_cursor: str | None


class ReviewIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    index: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]  # a bigint in the log
    disposition: Disposition
    note: Annotated[str, msgspec.Meta(max_length=4000)] = ""


class ReviewOut(_Out):
    audit_index: int
    reviewed_index: int


class UsageRow(_Out):
    agency: str
    purpose: str | None
    decision: str
    searches: int
    reads: int  # reads returned by these searches


class UsageReport(_Out):
    from_: datetime
    to: datetime
    scope: str  # "all", or the auditor's ORI
    searches: int
    reads: int
    rows: list[UsageRow]


class DisclosuresReport(_Out):
    from_: datetime
    to: datetime
    scope: str
    disclosed: dict[str, dict[str, int]]  # owning agency -> recipient agency -> reads


class ReviewState(_Out):
    audit_index: int
    disposition: str
    subject: str | None
    agency: str | None
    time: str | None
    by: str  # "oversight" (the reviewer held the oversight role) or "auditor" (an agency's)


class FlaggedEntry(_Out):
    index: int
    time: str | None
    agency: str | None
    subject: str | None
    on_behalf_of: str | None
    purpose: str | None
    justification: str | None
    decision: str | None
    reason: str | None
    unreviewed: bool  # no review yet from the report reader's side (review is None)
    # The disposition that stands for the reader: oversight's latest review in oversight's
    # report, the reader's own agency's latest in an auditor's.
    review: ReviewState | None
    # Shown beside it, never in its place: in oversight's report each agency's latest review,
    # in an auditor's oversight's latest.
    other_reviews: list[ReviewState]


class FlagList(_Out):
    total: int
    unreviewed: int
    truncated: bool  # more matched than `entries` lists; page with GET /v1/audit/entries
    entries: list[FlaggedEntry]


class VolumeUser(_Out):
    agency: str
    subject: str
    searches: int
    agency_median: float
    agency_users: int


class VolumeFlags(_Out):
    factor: float
    min_searches: int
    users: list[VolumeUser]


class BoilerplateText(_Out):
    text: str  # the normalised form the searches share
    searches: int
    users: int
    agencies: list[str]
    first_index: int
    last_index: int


class BoilerplateFlags(_Out):
    min_searches: int
    texts: list[BoilerplateText]


class ProbeUser(_Out):
    agency: str
    subject: str
    refusals: int  # sensitive_location refusals in the range
    most_in_window: int  # the most of them within any window_hours
    first_index: int
    last_index: int


class ProbeFlags(_Out):
    min_refusals: int
    window_hours: int
    users: list[ProbeUser]


class ApprovalRequest(_Out):
    """A search refused with `approval_required`: its index is the request (SPEC §12)."""

    index: int
    time: str | None
    agency: str | None
    subject: str | None
    on_behalf_of: str | None
    purpose: str | None
    query_type: str | None
    justification: str | None


class RequestList(_Out):
    total: int
    truncated: bool
    entries: list[ApprovalRequest]


class ApprovalDecision(_Out):
    """An `approval` entry: a supervisor's decision on a request."""

    index: int  # the approval entry
    request: int | None  # the request it decides
    time: str | None
    agency: str | None  # the supervisor's
    subject: str | None  # the supervisor
    verdict: str | None  # "approve" or "deny"
    note: str | None
    requester: str | None  # the subject who asked (the entry's requester)
    # Approvals: until when it could be used (approval_valid_hours), and whether that has passed.
    valid_until: str | None
    expired: bool | None


class DecisionList(_Out):
    total: int
    truncated: bool
    entries: list[ApprovalDecision]


class SupervisorDecisions(_Out):
    agency: str
    subject: str
    approved: int
    denied: int
    refused: int  # their attempts the proxy refused (not their agency's request, their own)


class ReusedApproval(_Out):
    """One approved request named by more than one search that ran: single use was broken."""

    request: int
    searches: list[int]


class ApprovalFlags(_Out):
    valid_hours: int  # the policy's approval_valid_hours when the report ran
    pending: RequestList  # requests no supervisor has decided
    denied: DecisionList
    unused: DecisionList  # approved, and no search that ran named it (expired or not)
    by_supervisor: list[SupervisorDecisions]
    reused: list[ReusedApproval]


class ExigentSearch(_Out):
    index: int
    time: str | None
    agency: str | None
    subject: str | None
    purpose: str | None
    justification: str | None
    due: str  # time + exigent_review_hours
    overdue: bool  # unreviewed and past due (unreviewed list); always true for late reviews
    # The first review that counts (a supervisor of the requester's agency, or oversight).
    review_index: int | None
    reviewed_at: str | None


class ExigentList(_Out):
    total: int
    truncated: bool
    entries: list[ExigentSearch]


class ExigentFlags(_Out):
    review_hours: int  # the policy's exigent_review_hours when the report ran
    unreviewed: ExigentList
    reviewed_late: ExigentList


class GrantKeyChange(_Out):
    """A change of an owner's grant keys in the operator's policy (proxy.grants.key_history)."""

    owner: str
    index: int  # the policy_loaded entry
    time: str
    change: str  # added | removed | replaced
    before: list[str]  # the vkeys the previous load's policy named
    after: list[str]
    before_quorum: int
    after_quorum: int
    outcome: str  # refused | authorised | registered | restored
    authorised: bool  # by a <ORI>.keys note signed by a quorum of the keys on record


class GrantKeyChanges(_Out):
    total: int
    truncated: bool
    changes: list[GrantKeyChange]


class FlagsReport(_Out):
    from_: datetime
    to: datetime
    scope: str
    refused: FlagList
    justification_flagged: FlagList
    on_behalf_of: FlagList
    unusual_volume: VolumeFlags
    boilerplate: BoilerplateFlags
    sensitive_location_probes: ProbeFlags
    approvals: ApprovalFlags
    exigent: ExigentFlags
    grant_key_changes: GrantKeyChanges


SCHEMAS: tuple[type[msgspec.Struct], ...] = (
    EntriesPage,
    ReviewIn,
    ReviewOut,
    UsageReport,
    DisclosuresReport,
    FlagsReport,
)
