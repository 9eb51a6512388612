"""What a signed-in user may use under a policy (SPEC §13), decided from the same facts the
search decision checks first (proxy.policy.evaluate): the investigator role, an agency in the
policy, a purpose that is not prohibited. Pure: principal and policy in, purposes out.

Nothing here widens access: a purpose listed is one ``decide`` would not refuse for role,
agency or prohibition; every other check still applies to each search.
"""

from __future__ import annotations

from proxy.model import Principal
from proxy.policy.evaluate import SEARCH_ROLE
from proxy.policy.model import Policy, Purpose


def usable_purposes(principal: Principal, policy: Policy) -> tuple[Purpose, ...]:
    """The purposes this user may search under, in the policy's order; none for a user without
    the investigator role or whose agency is not in the policy."""
    if SEARCH_ROLE not in principal.roles or principal.ori not in policy.agencies:
        return ()
    return tuple(p for p in policy.purposes.values() if not p.prohibited)
