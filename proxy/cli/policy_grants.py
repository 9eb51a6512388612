"""Owners' grants for the offline policy tools (`policy explain` and `policy diff` with
`--grants DIR`): the grant files applied to a policy as the server would, except that no
record from the log is at hand, so rollback and key-change checks are only made between the
two sides of a diff (the new side judged against the old side's record)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from proxy.grants import Effective, OwnerRecord, apply_grants
from proxy.policy.model import Policy
from proxy.search.grant_files import GrantFiles
from proxy.settings import SettingsError, load_settings


class GrantArgsError(Exception):
    """--grants without a deployment, or an unreadable --config: exit 2."""


def origin_of(deployment: str | None, config: str | None) -> str:
    if deployment:
        return deployment
    if config:
        try:
            return load_settings(config).log.origin
        except SettingsError as exc:
            raise GrantArgsError(str(exc)) from None
    raise GrantArgsError("--grants needs --deployment ORIGIN or --config FILE (its log.origin)")


def with_grants(
    policy: Policy,
    directory: str,
    origin: str,
    now: datetime,
    record: Mapping[str, OwnerRecord] | None = None,
) -> Effective:
    files = GrantFiles(Path(directory), origin).read()
    return apply_grants(policy, files, record or {}, origin, now)


def rule_names(operator: Policy, effective: Policy) -> dict[int, str]:
    """Names for the effective policy's rules: the operator's keep ``sharing[i]`` (their place
    in the file); an owner's are ``ORI.grant sharing[j]``."""
    place = {id(rule): i for i, rule in enumerate(operator.sharing)}
    names: dict[int, str] = {}
    seen: dict[str, int] = {}
    for i, rule in enumerate(effective.sharing):
        if id(rule) in place:
            names[i] = f"sharing[{place[id(rule)]}]"
        else:
            j = seen[rule.owner] = seen.get(rule.owner, -1) + 1
            names[i] = f"{rule.owner}.grant sharing[{j}]"
    return names


def status_lines(effective: Effective) -> list[str]:
    lines = []
    for owner, s in effective.statuses.items():
        if s.in_force is not None:
            g = s.in_force
            lines.append(
                f"grant {owner}: in force, issued {g.issued.isoformat()}, expires"
                f" {g.expires.isoformat()}, signed by {', '.join(g.signed_by)}"
            )
        elif s.reason is not None:
            lines.append(
                f"grant {owner}: none in force ({s.reason}: {s.detail}); shares with no one"
            )
    return lines
