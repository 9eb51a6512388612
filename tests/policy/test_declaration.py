"""Sharing rules that require a written declaration (``declaration_required``): validation,
the one normal form both sides are compared in, and what diff and explain say of them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from proxy.policy import Disclosure, PolicyError, admits, diff, explain, parse_policy
from proxy.policy.declaration import normalize_declaration
from proxy.policy.explain import render
from tests.policy_text import OAKLAND, RENO, SETTINGS

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
OAK, RENO_ORI = "CA0010900", "NV0160100"
TEXT = "We declare this search is not for immigration or reproductive-health enforcement."


def policy_with(required: str | None, *, extra: str = "") -> str:
    rule = f"""
[[sharing]]
owner = "{OAK}"
to_kinds = ["local"]
purposes = ["HOMICIDE"]
expires = 2027-06-30
{extra}"""
    if required is not None:
        rule += f"declaration_required = {required}\n"
    purpose = '\n[[purposes]]\ncode = "HOMICIDE"\nmax_lookback_days = 30\n'
    return SETTINGS + OAKLAND + RENO + purpose + rule


def shares(text: str, declaration: str | None) -> bool:
    policy = parse_policy(text.encode())
    d = Disclosure.build(policy, (RENO_ORI,), policy.purposes["HOMICIDE"], NOW, declaration)
    return d.shares(OAK)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("We  declare\tthis\n search ", "We declare this search"),
        ("We\u00a0declare\u2003this\u3000search", "We declare this search"),  # Unicode spaces
        ("Cafe\u0301 declared", "Caf\u00e9 declared"),  # NFC: decomposed = composed
    ],
)
def test_declarations_compare_after_nfc_and_white_space(a: str, b: str) -> None:
    assert normalize_declaration(a) == normalize_declaration(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("We declare this search", "we declare this search"),  # case counts
        ("We declare this search.", "We declare this search"),  # punctuation counts
        ("\uff37e declare", "We declare"),  # no NFKC: a full-width letter is another letter
    ],
)
def test_nothing_else_is_forgiven(a: str, b: str) -> None:
    assert normalize_declaration(a) != normalize_declaration(b)


def test_a_rule_with_a_declaration_admits_only_searches_that_carry_it() -> None:
    text = policy_with(f'"""\n{TEXT}\n"""')
    assert shares(text, TEXT) is True
    assert shares(text, "  " + TEXT.replace(" ", "\n  ", 3)) is True
    assert shares(text, None) is False
    assert shares(text, TEXT.replace("not ", "")) is False
    assert shares(text, TEXT.upper()) is False
    # Without the key the same rule admits Reno whatever the search carries.
    assert shares(policy_with(None), None) is True
    assert shares(policy_with(None), "anything at all") is True


def test_admits_takes_the_normalised_declaration() -> None:
    policy = parse_policy(policy_with(f'"{TEXT}"').encode())
    today = date(2026, 3, 1)
    assert admits(policy, OAK, RENO_ORI, "HOMICIDE", today) is None
    rule = admits(policy, OAK, RENO_ORI, "HOMICIDE", today, normalize_declaration(TEXT))
    assert rule is not None and rule.declaration_required == TEXT


def test_the_memo_keeps_only_declarations_the_policy_requires() -> None:
    policy = parse_policy(policy_with(f'"{TEXT}"').encode())
    purpose = policy.purposes["HOMICIDE"]
    for text in (TEXT, "some other text", None):
        Disclosure.build(policy, (RENO_ORI,), purpose, NOW, text).shares(OAK)
    assert {key[-1] for key in policy.sharing_memo} == {TEXT, None}
    assert policy.required_declarations == frozenset({TEXT})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('""', "must be a non-empty string"),
        ("42", "must be a non-empty string"),
        ('"We de\\u200bclare"', "contains an invisible character (U+200B)"),
        ('"We \\u202edeclare"', "contains a bidirectional control character (U+202E)"),
        ('"..."', "has no letter or digit"),
        (f'"{"x" * 2001}"', "is longer than a search's declaration may be (2000)"),
    ],
)
def test_a_bad_required_declaration_is_a_policy_error(value: str, message: str) -> None:
    with pytest.raises(PolicyError) as e:
        parse_policy(policy_with(value).encode())
    assert [(err.path, err.message) for err in e.value.errors] == [
        ("sharing[0].declaration_required", message)
    ]


def test_diff_reports_a_dropped_or_changed_declaration_as_widening() -> None:
    old = parse_policy(policy_with(f'"{TEXT}"').encode())

    def change(required: str | None) -> dict[str, object]:
        (changed,) = diff(old, parse_policy(policy_with(required).encode()))["sharing"]["changed"]
        return dict(changed)

    dropped = change(None)
    assert dropped["fields"] == {"declaration_required": {"before": TEXT, "after": None}}
    assert dropped["widened"] == ["declaration_required"]
    assert change('"Another text entirely, also declared."')["widened"] == ["declaration_required"]
    # Adding one narrows: reported, not widened.
    added = diff(parse_policy(policy_with(None).encode()), old)["sharing"]["changed"][0]
    assert added["fields"] == {"declaration_required": {"before": None, "after": TEXT}}
    assert added["widened"] == []


def test_rules_without_a_declaration_are_recorded_as_before() -> None:
    """The key is in a rule's record only when set, so existing records keep their shape."""
    bare = parse_policy(policy_with(None).split("[[sharing]]")[0].encode())

    def added_rule(required: str | None) -> dict[str, object]:
        (added,) = diff(bare, parse_policy(policy_with(required).encode()))["sharing"]["added"]
        return dict(added["rule"])

    assert "declaration_required" not in added_rule(None)
    assert added_rule(f'"{TEXT}"')["declaration_required"] == TEXT


def test_explain_marks_admission_that_needs_the_declaration() -> None:
    policy = parse_policy(policy_with(f'"{TEXT}"').encode())
    e = explain(policy, RENO_ORI, None, "HOMICIDE", date(2026, 3, 1))
    (oak,) = [o for o in e.owners if o.owner.ori == OAK]
    assert oak.recipients[0].declaration is True
    out = render(e)
    assert "sharing[0]*" in out
    assert "* only for a search carrying that rule's declaration_required text" in out
    plain = parse_policy(policy_with(None).encode())
    assert "*" not in render(explain(plain, RENO_ORI, None, "HOMICIDE", date(2026, 3, 1)))


def test_explain_prefers_a_rule_that_needs_no_declaration() -> None:
    """The same recipient admitted by a declaration rule and, later, by a plain one: a search
    without the declaration is served by the plain rule, and explain says so."""
    later = f"""
[[sharing]]
owner = "{OAK}"
to_agencies = ["{RENO_ORI}"]
purposes = ["HOMICIDE"]
"""
    policy = parse_policy((policy_with(f'"{TEXT}"') + later).encode())
    e = explain(policy, RENO_ORI, None, "HOMICIDE", date(2026, 3, 1))
    (oak,) = [o for o in e.owners if o.owner.ori == OAK]
    assert (oak.recipients[0].via, oak.recipients[0].declaration) == ("sharing[1]", False)
