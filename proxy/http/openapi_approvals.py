"""OpenAPI paths of approvals (proxy.http.approvals, SPEC §12); schemas:
proxy.oversight.approvals."""

from __future__ import annotations

from typing import Any

from proxy.oversight.approvals import PENDING_LIMIT, ApprovalIn, ApprovalOut, PendingList

SCHEMAS = (ApprovalIn, ApprovalOut, PendingList)
_REF = "#/components/schemas/{name}"
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def _json(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": _REF.format(name=name)}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", **_json("ErrorEnvelope")} for s in statuses}


def approvals_paths() -> dict[str, Any]:
    return {
        "/v1/approvals": {
            "get": {
                "summary": "Requests awaiting a supervisor's decision, oldest first",
                "description": (
                    "Searches refused with approval_required and not yet decided, at most"
                    f" {PENDING_LIMIT}. Role supervisor (their agency's requests) or oversight"
                    " (all). Audited as an audit_access entry before the response (its index"
                    " in the X-Audit-Index header); 503 audit_unavailable if it cannot be."
                ),
                "security": _BEARER,
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "required": True,
                        "schema": {"enum": ["pending"]},
                        "description": "which requests: pending (undecided)",
                    }
                ],
                "responses": {
                    "200": {"description": "the pending requests", **_json("PendingList")},
                    **_errors(400, 401, 403, 503),
                },
            },
            "post": {
                "summary": "Approve or deny a request (appends an approval entry)",
                "description": (
                    "Checked in this order: not a supervisor of the requester's agency:"
                    " 403 forbidden_role; the requester themselves: 403 self_approval; index"
                    " not an approval_required refusal, or already decided: 400"
                    " invalid_request. Refusals of an authenticated caller are approval"
                    " entries too (decision refused), named by the error's audit_index."
                ),
                "security": _BEARER,
                "requestBody": {"required": True, **_json("ApprovalIn")},
                "responses": {
                    "200": {"description": "the approval entry's index", **_json("ApprovalOut")},
                    **_errors(400, 401, 403, 408, 413, 503),
                },
            },
        }
    }
