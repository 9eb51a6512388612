"""OpenAPI paths of the audit API (proxy.http.audit_api); schemas: proxy.oversight.schemas."""

from __future__ import annotations

from typing import Any

from proxy.audit.entry import DECISIONS, EVENTS
from proxy.oversight.csvout import ENTRY_COLUMNS
from proxy.oversight.entries import DEFAULT_LIMIT, MAX_LIMIT
from proxy.oversight.reports import REPORTS

_REF = "#/components/schemas/{name}"
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_AUDITED = (
    " Roles auditor (entries concerning their agency) or oversight (all). Every read appends an"
    " audit_access entry before the response, whose index is in the X-Audit-Index header; if it"
    " cannot be written the answer is 503 audit_unavailable."
)
_TIME = {"type": "string", "format": "date-time"}


def _json(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": _REF.format(name=name)}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", **_json("ErrorEnvelope")} for s in statuses}


def _q(name: str, schema: dict[str, Any], description: str, required: bool = False) -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }


_TEXT = {"type": "string", "minLength": 1, "maxLength": 256}
_RANGE = [
    _q("from", _TIME, "RFC 3339 with a time zone; entries at or after", required=True),
    _q("to", _TIME, "RFC 3339 with a time zone; entries before", required=True),
]
_ENTRY_FILTERS = [
    _q("from", _TIME, "entries at or after this time (RFC 3339 with a time zone)"),
    _q("to", _TIME, "entries before this time"),
    _q("agency", _TEXT, "requesting agency (ORI)"),
    _q("subject", _TEXT, "the user (token `sub`)"),
    _q("purpose", _TEXT, "purpose code"),
    _q("decision", {"enum": sorted(DECISIONS)}, "decision"),
    _q("reason", _TEXT, "refusal code"),
    _q("plate", _TEXT, "plate searched (normalised); a partial pattern matches by its text"),
    _q("on_behalf_of", _TEXT, "on-behalf-of agency (ORI)"),
    _q("owner", _TEXT, "an agency whose reads the search disclosed"),
    _q("event", {"enum": sorted(EVENTS)}, "entry event"),
    _q("cursor", {"type": "string"}, "opaque: next_cursor of the previous page"),
    _q(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "entries per page",
    ),
]
_FLAG_OPTIONS = [
    _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "per list"),
    _q("unreviewed", {"type": "boolean", "default": False}, "list only unreviewed entries"),
    _q(
        "volume_factor",
        {"type": "number", "minimum": 1, "maximum": 1000, "default": 3},
        "unusual volume: searches above this multiple of the agency's median",
    ),
    _q(
        "volume_min",
        {"type": "integer", "minimum": 1, "default": 20},
        "unusual volume: and at least this many searches",
    ),
    _q(
        "boilerplate_min",
        {"type": "integer", "minimum": 2, "default": 10},
        "boilerplate: a normalised justification shared by at least this many searches",
    ),
]


def _report(summary: str, schema: str, params: list[Any]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "description": "Searches in [from, to). With `Accept: text/csv`: the report's"
            " tables as UTF-8 CSV (byte-order mark; per table a title row, a header row and its"
            " rows, tables separated by a blank line; formula cells neutralised)." + _AUDITED,
            "security": _BEARER,
            "parameters": params,
            "responses": {
                "200": {
                    "description": "the report",
                    "content": {
                        **_json(schema)["content"],
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **_errors(400, 401, 403, 503),
            },
        }
    }


def audit_paths() -> dict[str, Any]:
    csv_columns = ", ".join(ENTRY_COLUMNS)
    return {
        "/v1/audit/entries": {
            "get": {
                "summary": "Filtered entries in index order, cursor-paginated; JSON or CSV",
                "description": (
                    "JSON: {entries, next_cursor}; each entry is its canonical JSON object"
                    " plus `index`. With `Accept: text/csv`: UTF-8 CSV (byte-order mark, header"
                    " row, RFC 4180) with the columns " + csv_columns + "; cells starting with"
                    " = + - @ tab or CR get a leading single quote; the next cursor is in the"
                    " X-Next-Cursor header." + _AUDITED
                ),
                "security": _BEARER,
                "parameters": _ENTRY_FILTERS,
                "responses": {
                    "200": {
                        "description": "a page of entries",
                        "content": {
                            **_json("EntriesPage")["content"],
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **_errors(400, 401, 403, 503),
                },
            }
        },
        **{
            f"/v1/audit/reports/{kind.name}": _report(
                kind.summary,
                kind.shape.__name__,
                _RANGE + _FLAG_OPTIONS if kind.flag_options else _RANGE,
            )
            for kind in REPORTS.values()
        },
        "/v1/audit/reviews": {
            "post": {
                "summary": "Append a review (disposition) of an entry the caller may review",
                "description": "Roles auditor (entries concerning their agency) or oversight"
                " (any); an exigent search only a supervisor of its agency or oversight, and a"
                " supervisor nothing else (403 forbidden_role); nobody their own entry (403"
                " self_review). Reviews are entries: appended, never edited; the latest review"
                " of an index is its disposition; refusals are audit_access entries.",
                "security": _BEARER,
                "requestBody": {"required": True, **_json("ReviewIn")},
                "responses": {
                    "200": {"description": "the review's index", **_json("ReviewOut")},
                    **_errors(400, 401, 403, 404, 408, 413, 503),
                },
            }
        },
    }
