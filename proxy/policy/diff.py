"""What changed between two policies, as a compact JSON-ready summary for ``policy_loaded``.

``diff(old, new)`` returns plain dicts, lists, strings, numbers, booleans and None (dates as ISO
strings), always in the same order for the same inputs. Keys:

* ``from`` / ``to``: the two versions (``from`` is None for the first load).
* ``initial``: only when ``old`` is None: counts of each section. The version hash already pins
  the exact file, and a first load has no "before" to be quiet about, so nothing is listed.
* ``settings``: ``{field: {"before", "after"}}`` for each changed setting.
* ``agencies`` / ``purposes``: ``added`` and ``removed`` (ORIs / codes) and ``changed``
  (``{"ori" | "code", "fields": {field: {"before", "after"}}}``).
* ``sharing``: rules have no names, so identical rules (same owner and fields) are matched first
  wherever they moved; the rest are paired per owner in file order and reported as ``changed``
  with ``before``/``after`` of each differing field and ``widened``, the fields whose change
  admits more (a quietly widened rule stands out); unpaired ones are ``added`` / ``removed``
  in full. An added rule admits recipients nobody admitted before, so it is a widening too: its
  ``widened`` lists the fields through which it admits someone (``to_kinds``, ``to_agencies``,
  ``purposes``). Each names its index in the old and/or new [[sharing]] list.
* ``sensitive_locations``: matched like rules, but paired by name; ``added`` / ``removed`` list
  names, ``changed`` the differing fields.
* ``retention``: ``changed`` (``{"ori", "before", "after"}``: the effective retention in days,
  ``proxy.policy.retention``, of each owner with a retention of its own in either policy whose
  effective retention changed) and ``lengthened`` (the ORIs whose reads are now served longer:
  a widening). A change of ``settings.retention_days`` alone is in ``settings``.

Sections without changes are left out, so an unchanged reload gives ``{"from", "to"}`` alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Any, TypeVar

from proxy.policy.geo import SensitiveLocation
from proxy.policy.model import ALL_PURPOSES, Policy, SharingRule
from proxy.policy.retention import retention_days

H = TypeVar("H", bound=Hashable)
Json = dict[str, Any]


def plain(value: object) -> Any:
    """A JSON-ready, deterministic form of a policy value."""
    if isinstance(value, frozenset | set):
        return sorted(plain(v) for v in value)
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def record(obj: Any) -> Json:
    """A dataclass as a plain dict (field order kept)."""
    return {k: plain(v) for k, v in asdict(obj).items()}


def _changes(before: Json, after: Json) -> Json:
    """The differing fields; a field only one side records counts as null on the other."""
    keys = {**before, **after}
    return {
        k: {"before": before.get(k), "after": after.get(k)}
        for k in keys
        if before.get(k) != after.get(k)
    }


def rule_record(rule: SharingRule) -> Json:
    """A sharing rule as recorded; ``declaration_required`` only when set, so the records of
    rules without one are what they were before the key existed."""
    out = record(rule)
    if out["declaration_required"] is None:
        del out["declaration_required"]
    return out


def _keyed(
    old: Mapping[str, Any], new: Mapping[str, Any], key: str
) -> Json:  # agencies by ORI, purposes by code
    changed = []
    for k in sorted(old.keys() & new.keys()):
        delta = _changes(record(old[k]), record(new[k]))
        if delta:
            changed.append({key: k, "fields": delta})
    out: Json = {
        "added": sorted(new.keys() - old.keys()),
        "removed": sorted(old.keys() - new.keys()),
        "changed": changed,
    }
    return {k: v for k, v in out.items() if v}


def _match(
    old: Sequence[H], new: Sequence[H], group: Callable[[H], str]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs (old index, new index) of changed items, then unmatched old and new indices."""
    same: dict[H, list[int]] = defaultdict(list)
    for i, item in enumerate(old):
        same[item].append(i)
    matched: set[int] = set()
    rest: list[int] = []
    for j, item in enumerate(new):  # identical items are unchanged, wherever they moved
        if same[item]:
            matched.add(same[item].pop(0))
        else:
            rest.append(j)
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(old):
        if i not in matched:
            by_group[group(item)].append(i)
    pairs: list[tuple[int, int]] = []
    added: list[int] = []
    for j in rest:  # then pair by group (owner / name), in file order
        queue = by_group[group(new[j])]
        if queue:
            pairs.append((queue.pop(0), j))
        else:
            added.append(j)
    removed = sorted(i for q in by_group.values() for i in q)
    return pairs, removed, added


def _widened(before: SharingRule, after: SharingRule) -> list[str]:
    """Fields of a changed rule whose new value can admit someone the old one did not."""
    out = []
    for name in ("to_kinds", "to_agencies", "purposes"):
        old_v, new_v = getattr(before, name), getattr(after, name)
        if not new_v <= old_v and not (name == "purposes" and ALL_PURPOSES in old_v):
            out.append(name)
    # Fewer states narrows, except that dropping all of them lifts the restriction.
    if (before.to_states and not after.to_states) or (
        after.to_states and not after.to_states <= before.to_states
    ):
        out.append("to_states")
    if before.exclude_immigration_enforcement and not after.exclude_immigration_enforcement:
        out.append("exclude_immigration_enforcement")
    if before.expires is not None and (after.expires is None or after.expires > before.expires):
        out.append("expires")
    # Dropping a required declaration admits searches without one; a new text admits those
    # carrying it, who were not admitted before.
    required = before.declaration_required
    if required is not None and after.declaration_required != required:
        out.append("declaration_required")
    return sorted(out)


def _admits(rule: SharingRule) -> list[str]:
    """Fields of a new rule that admit someone: every new recipient is a widening."""
    return sorted(name for name in ("to_kinds", "to_agencies", "purposes") if getattr(rule, name))


def _sharing(old: Sequence[SharingRule], new: Sequence[SharingRule]) -> Json:
    pairs, removed, added = _match(old, new, lambda r: r.owner)
    changed = []
    for i, j in sorted(pairs, key=lambda p: (new[p[1]].owner, p[1])):
        entry: Json = {"owner": new[j].owner, "old_index": i, "new_index": j}
        entry["fields"] = _changes(rule_record(old[i]), rule_record(new[j]))
        entry["widened"] = _widened(old[i], new[j])
        changed.append(entry)
    out: Json = {
        "added": [
            {"new_index": j, "rule": rule_record(new[j]), "widened": _admits(new[j])} for j in added
        ],
        "removed": [{"old_index": i, "rule": rule_record(old[i])} for i in removed],
        "changed": changed,
    }
    return {k: v for k, v in out.items() if v}


def _locations(old: Sequence[SensitiveLocation], new: Sequence[SensitiveLocation]) -> Json:
    pairs, removed, added = _match(old, new, lambda loc: loc.name)
    changed = [
        {"name": new[j].name, "fields": _changes(record(old[i]), record(new[j]))}
        for i, j in sorted(pairs, key=lambda p: (new[p[1]].name, p[1]))
    ]
    out: Json = {
        "added": sorted(new[j].name for j in added),
        "removed": sorted(old[i].name for i in removed),
        "changed": changed,
    }
    return {k: v for k, v in out.items() if v}


def _retention(old: Policy, new: Policy) -> Json:
    owners = sorted(set(old.owner_retention_days) | set(new.owner_retention_days))
    days = {o: (retention_days(old, o), retention_days(new, o)) for o in owners}
    out: Json = {
        "changed": [{"ori": o, "before": b, "after": a} for o, (b, a) in days.items() if b != a],
        "lengthened": [o for o, (b, a) in days.items() if a > b],
    }
    return {k: v for k, v in out.items() if v}


def _counts(policy: Policy) -> Json:
    return {
        "agencies": len(policy.agencies),
        "purposes": len(policy.purposes),
        "sharing": len(policy.sharing),
        "sensitive_locations": len(policy.sensitive_locations),
    }


def diff(old: Policy | None, new: Policy) -> Json:
    """The summary described in the module docstring."""
    if old is None:
        return {"from": None, "to": new.version, "initial": _counts(new)}
    sections: Iterable[tuple[str, Json]] = (
        ("settings", _changes(record(old.settings), record(new.settings))),
        ("agencies", _keyed(old.agencies, new.agencies, "ori")),
        ("purposes", _keyed(old.purposes, new.purposes, "code")),
        ("sharing", _sharing(old.sharing, new.sharing)),
        ("sensitive_locations", _locations(old.sensitive_locations, new.sensitive_locations)),
        ("retention", _retention(old, new)),
    )
    out: Json = {"from": old.version, "to": new.version}
    out.update((name, section) for name, section in sections if section)
    return out
