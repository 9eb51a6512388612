"""Every error code of SPEC §6, its HTTP status, and one exception type that carries it.

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
    "store_unavailable",
    "not_found",
    "method_not_allowed",
    "payload_too_large",
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
    # Not in SPEC §6's table; documented in the README as extensions.
    "store_unavailable": 503,
    # Not search refusals, but errors every endpoint may answer with.
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "internal_error": 500,
}


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
