"""Prohibited terms cannot be slipped past with look-alikes, marks or punctuation (issue 7)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.policy.plates import normalize_plate
from proxy.policy.terms import compile_terms, find_prohibited_term

TERMS = ["immigration", "ICE", "ERO", "deport", "deportation", "illegal alien"]


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("Locate vehicle for I.C.E. detainer", "ICE"),
        ("locate for i.c.e detainer", "ICE"),
        ("subject to de-port order", "deport"),
        ("D.E.P.O.R.T. proceedings", "deport"),
        ("\uff29\uff23\uff25 hold on subject", "ICE"),  # full-width ICE
        ("I\u200bC\u200dE hold", "ICE"),  # zero-width space and joiner
        ("I\u0301CE hold", "ICE"),  # combining acute accent
        ("I C E hold", "ICE"),  # spelled out
        ("I_C_E hold", "ICE"),
        ("report.ICE follow-up", "ICE"),
        ("illegal-alien tip", "illegal alien"),
        ("illegal\talien tip", "illegal alien"),
        ("e.r.o. request from field office", "ERO"),
        ("Im\u00admigration case", "immigration"),  # soft hyphen is a format character
    ],
)
def test_evasions_are_flagged(text: str, term: str):
    assert find_prohibited_term(text, TERMS) == term


@pytest.mark.parametrize(
    "text",
    [
        "police report of armed robbery",
        "justice department referral",
        "service call, vehicle seen leaving",
        "hero of the day tip line",
        "re-port filed with detectives",
        "nice car, witness statement",
        "a b c robbery, vehicle seen",
    ],
)
def test_ordinary_words_are_not_flagged(text: str):
    assert find_prohibited_term(text, TERMS) is None


@pytest.mark.parametrize(
    ("raw", "plate"),
    [
        ("\uff17\uff21\uff22\uff23\uff11\uff12\uff13", "7ABC123"),  # full-width -> ASCII
        ("7AB\u200bC123", "7ABC123"),  # zero-width removed
        ("7abc 123", "7ABC123"),
        ("7\u0410BC123", None),  # Cyrillic A looks like Latin A: refused, never "corrected"
        ("7ABC12\u0301", None),  # combining mark
        ("7ABC123'; DROP TABLE alpr.reads; --", None),
        ("7ABC\u0131", None),  # dotless i upper-cases to I: refused before upper-casing
    ],
)
def test_plates_after_normalisation_must_be_plain_ascii(raw: str, plate: str | None):
    assert normalize_plate(raw) == plate


# Text built from pieces that exercise every spelling: terms and near-misses, punctuation inside
# and between words, spelled-out letters, underscores, marks, full-width and zero-width chars.
_PIECES = st.sampled_from(
    [
        "ice",
        "ICE",
        "I.C.E.",
        "i c e",
        "I_C_E",
        "police",
        "justice",
        "de-port",
        "deport",
        "deportation",
        "illegal",
        "alien",
        "illegal-alien",
        "ero",
        "hero",
        "e.r.o",
        "im",
        "migration",
        "\uff29\uff23\uff25",
        "I\u200bCE",
        "I\u0301CE",
        "_",
        "-",
        ".",
        " ",
        "  ",
        "\t",
        "1/14",
        "x",
        "a b",
        "case 26-004211",
        "homicide,",
        "witness",
        "\u00ad",
    ]
)


@given(st.lists(_PIECES, max_size=12).map("".join))
@settings(max_examples=400, deadline=None)
def test_the_substring_prefilter_never_changes_the_answer(text: str):
    fast = compile_terms(TERMS)
    assert fast._alnum_firsts  # the prefilter is in use for these terms
    full = dataclasses.replace(fast, _alnum_firsts=())
    assert fast.find(text) == full.find(text)
