"""grant_keys and grant_quorum on [[agencies]] (SPEC §11), and the lint warning for operator
rules that a grant owner's keys make void."""

from __future__ import annotations

from datetime import date

import pytest

from proxy.policy import PolicyError, lint, parse_policy
from tests.grants.grant_env import UNION, policy_text
from tests.grants.note_ref import RefKey

A, B = RefKey("a.example/grants"), RefKey("b.example/grants")


def test_keys_and_quorum_are_parsed() -> None:
    policy = parse_policy(policy_text([A, B], 2).encode())
    assert policy.agencies[UNION].grant_keys == (A.vkey, B.vkey)
    assert policy.agencies[UNION].grant_quorum == 2
    assert parse_policy(policy_text([A]).encode()).agencies[UNION].grant_quorum == 1
    assert parse_policy(policy_text([]).encode()).agencies[UNION].grant_keys == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (policy_text([A], 2), "exceeds the 1 distinct keys"),
        (policy_text([A], 0), "must be an integer >= 1"),
        (policy_text([], 1), "has no effect without grant_keys"),
        (policy_text([A, A]), "lists a key twice"),
        (policy_text([A]).replace(A.vkey, A.vkey[:-4] + "AAA="), "not an Ed25519"),
        (policy_text([A]).replace(A.vkey, ""), "not an Ed25519"),
    ],
)
def test_bad_keys_are_errors(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as e:
        parse_policy(text.encode())
    assert message in str(e.value)


def test_operator_rules_for_a_grant_owner_are_flagged_as_ignored() -> None:
    codes = [w.code for w in lint(parse_policy(policy_text([A]).encode()), date(2026, 1, 1))]
    assert codes == ["ignored_for_grant_owner"]
    assert "ignored_for_grant_owner" not in [
        w.code for w in lint(parse_policy(policy_text([]).encode()), date(2026, 1, 1))
    ]
