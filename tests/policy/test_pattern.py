"""Partial-plate patterns: normalisation, and what '*' and '?' match (regex and SQL LIKE)."""

from __future__ import annotations

import fnmatch
import itertools
import random
import re
import sqlite3

import pytest

from proxy.policy.plates import normalize_pattern, pattern_known_chars, pattern_regex
from proxy.store.postgres import pattern_to_like


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7ab*12", "7AB*12"),
        ("7A B-C.1*", "7ABC1*"),  # separators removed, like plates
        ("7AB**12", "7AB*12"),  # a run of stars is one star
        ("***7ABC", "*7ABC"),
        ("7ABC", "7ABC"),  # no wildcard at all is still a pattern
        ("7A?BC", "7A?BC"),
        ("ABCD??????", "ABCD??????"),  # 4 known + 6 '?' = 10, the longest plate
        ("\uff17\uff21\uff22\uff0a\uff11\uff12", "7AB*12"),  # full-width, NFKC
        ("7A\u200bB*12", "7AB*12"),  # zero-width space dropped
    ],
)
def test_normalises(raw: str, expected: str) -> None:
    assert normalize_pattern(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "7AB*",  # 3 known characters
        "7A??",
        "A?B?C",  # '?' is not a known character
        "????",
        "*",
        "",
        "ABCD???????",  # 11 characters at least: no plate is that long
        "7AB%12",  # SQL wildcards are not ours
        "7AB_12",
        "7AB\\12",
        "7AB'12",
        "7\u00c5B*12",  # non-ASCII letter
        "7\u0131BC*",  # dotless i would upper-case to ASCII I
        "[7A]BCD",
    ],
)
def test_rejects(raw: str) -> None:
    assert normalize_pattern(raw) is None


def test_known_chars() -> None:
    assert pattern_known_chars("7A?B*12") == 5
    assert pattern_known_chars("*7ABC") == 4
    assert pattern_known_chars("ABCD??????") == 4


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        (
            "7AB*12",
            ["7AB12", "7ABX12", "7ABXYZ12", "7AB1212"],
            ["7AB1", "X7AB12", "7AB12X", "7A12"],
        ),
        ("7A?CD", ["7ABCD", "7A0CD"], ["7ACD", "7ABBCD", "7ABCDE", "X7ABCD"]),
        ("*ABCD", ["ABCD", "1ABCD", "99ABCD"], ["ABCD1", "ABC"]),
        ("AB*CD*", ["ABCD", "ABXCDY", "ABCDCD"], ["ACBD", "XABCD"]),
        ("ABCD", ["ABCD"], ["ABCDE", "ABC"]),
    ],
)
def test_wildcard_examples(pattern: str, yes: list[str], no: list[str]) -> None:
    rx = pattern_regex(pattern)
    for plate in yes:
        assert rx.fullmatch(plate) and rx.match(plate) and rx.search(plate), plate
    for plate in no:
        # Anchored: not even a substring match counts.
        assert not rx.search(plate), plate


def _plates(alphabet: str, max_len: int) -> list[str]:
    return [
        "".join(p) for n in range(1, max_len + 1) for p in itertools.product(alphabet, repeat=n)
    ]


PATTERNS = ["AB*12", "A?B12", "*AB12*", "A*B*1*2", "??AB12", "AB12", "A?*B?12", "A*1?B2"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_regex_agrees_with_glob_semantics(pattern: str) -> None:
    # fnmatch has exactly the intended meaning of '*' and '?' (and nothing else can appear).
    plates = _plates("AB12", 6)
    expected = {p for p in plates if fnmatch.fnmatchcase(p, pattern)}
    assert expected  # the comparison means something
    assert {p for p in plates if pattern_regex(pattern).fullmatch(p)} == expected


@pytest.mark.parametrize("pattern", PATTERNS)
def test_like_agrees_with_regex(pattern: str) -> None:
    like = pattern_to_like(pattern)
    assert set(like) <= set("AB12%_")
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA case_sensitive_like = ON")
    rng = random.Random(7)
    plates = _plates("AB12", 5) + ["".join(rng.choices("AB12XZ9", k=10)) for _ in range(200)]
    rx = pattern_regex(pattern)
    for plate in plates:
        (matched,) = db.execute("SELECT ? LIKE ?", (plate, like)).fetchone()
        assert bool(matched) == bool(rx.fullmatch(plate)), (plate, like)


def test_like_form() -> None:
    assert pattern_to_like("7AB*12") == "7AB%12"
    assert pattern_to_like("7A?CD*") == "7A_CD%"
    assert pattern_to_like("ABCD") == "ABCD"


@pytest.mark.parametrize("bad", ["7ab*12", "7AB%12", "7AB_12", "7AB", "7AB**12", "AB\\CD", ""])
def test_converters_refuse_unnormalised_input(bad: str) -> None:
    for convert in (pattern_to_like, pattern_regex, pattern_known_chars):
        with pytest.raises(ValueError, match="normalised"):
            convert(bad)


def test_regex_is_a_compiled_pattern() -> None:
    assert isinstance(pattern_regex("ABCD"), re.Pattern)
