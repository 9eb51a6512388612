"""OpenAPI path of the log's range endpoint (proxy.http.log_range, SPEC §10)."""

from __future__ import annotations

from typing import Any

from proxy.http.log_range import MAX_RANGE, MEDIA_TYPE

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}


def _param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
        "description": description,
    }


def log_range_paths() -> dict[str, Any]:
    return {
        "/v1/log/entries": {
            "get": {
                "summary": f"Entries [start, end), at most {MAX_RANGE}, as JSON Lines",
                "description": (
                    "Each entry's exact canonical bytes followed by a newline (canonical entries"
                    " hold no raw newline), in index order; fewer when the log ends before"
                    " `end`, none when it ends at or before `start`. Oversight: every entry;"
                    " auditor: 403 unless every entry of the range concerns their agency."
                    " One audit_access entry per request (not per entry), committed before the"
                    " body; its index is in the X-Audit-Index header. `alpr-proxy audit verify"
                    " --url` reads the log through it."
                ),
                "security": [{"bearer": []}],
                "parameters": [
                    _param("start", "first index"),
                    _param("end", f"index after the last; end - start <= {MAX_RANGE}"),
                ],
                "responses": {
                    "200": {
                        "description": "the entries, one per line",
                        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
                    },
                    **{
                        str(s): {"description": "error", "content": _ERROR}
                        for s in (400, 401, 403, 503)
                    },
                },
            }
        }
    }
