"""OpenAPI paths of the browser-facing routes of issue 18: the console (its page, its public
configuration, the demo's sign-in) and the transparency activity CSV."""

from __future__ import annotations

from typing import Any

from proxy.oversight.transparency_flows import WINDOWS

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
_HTML = {"text/html": {"schema": {"type": "string"}}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(s): {"description": "error", "content": _ERROR} for s in statuses}


DAYS = {
    "name": "days",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "enum": list(WINDOWS)},
    "description": f"history window in days (default {WINDOWS[0]})",
}
_CONFIG = {
    "type": "object",
    "required": ["oidc", "demo_users", "tile_url"],
    "properties": {
        "oidc": {
            "type": ["object", "null"],
            "description": "null when [auth] console_client_id is empty",
            "properties": {
                "issuer": {"type": "string"},
                "client_id": {"type": "string"},
                "scopes": {"type": "array", "items": {"type": "string"}},
                "resource": {"type": ["string", "null"]},
            },
        },
        "demo_users": {
            "type": ["array", "null"],
            "description": "only under `alpr-proxy demo`",
            "items": {"type": "object"},
        },
        "tile_url": {"type": ["string", "null"]},
    },
}


def console_paths() -> dict[str, Any]:
    return {**_page_paths(), **_api_paths()}


def _page_paths() -> dict[str, Any]:
    page = {"200": {"description": "the console's page (static)", "content": _HTML}}
    return {
        "/": {
            "get": {
                "summary": "302 to /console/, or to /transparency without a console",
                "responses": {"302": {"description": "redirect"}},
            }
        },
        "/console": {
            "get": {
                "summary": "302 to /console/",
                "responses": {"302": {"description": "redirect"}},
            }
        },
        "/console/": {
            "get": {"summary": "The console (no token: it signs in itself)", "responses": page}
        },
        "/console/{path}": {
            "get": {
                "summary": "The console's static files (JS, CSS, images, vendored Leaflet);"
                " /console/callback is the page again (the IdP's redirect)",
                "parameters": [
                    {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "a file"}, **_errors(404)},
            }
        },
    }


def _api_paths() -> dict[str, Any]:
    return {
        "/v1/console/config": {
            "get": {
                "summary": "How the console signs in, and its map tiles (public, no token)",
                "responses": {
                    "200": {
                        "description": "config",
                        "content": {"application/json": {"schema": _CONFIG}},
                    }
                },
            }
        },
        "/v1/console/demo-token": {
            "post": {
                "summary": "`alpr-proxy demo` only: a token for one of the demo's users;"
                " 404 on any other server (no setting enables it)",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["sub"],
                                "properties": {"sub": {"type": "string"}},
                            }
                        }
                    }
                },
                "responses": {
                    "200": {
                        "description": "{access_token, expires_in}",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_errors(400, 404),
                },
            }
        },
        "/transparency/{ori}/activity.csv": {
            "get": {
                "summary": "One agency's transparency activity as CSV (public, no token)",
                "parameters": [
                    {"name": "ori", "in": "path", "required": True, "schema": {"type": "string"}},
                    DAYS,
                ],
                "responses": {
                    "200": {
                        "description": "CSV",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **_errors(400, 404, 503),
                },
            }
        },
    }
