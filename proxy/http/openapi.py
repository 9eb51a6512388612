"""The OpenAPI 3.1 document, built from the same msgspec types that validate requests.

Request schemas come from proxy.search.parse (the decoder), response schemas from the structs below;
a test checks that every route is documented and that real responses decode into these types.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

import msgspec

from proxy import __version__
from proxy.errors import STATUS
from proxy.http.me import MeOut, me_paths
from proxy.http.openapi_approvals import SCHEMAS as APPROVAL_SCHEMAS
from proxy.http.openapi_approvals import approvals_paths
from proxy.http.openapi_audit import audit_paths
from proxy.http.openapi_console import DAYS, console_paths
from proxy.http.openapi_log_range import log_range_paths
from proxy.http.witnessed import ReadyWitnesses
from proxy.oversight.schemas import SCHEMAS
from proxy.search.parse import SearchIn


class ReadOut(msgspec.Struct, forbid_unknown_fields=True):
    id: int
    plate: str
    plate_state: str | None
    observed_at: datetime
    lat: float
    lon: float
    camera_id: str
    agency: str


class SearchResponse(msgspec.Struct, forbid_unknown_fields=True):
    audit_index: int
    request_id: str
    policy_version: str
    reads: list[ReadOut]
    truncated: bool


class ErrorBody(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    message: str
    audit_index: int | None = None


class ErrorEnvelope(msgspec.Struct, forbid_unknown_fields=True):
    error: ErrorBody


class InclusionProof(msgspec.Struct, forbid_unknown_fields=True):
    index: int
    size: int
    hashes: list[str]


class ConsistencyProof(msgspec.Struct, forbid_unknown_fields=True):
    old: int
    size: int
    hashes: list[str]


class PolicyReloaded(msgspec.Struct, forbid_unknown_fields=True):
    policy_version: str
    previous_version: str | None
    audit_index: int
    diff: dict[str, Any]
    grants: dict[str, Any]  # per owner with grant keys, as in its policy_loaded entry


class Health(msgspec.Struct, forbid_unknown_fields=True):
    status: str


class ReadyChecks(msgspec.Struct, forbid_unknown_fields=True):
    store: bool
    audit: bool
    audit_writer: bool
    witnessed: bool | msgspec.UnsetType = msgspec.UNSET  # only with witnesses configured


class Ready(msgspec.Struct, forbid_unknown_fields=True):
    status: str
    checks: ReadyChecks
    witnesses: ReadyWitnesses


_REF = "#/components/schemas/{name}"


def _json(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": _REF.format(name=name)}}}}


def _html() -> dict[str, Any]:
    return {"content": {"text/html": {"schema": {"type": "string"}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", **_json("ErrorEnvelope")} for s in statuses}


def _int_param(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }


_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


@cache
def openapi_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [
            SearchIn,
            SearchResponse,
            ErrorEnvelope,
            Health,
            Ready,
            InclusionProof,
            ConsistencyProof,
            PolicyReloaded,
            MeOut,
            *SCHEMAS,
            *APPROVAL_SCHEMAS,
        ],
        ref_template=_REF,
    )
    # 408: the body was not received within server.read_timeout_s.
    search_statuses = sorted({s for s in STATUS.values() if s not in (404, 405, 500)} | {408})
    paths: dict[str, Any] = {
        "/v1/search": {
            "post": {
                "summary": "Search plate reads (authenticated, policy-checked, audited)",
                "security": _BEARER,
                "requestBody": {"required": True, **_json("SearchIn")},
                "responses": {
                    "200": {"description": "reads", **_json("SearchResponse")},
                    **_errors(*(s for s in search_statuses if s != 200)),
                },
            }
        },
        "/v1/log/entries/{index}": {
            "get": {
                "summary": "An entry's canonical bytes (auditor of an agency it names; oversight)",
                "security": _BEARER,
                "parameters": [
                    {
                        "name": "index",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "the entry, canonical JSON",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_errors(400, 401, 403, 404, 503),
                },
            }
        },
        "/v1/log/checkpoint": {
            "get": {
                "summary": "Latest checkpoint: a C2SP tlog-checkpoint signed note (Ed25519)",
                "responses": {
                    "200": {
                        "description": "signed note",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(404, 503),
                },
            }
        },
        "/v1/log/proof/inclusion": {
            "get": {
                "summary": "RFC 6962 inclusion proof of entry `index` in the tree of `size`",
                "parameters": [_int_param("index"), _int_param("size")],
                "responses": {
                    "200": {"description": "proof", **_json("InclusionProof")},
                    **_errors(400, 503),
                },
            }
        },
        "/v1/log/proof/consistency": {
            "get": {
                "summary": "RFC 6962 consistency proof between tree sizes `old` and `size`",
                "parameters": [_int_param("old"), _int_param("size")],
                "responses": {
                    "200": {"description": "proof", **_json("ConsistencyProof")},
                    **_errors(400, 503),
                },
            }
        },
        "/v1/admin/policy/reload": {
            "post": {
                "summary": "Reload the policy file (role admin); an invalid file changes nothing",
                "security": _BEARER,
                "responses": {
                    "200": {"description": "loaded and audited", **_json("PolicyReloaded")},
                    **_errors(400, 401, 403, 503),
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "responses": {"200": {"description": "alive", **_json("Health")}},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: store, audit database, audit writer",
                "responses": {
                    "200": {"description": "ready", **_json("Ready")},
                    "503": {"description": "not ready", **_json("Ready")},
                },
            }
        },
        "/transparency": {
            "get": {
                "summary": "Public HTML index: every agency, the policy version, the latest"
                " checkpoint (no token)",
                "parameters": [DAYS],
                "responses": {
                    "200": {"description": "HTML page", **_html()},
                    **_errors(400, 503),
                },
            }
        },
        "/transparency/{ori}": {
            "get": {
                "summary": "Public HTML page of one agency: who can receive its reads (derived"
                " from the sharing rules in force), prohibited purposes, retention, 30-day use"
                " and refusals from the audit log, latest checkpoint (no token). Errors are"
                " JSON, or HTML when Accept names text/html",
                "parameters": [
                    {"name": "ori", "in": "path", "required": True, "schema": {"type": "string"}},
                    DAYS,
                ],
                "responses": {
                    "200": {"description": "HTML page", **_html()},
                    **{
                        str(s): {
                            "description": "error",
                            "content": {
                                **_json("ErrorEnvelope")["content"],
                                **_html()["content"],
                            },
                        }
                        for s in (400, 404, 503)
                    },
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
    paths.update(audit_paths())
    paths.update(log_range_paths())
    paths.update(console_paths())
    paths.update(approvals_paths())
    paths.update(me_paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "alpr-proxy",
            "version": __version__,
            "description": "Policy-enforcing, tamper-evidently audited access to ALPR reads.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
