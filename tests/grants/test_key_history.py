"""Owners' key changes derived from consecutive policy_loaded entries: each load below is what
the proxy records (the policy text and apply_grants' statuses, chained through the record), so
the derivation is tested on the real grants section, not on a hand-written one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from proxy.grants import OwnerRecord
from proxy.grants.key_history import key_changes, key_label, policy_keys
from tests.grants.grant_env import ISSUED, NOW, UNION, effective, keys_text, make_policy
from tests.grants.grant_env import policy_text as grant_policy_text
from tests.grants.note_ref import RefKey, note

CHIEF, CLERK, OPERATOR = (RefKey(n) for n in ("union/chief", "union/clerk", "operator/own"))
Load = tuple[list[RefKey], dict[str, bytes]] | tuple[list[RefKey], dict[str, bytes], int]


def entries(*loads: Load) -> list[tuple[int, dict[str, Any]]]:
    """The policy_loaded entries of these loads, one after the other on the same log."""
    out: list[tuple[int, dict[str, Any]]] = []
    record: dict[str, OwnerRecord] = {}
    for n, (keys, files, *quorum) in enumerate(loads):
        eff = effective(make_policy(keys, *quorum), files, record)
        record = {o: s.record for o, s in eff.statuses.items()}
        time = (NOW + timedelta(hours=n)).isoformat()
        text = grant_policy_text(keys, *quorum)
        body = {"time": time, "policy": text, "grants": eff.to_json()}
        out.append((10 + n, body))
    return out


def summary(loads: list[tuple[int, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    return [
        (c.index, c.owner, c.change, c.before, c.after, c.outcome, c.authorised)
        for c in key_changes(loads)
    ]


def test_an_operators_key_swap_is_refused_and_a_swap_back_restores() -> None:
    got = summary(entries(([CHIEF], {}), ([CHIEF], {}), ([OPERATOR], {}), ([CHIEF], {})))
    assert got == [
        (10, UNION, "added", (), (CHIEF.vkey,), "registered", False),
        (12, UNION, "replaced", (CHIEF.vkey,), (OPERATOR.vkey,), "refused", False),
        (13, UNION, "replaced", (OPERATOR.vkey,), (CHIEF.vkey,), "restored", False),
    ]


def test_removing_the_keys_without_the_owners_note_is_refused() -> None:
    got = summary(entries(([CHIEF], {}), ([], {})))
    assert got[1] == (11, UNION, "removed", (CHIEF.vkey,), (), "refused", False)


def test_a_key_change_signed_by_the_keys_on_record_is_authorised() -> None:
    later = ISSUED + timedelta(hours=1)
    moved = {f"{UNION}.keys": note(keys_text([CLERK], 1, later), CHIEF)}
    released = {f"{UNION}.keys": note(keys_text([], 0, later), CHIEF)}
    assert summary(entries(([CHIEF], {}), ([CLERK], moved)))[1][5:] == ("authorised", True)
    assert summary(entries(([CHIEF], {}), ([], released)))[1][2:] == (
        "removed", (CHIEF.vkey,), (), "authorised", True,
    )  # fmt: skip
    # The same release signed by the key the operator puts in: not the owner's consent.
    forged = {f"{UNION}.keys": note(keys_text([CLERK], 1, later), CLERK)}
    assert summary(entries(([CHIEF], {}), ([CLERK], forged)))[1][5] == "refused"


def test_a_quorum_change_is_a_change_and_an_unchanged_load_is_not() -> None:
    both = [CHIEF, CLERK]
    loads = entries((both, {}), (both, {}), (both, {}, 2))
    assert [(c.index, c.change) for c in key_changes(loads)] == [(10, "added"), (12, "replaced")]
    change = key_changes(loads)[1]
    assert (change.before_quorum, change.after_quorum, change.outcome) == (1, 2, "refused")


def test_policy_keys_and_labels() -> None:
    text = grant_policy_text([CHIEF], quorum=1)
    assert policy_keys({"policy": text}) == {UNION: ((CHIEF.vkey,), 1)}
    assert policy_keys({"policy": "not toml ["}) == {}
    assert policy_keys({}) == {}
    assert key_label(CHIEF.vkey) == f"union/chief+{CHIEF.hash8}"
