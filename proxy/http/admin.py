"""`POST /v1/admin/policy/reload` (role admin); SIGHUP shares its logic
(proxy.search.live_policy.reload_policy). Once this process has reloaded, every other process
on the same audit database is told to reload too (proxy.reload_peers)."""

from __future__ import annotations

from aiohttp import web

from proxy.http.common import authenticate, json_response
from proxy.http.state import AUDIT_POOL, AUDIT_WRITER, CLOCK, POLICY, RELOAD_PEERS
from proxy.search.live_policy import reload_policy


async def reload(request: web.Request) -> web.Response:
    principal = await authenticate(request, roles=("admin",))
    app = request.app
    trigger = f"api:{principal.sub}@{principal.ori}"
    loaded = await reload_policy(app[POLICY], app[AUDIT_WRITER], app[CLOCK](), trigger)
    await app[RELOAD_PEERS].announce(app[AUDIT_POOL], trigger)
    return json_response(
        {
            "policy_version": loaded.policy.version,
            "previous_version": loaded.previous_version,
            "audit_index": loaded.audit_index,
            "diff": loaded.diff,
            "grants": app[POLICY].grants.to_json(),
        }
    )
