"""A grant text for an owner to review and sign (``alpr-proxy grant draft``, SPEC §11): the
agencies that match a description today (kinds, states), named by ORI, because a signed grant
must not depend on labels the operator can change later. Pure: the policy, the description,
the deployment and the times in; the TOML text out (LF line ends, no tabs or controls)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime

from proxy.policy.model import Agency, Policy

DEFAULT_KINDS = ("local", "state")


def matching(
    policy: Policy, owner: str, kinds: Collection[str], states: Collection[str]
) -> list[Agency]:
    """Agencies of those kinds (and states, when given), never immigration enforcement,
    other than the owner (it always sees its own reads), by ORI."""
    return [
        a
        for ori, a in sorted(policy.agencies.items())
        if ori != owner
        and a.kind in kinds
        and (not states or a.state in states)
        and not a.immigration_enforcement
    ]


def _line(text: str) -> str:
    # Agency names come from the operator's TOML: keep the comment on one printable line.
    return "".join(c if c >= " " and c != "\x7f" else " " for c in text)


def _quoted(items: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def draft_grant(
    policy: Policy,
    owner: str,
    *,
    kinds: Collection[str],
    states: Collection[str],
    purposes: Sequence[str],
    deployment: str,
    issued: datetime,
    expires: datetime,
) -> str:
    agencies = matching(policy, owner, kinds, states)
    described = f"kinds {', '.join(sorted(kinds))}" + (
        f" in {', '.join(sorted(states))}" if states else ""
    )
    lines = [
        f"# Sharing grant of {_line(policy.agencies[owner].name)}: review, then sign with",
        "# `alpr-proxy grant sign`. Recipients are named by ORI: the agencies that match",
        f"# {described} in the operator's policy {policy.version} today.",
        f'owner = "{owner}"',
        f"deployment = {json.dumps(deployment, ensure_ascii=False)}",
        f"issued = {issued.isoformat()}",
        f"expires = {expires.isoformat()}",
        "",
        "[[sharing]]",
        "to_agencies = [",
        *(f'  "{a.ori}",  # {_line(a.name)} ({a.kind}, {a.state or "no state"})' for a in agencies),
        "]",
        "exclude_immigration_enforcement = true",
        f"purposes = {_quoted(purposes)}",
    ]
    return "\n".join(lines) + "\n"
