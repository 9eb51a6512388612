"""Text normalisation shared by request parsing and policy checks.

Everything goes through NFKC first and loses Unicode format characters (category Cf: zero-width
space/joiner, soft hyphen, bidi marks...), so look-alike spellings such as full-width ICE
(U+FF29 U+FF23 U+FF25) or I<U+200B>CE are treated as the plain ASCII they display as.

Plates and patterns are proxy.policy.plates; prohibited terms, proxy.policy.terms.
"""

from __future__ import annotations

import re
import unicodedata

from proxy.policy.skeleton import ascii_forms, look_alike_forms

# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties.txt): characters that render as
# nothing. With the Braille blank (a symbol drawn as an empty cell) they are dropped before
# matching and do not count as text.
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x2800, 0x2800),
    (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
_INVISIBLE = re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in _IGNORABLE_RANGES) + "]")
# Refused outright in request text (SPEC §6 invalid_request): they reorder what a report
# displays (U+202E "ECI" shows as "ICE") or are blank "letters" that pad or split words.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5")
_REFUSED = re.compile("[" + "".join(sorted(BIDI_CONTROLS | FILLERS)) + "]")


def strip_invisible(text: str) -> str:
    """``text`` without format characters (zero-width and friends) and the other invisible
    ones (Hangul fillers, Braille blank, variation selectors...)."""
    if text.isascii():
        return text  # hot path: ASCII has no format or invisible characters
    text = _INVISIBLE.sub("", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def strip_format(text: str) -> str:
    """NFKC, then ``strip_invisible``."""
    if text.isascii():
        return text  # hot path: ASCII is NFKC-stable
    return strip_invisible(unicodedata.normalize("NFKC", text))


def refused_character(text: str) -> str | None:
    """Why ``text`` may not be sent at all (a bidi control or a filler), or None."""
    if text.isascii():
        return None
    m = _REFUSED.search(text)
    if m is None:
        return None
    kind = "a bidirectional control" if m.group() in BIDI_CONTROLS else "a blank filler"
    return f"contains {kind} character (U+{ord(m.group()):04X})"


def has_text(text: str | None) -> bool:
    """Whether ``text`` holds a letter or digit once invisible characters are removed (a
    Hangul filler is a "letter" to Unicode, so it is removed first)."""
    if not text:
        return False
    if text.isascii():
        return any(ch.isalnum() for ch in text)
    return any(ch.isalnum() for ch in strip_format(text))


def folds(text: str) -> tuple[str, ...]:
    """The caseless look-alike forms used for term matching (``proxy.policy.skeleton``): no
    invisible characters, no combining marks (so "ÍCE" written with U+0301 is "ice"),
    confusables mapped to their TS #39 prototypes, case-folded; one form when both agree."""
    if text.isascii():
        lower, upper = ascii_forms(text)  # two str.translate calls: no per-character Python
    else:
        lower, upper = look_alike_forms(strip_invisible(text))
    return (lower,) if lower == upper else (lower, upper)


def fold(text: str) -> str:
    """The first of ``folds``: the ``casefold → skeleton`` form."""
    return folds(text)[0]


_PUNCT = re.compile(r"(?:[^\w\s]|_)+")


def _join_single_letters(text: str) -> str:
    """'i c e' -> 'ice': letters spelled out one by one are one word."""
    out: list[str] = []
    run = ""
    for token in text.split():
        if len(token) == 1:
            run += token
            continue
        if run:
            out.append(run)
            run = ""
        out.append(token)
    if run:
        out.append(run)
    return " ".join(out)


def spellings(text: str) -> tuple[str, ...]:
    """The ways a justification may spell a term, all checked: as written; with punctuation as
    word breaks ("illegal-alien"); with punctuation inside words dropped ("I.C.E.", "de-port");
    and with letters spelled out one by one joined ("I C E")."""
    out: list[str] = []
    for folded in folds(text):
        spaced = _PUNCT.sub(" ", folded)
        out += (folded, spaced, _PUNCT.sub("", folded), _join_single_letters(spaced))
    return tuple(out)


def visible_length(text: str) -> int:
    """Length ignoring format characters and surrounding whitespace (no zero-width padding)."""
    return len(strip_format(text).strip())
