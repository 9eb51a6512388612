"""The effective policy as a ``policy_loaded`` entry recorded it: the operator's policy with the
owners' rules from the grant texts the entry says were in force (their signatures were checked
when the entry was written). Used to diff a new load against the last recorded one, and by
anyone reconstructing what was enforced when."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from proxy.grants.effective import with_owner_rules
from proxy.grants.record import RecordError
from proxy.policy.grant_body import parse_grant_body
from proxy.policy.model import Policy, PolicyError, SharingRule


def policy_as_recorded(policy: Policy, grants: Mapping[str, Any] | None) -> Policy:
    """``grants``: the entry's ``grants`` section (None in entries older than grants)."""
    taken: set[str] = set()
    rules: dict[str, tuple[SharingRule, ...]] = {}
    retention: dict[str, int] = {}
    for owner, status in (grants or {}).items():
        try:
            if status["keys"] or status["reason"] is not None:
                taken.add(owner)
            if (in_force := status["in_force"]) is not None:
                body = parse_grant_body(tomllib.loads(in_force["text"]))
                rules[owner] = body.rules
                if body.retention_days:
                    retention[owner] = body.retention_days
        except (KeyError, TypeError, tomllib.TOMLDecodeError, PolicyError) as exc:
            raise RecordError(f"grants[{owner}] unreadable: {exc!r}") from None
    return with_owner_rules(policy, taken, rules, retention)
