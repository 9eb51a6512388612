"""What changed in the owners' grants between two loads, for the ``grants`` section of a
``policy_loaded`` diff and ``alpr-proxy policy diff``: per owner whose state changed, the
before and after of its keys, quorum, the grant in force (its SHA-256) and the reason none is.
The rules a new grant adds or widens show in the diff's ``sharing`` section like any rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_FIELDS = ("keys", "quorum", "reason")


def _summary(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if status is None:
        return None
    in_force = status.get("in_force")
    out = {k: status.get(k) for k in _FIELDS}
    out["in_force"] = None if in_force is None else in_force.get("sha256")
    if in_force is not None:
        out["issued"], out["expires"] = in_force.get("issued"), in_force.get("expires")
    return out


def grant_changes(
    old: Mapping[str, Mapping[str, Any]] | None, new: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Both sides in the ``policy_loaded`` form (``Effective.to_json()``); ``old`` None for a
    first load or an entry older than grants."""
    before = old or {}
    out: dict[str, dict[str, Any]] = {}
    for owner in sorted(set(before) | set(new)):
        b, a = _summary(before.get(owner)), _summary(new.get(owner))
        if b != a:
            out[owner] = {"before": b, "after": a}
    return out
