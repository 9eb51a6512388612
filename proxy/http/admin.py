"""`POST /v1/admin/policy/reload` (role admin), and the SIGHUP path that shares its logic."""

from __future__ import annotations

import logging

from aiohttp import web

from proxy.errors import ProxyError
from proxy.http.common import authenticate, json_response
from proxy.keys import AUDIT_WRITER, CLOCK, POLICY
from proxy.policy.document import PolicyError
from proxy.policy_file import Loaded

log = logging.getLogger("alpr_proxy.policy")


async def reload_policy(app: web.Application, trigger: str) -> Loaded:
    """Reload the policy file; an invalid one raises invalid_request and changes nothing."""
    try:
        return await app[POLICY].reload(app[AUDIT_WRITER], app[CLOCK](), trigger)
    except PolicyError as exc:
        problems = "; ".join(str(e) for e in exc.errors)
        log.error("policy reload refused: %s", problems, extra={"trigger": trigger})
        raise ProxyError(
            "invalid_request", f"policy not loaded, the previous one stays in force: {problems}"
        ) from None
    except OSError as exc:
        log.error("policy reload refused: %s", exc, extra={"trigger": trigger})
        raise ProxyError(
            "invalid_request", f"policy file unreadable, the previous one stays in force: {exc}"
        ) from None


async def reload(request: web.Request) -> web.Response:
    principal = await authenticate(request, roles=("admin",))
    loaded = await reload_policy(request.app, f"api:{principal.sub}@{principal.ori}")
    return json_response(
        {
            "policy_version": loaded.policy.version,
            "previous_version": loaded.previous_version,
            "audit_index": loaded.audit_index,
            "diff": loaded.diff,
        }
    )
