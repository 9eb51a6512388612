"""The OpenAPI 3.1 document, built from the same msgspec types that validate requests.

Request schemas come from proxy.request (the decoder), response schemas from the structs below;
a test checks that every route is documented and that real responses decode into these types.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

import msgspec

from proxy import __version__
from proxy.errors import STATUS
from proxy.request import SearchIn


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


class Health(msgspec.Struct, forbid_unknown_fields=True):
    status: str


class ReadyChecks(msgspec.Struct, forbid_unknown_fields=True):
    store: bool
    audit: bool
    audit_writer: bool


class Ready(msgspec.Struct, forbid_unknown_fields=True):
    status: str
    checks: ReadyChecks


_REF = "#/components/schemas/{name}"


def _json(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": _REF.format(name=name)}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", **_json("ErrorEnvelope")} for s in statuses}


_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


@cache
def openapi_document() -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [SearchIn, SearchResponse, ErrorEnvelope, Health, Ready], ref_template=_REF
    )
    search_statuses = sorted({s for s in STATUS.values() if s not in (404, 405, 500)})
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
                "summary": "One entry's canonical bytes (auditor of an agency it names, or oversight)",
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
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
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
