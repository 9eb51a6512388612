"""Every error code of SPEC §6 and §12, its HTTP status, and one exception type that carries it.

Pure: the policy package returns these codes as strings; the HTTP layer maps them to responses.
"""

from __future__ import annotations

from typing import Final, Literal

ErrorCode = Literal[
    "unauthenticated",
    "forbidden_role",
    "unknown_agency",
    "invalid_request",
    "unknown_purpose",
    "purpose_prohibited",
    "query_type_not_permitted",
    "case_number_required",
    "justification_required",
    "justification_flagged",
    "lookback_exceeded",
    "area_too_large",
    "sensitive_location",
    "rate_limited",
    "audit_unavailable",
    "approval_required",
    "approval_invalid",
    "self_approval",
    "self_review",
    "exigent_review_overdue",
    "store_unavailable",
    "not_found",
    "method_not_allowed",
    "internal_error",
]

STATUS: Final[dict[str, int]] = {
    "unauthenticated": 401,
    "forbidden_role": 403,
    "unknown_agency": 403,
    "invalid_request": 400,
    "unknown_purpose": 400,
    "purpose_prohibited": 403,
    "query_type_not_permitted": 403,
    "case_number_required": 400,
    "justification_required": 400,
    "justification_flagged": 403,
    "lookback_exceeded": 403,
    "area_too_large": 403,
    "sensitive_location": 403,
    "rate_limited": 429,
    "audit_unavailable": 503,
    # SPEC §12: two people for the risky searches.
    "approval_required": 403,
    "approval_invalid": 403,
    "self_approval": 403,
    "self_review": 403,
    "exigent_review_overdue": 403,
    # Not in SPEC §6's table; documented in the README as extensions.
    "store_unavailable": 503,
    # Not search refusals, but errors every endpoint may answer with.
    "not_found": 404,
    "method_not_allowed": 405,
    "internal_error": 500,
}


# Every code a search can be refused with (its audit entry's `reason`), and what the public
# transparency page calls it. A new refusal rule adds its code above and its label here;
# tests/test_errors_registry.py fails when a code the policy or the search flow refuses with
# has none.
REFUSAL_LABELS: Final[dict[ErrorCode, str]] = {
    "forbidden_role": "Searcher without the investigator role",
    "unknown_agency": "An agency not in the policy",
    "invalid_request": "Malformed request",
    "unknown_purpose": "Purpose not in the policy",
    "purpose_prohibited": "Prohibited purpose",
    "query_type_not_permitted": "Search type not allowed for the purpose",
    "case_number_required": "No case number",
    "justification_required": "Justification missing or too short",
    "justification_flagged": "Justification contains a prohibited term",
    "lookback_exceeded": "Searched further back than the purpose allows",
    "area_too_large": "Area or time window too large",
    "sensitive_location": "Area overlaps a sensitive location",
    "rate_limited": "Too many searches",
    "approval_required": "Needs a supervisor's approval first",
    "approval_invalid": "Approval missing, expired, used or for another search",
    "exigent_review_overdue": "Exigent searches over the daily cap or awaiting overdue review",
    # Not a search refusal: a supervisor deciding their own request (POST /v1/approvals).
    "self_approval": "Supervisor deciding their own request",
}


# How grave a refusal is, for the public pages and reviewers: a typo is not a prohibited
# purpose. Every code of REFUSAL_LABELS has one (tests/test_errors_registry.py), gravest first.
Severity = Literal["prohibited", "beyond_limits", "incomplete"]
SEVERITY_LABELS: Final[dict[Severity, str]] = {
    "prohibited": "Prohibited: a purpose, term or place the policy forbids",
    "beyond_limits": "Beyond the limits: more than the searcher or the purpose may do",
    "incomplete": "Incomplete or mistyped: a required field missing or wrong",
}
REFUSAL_SEVERITY: Final[dict[ErrorCode, Severity]] = {
    "purpose_prohibited": "prohibited",
    "justification_flagged": "prohibited",
    "sensitive_location": "prohibited",
    "forbidden_role": "beyond_limits",
    "unknown_agency": "beyond_limits",
    "query_type_not_permitted": "beyond_limits",
    "lookback_exceeded": "beyond_limits",
    "area_too_large": "beyond_limits",
    "rate_limited": "beyond_limits",
    # Two people (SPEC §12): approving one's own request is the rule's whole point; a stale or
    # reused approval and skipped exigent reviews are past the limits; a search that still
    # needs its approval is a step not yet taken.
    "self_approval": "prohibited",
    "approval_invalid": "beyond_limits",
    "exigent_review_overdue": "beyond_limits",
    "approval_required": "incomplete",
    "invalid_request": "incomplete",
    "unknown_purpose": "incomplete",
    "case_number_required": "incomplete",
    "justification_required": "incomplete",
}


def refusal_severity(code: str) -> Severity:
    """The severity of a recorded refusal; an unknown code counts as the gravest (fail closed:
    a refusal is never made to look harmless by a missing entry)."""
    return REFUSAL_SEVERITY.get(code, "prohibited")  # type: ignore[call-overload, no-any-return]


def refusal_label(code: str) -> str:
    """The public label of a recorded refusal; a code without one shows as itself, never blank."""
    return REFUSAL_LABELS.get(code, code)  # type: ignore[call-overload, no-any-return]


class ProxyError(Exception):
    """An error answered with the SPEC's envelope {"error": {"code", "message", "audit_index"}}."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        audit_index: int | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.audit_index = audit_index
        # A more precise HTTP status for the same code (413 for an oversized body).
        self.status = STATUS[code] if status is None else status
