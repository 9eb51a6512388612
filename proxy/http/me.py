"""`GET /v1/me` (SPEC §13): who the token says the caller is, and what they may use.

For consoles and clients: any valid token; not a search, so not audited as one (an invalid
token is still an `auth_failure` entry, as on every endpoint); rate-limited per user at the
search rate, in a budget of its own so a console's calls never cost a search.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from proxy.errors import ProxyError
from proxy.http.common import authenticate
from proxy.http.state import POLICY, SEARCH_LIMITER
from proxy.policy.capabilities import usable_purposes
from proxy.policy.model import Purpose

_REF = "#/components/schemas/"


class PurposeOut(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    description: str
    query_types: list[str]
    max_lookback_days: int
    case_number: str  # "required" | "optional"
    area_max_radius_m: float | None
    area_max_window_hours: float | None
    approval_required: list[str]  # conditions needing a supervisor's approval (SPEC §12)
    exigent: bool


class MeOut(msgspec.Struct, forbid_unknown_fields=True):
    sub: str
    ori: str
    agency: str | None  # the agency's name in the policy; null when the ORI is not in it
    roles: list[str]
    purposes: list[PurposeOut]  # only what this user may use; empty for non-investigators


def purpose_out(p: Purpose) -> PurposeOut:
    return PurposeOut(
        code=p.code,
        description=p.description,
        query_types=sorted(p.query_types),
        max_lookback_days=p.max_lookback_days,
        case_number=p.case_number,
        area_max_radius_m=p.area_max_radius_m,
        area_max_window_hours=p.area_max_window_hours,
        approval_required=sorted(p.approval_required),
        exigent=p.exigent,
    )


async def me(request: web.Request) -> web.Response:
    principal = await authenticate(request)
    if not request.app[SEARCH_LIMITER].allow(f"me\x00{principal.ori}\x00{principal.sub}"):
        raise ProxyError("rate_limited", "too many requests; try again in a minute")
    policy = request.app[POLICY].current
    agency = policy.agencies.get(principal.ori)
    out = MeOut(
        sub=principal.sub,
        ori=principal.ori,
        agency=None if agency is None else agency.name,
        roles=sorted(principal.roles),
        purposes=[purpose_out(p) for p in usable_purposes(principal, policy)],
    )
    return web.Response(body=msgspec.json.encode(out), content_type="application/json")


def me_paths() -> dict[str, object]:
    """The OpenAPI path of this endpoint (proxy.http.openapi gathers every path)."""
    error = {"content": {"application/json": {"schema": {"$ref": _REF + "ErrorEnvelope"}}}}
    return {
        "/v1/me": {
            "get": {
                "summary": "The caller's identity, agency and the purposes they may search"
                " under (any valid token; not audited as a search; rate-limited per user)",
                "security": [{"bearer": []}],
                "responses": {
                    "200": {
                        "description": "who you are and what you may use",
                        "content": {"application/json": {"schema": {"$ref": _REF + "MeOut"}}},
                    },
                    **{str(s): {"description": "error", **error} for s in (401, 429)},
                },
            }
        }
    }
