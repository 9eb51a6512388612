"""How long each owner's reads may be served (SPEC §7, §11): the one place that decides it.

``settings.retention_days`` bounds every read. An owner may set a shorter retention of its own
(``retention_days`` on its ``[[agencies]]`` entry, or in its signed grant; both end up in
``Policy.owner_retention_days``); the shorter of the two applies. An owner's own value can never
lengthen retention: a longer one is ignored. Owners the policy does not know get the global one.

The search filter (``proxy.policy.disclosure``), the store's SQL (``proxy.store.postgres``), the
purge (``proxy.store.purge``), ``policy explain`` / ``diff`` and the transparency pages all read
these functions, so they cannot disagree about a cutoff.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType

from proxy.policy.model import Policy


def retention_days(policy: Policy, owner: str) -> int:
    """The effective retention of ``owner``'s reads, in days."""
    days = policy.settings.retention_days
    return min(days, policy.owner_retention_days.get(owner, days))


def shorter_retention(policy: Policy) -> Mapping[str, int]:
    """Owners whose effective retention is shorter than the global one, with it, by ORI."""
    days = policy.settings.retention_days
    return MappingProxyType(
        {o: d for o, d in sorted(policy.owner_retention_days.items()) if d < days}
    )


def cutoff(now: datetime, days: int) -> datetime:
    """Reads observed before this are past a ``days`` retention (one exactly at it is kept)."""
    return now - timedelta(days=days)


def owner_cutoffs(policy: Policy, now: datetime) -> Mapping[str, datetime]:
    """The cutoffs of the owners with a shorter retention than the global one (later than the
    global cutoff); every other owner's cutoff is ``cutoff(now, settings.retention_days)``."""
    return MappingProxyType({o: cutoff(now, d) for o, d in shorter_retention(policy).items()})
