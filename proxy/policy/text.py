"""Text normalisation shared by request parsing and policy checks.

Everything goes through NFKC first and loses Unicode format characters (category Cf: zero-width
space/joiner, soft hyphen, bidi marks...), so look-alike spellings such as full-width ICE
(U+FF29 U+FF23 U+FF25) or I<U+200B>CE are treated as the plain ASCII they display as.

Plates (SPEC §6): after that, spaces, '-' and '.' are removed; what is left must be 1-10 ASCII
letters or digits, returned upper-cased. ASCII is checked *before* upper-casing, because
``str.upper`` turns some non-ASCII letters into ASCII ones (dotless i, U+0131, becomes "I").

Partial-plate patterns: the same, but '*' (any run, possibly empty) and '?' (exactly one
character) are kept. Runs of '*' collapse to one. A pattern needs at least 4 known characters,
and known characters plus '?' must fit in a plate (at most 10), otherwise no plate could match.

Prohibited terms (SPEC §6: "whole word, any case"): text and terms are compared after
NFKC + casefold. A term matches only when not preceded or followed by a word character, so
"ICE" does not match "police", "justice" or "service" but does match "ICE", "ice" and
"ICE-related". That also means "ice" in "ice cream" is flagged: whole-word any-case is the
contract, and the term list is the operator's to choose. Words of a multi-word term match with
any run of whitespace between them. Evasions are folded away before matching (see
``spellings``): combining marks, punctuation inside a word ("I.C.E.", "de-port"), punctuation
between words ("illegal-alien") and letters spelled out one by one ("I C E").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from proxy.policy.skeleton import ascii_forms, look_alike_forms

MAX_PLATE_LEN = 10
MIN_PATTERN_KNOWN = 4

_PLATE_RE = re.compile(rf"[A-Za-z0-9]{{1,{MAX_PLATE_LEN}}}")
_PATTERN_RE = re.compile(r"[A-Za-z0-9*?]+")
_SEPARATORS = str.maketrans("", "", " -.")
_STAR_RUN = re.compile(r"\*{2,}")


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


def normalize_plate(raw: str) -> str | None:
    s = strip_format(raw).translate(_SEPARATORS)
    if not _PLATE_RE.fullmatch(s):
        return None
    return s.upper()


def normalize_pattern(raw: str) -> str | None:
    s = _STAR_RUN.sub("*", strip_format(raw).translate(_SEPARATORS))
    if not _PATTERN_RE.fullmatch(s):
        return None
    known = sum(1 for ch in s if ch not in "*?")
    if known < MIN_PATTERN_KNOWN or known + s.count("?") > MAX_PLATE_LEN:
        return None
    return s.upper()


_NORMAL_PATTERN = re.compile(r"[A-Z0-9*?]+")


def checked_pattern(pattern: str) -> str:
    # The converters below emit SQL and regex syntax, so they accept only what
    # normalize_pattern produces; anything else is a caller bug, not a search.
    if not _NORMAL_PATTERN.fullmatch(pattern) or normalize_pattern(pattern) != pattern:
        raise ValueError(f"not a normalised partial-plate pattern: {pattern!r}")
    return pattern


def pattern_known_chars(pattern: str) -> int:
    """How many characters of a normalised pattern are not wildcards."""
    return sum(1 for ch in checked_pattern(pattern) if ch not in "*?")


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A regex matching exactly the normalised plates the pattern (and its LIKE form) matches."""
    parts = {"*": "[A-Z0-9]*", "?": "[A-Z0-9]"}
    body = "".join(parts.get(ch, ch) for ch in checked_pattern(pattern))
    return re.compile(rf"\A{body}\Z")


_WORD = re.compile(r"\w+")
# \w minus "_": what _PUNCT leaves of a word. Folded text can hold non-ASCII letters and digits.
_NON_ALNUM = re.compile(r"[\W_]+")
_ALNUM = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class TermMatcher:
    """Prohibited terms as word sequences; build once per policy.

    Whole-word matching is done on word tokens (runs of \\w) rather than with one regex of
    alternatives: a dictionary lookup per word is several times faster on the request path, and
    "whole word" means exactly "a run of tokens"."""

    terms: tuple[str, ...]
    # First folded word of a term -> (all its folded words, its position in `terms`) for each
    # term starting with that word: one dict lookup per word of the text, most of them misses.
    _by_first: dict[str, tuple[tuple[tuple[str, ...], int], ...]]
    # The first words again, when all are letters and digits only (else empty: no prefilter).
    _alnum_firsts: tuple[str, ...] = ()
    # The same first words as one alternation: one C-level scan instead of one `in` per word.
    _firsts_re: re.Pattern[str] | None = None

    def find(self, text: str) -> str | None:
        """The first prohibited term (as configured) occurring in ``text``, or None."""
        by_first = self._by_first
        if not by_first:
            return None
        firsts = self._firsts_re
        if firsts is not None:
            # Every word of every spelling is a run of the text's letters and digits in order,
            # so a first word that is not a substring of them all run together cannot match:
            # most justifications are cleared here, without building the four spellings.
            squeezed = "\n".join(_NON_ALNUM.sub("", f) for f in folds(text))
            if firsts.search(squeezed) is None:
                return None
        for spelling in dict.fromkeys(spellings(text)):  # identical spellings checked once
            words = _WORD.findall(spelling)
            if by_first.keys().isdisjoint(words):
                continue
            for i, word in enumerate(words):
                for term_words_, position in by_first.get(word, ()):
                    if (
                        len(term_words_) == 1
                        or tuple(words[i : i + len(term_words_)]) == term_words_
                    ):
                        return self.terms[position]
        return None


def term_words(term: str) -> tuple[str, ...]:
    """The folded words of a term (its ``casefold → skeleton`` form); empty when the term folds
    to nothing."""
    return tuple(_WORD.findall(fold(term)))


def compile_terms(terms: Iterable[str]) -> TermMatcher:
    kept: list[str] = []
    seen: set[tuple[tuple[str, ...], ...]] = set()
    by_first: dict[str, list[tuple[tuple[str, ...], int]]] = {}
    for term in terms:
        # Every look-alike form of the term is matched against every form of the text.
        forms = tuple(dict.fromkeys(tuple(_WORD.findall(f)) for f in folds(term)))
        if not forms[0] or forms in seen:
            continue
        seen.add(forms)
        for words in forms:
            by_first.setdefault(words[0], []).append((words, len(kept)))
        kept.append(term)
    alnum = bool(by_first) and all(_ALNUM.fullmatch(first) for first in by_first)
    firsts = tuple(by_first) if alnum else ()
    return TermMatcher(
        tuple(kept),
        {w: tuple(c) for w, c in by_first.items()},
        firsts,
        re.compile("|".join(map(re.escape, firsts))) if firsts else None,
    )


@lru_cache(maxsize=16)
def _cached(terms: tuple[str, ...]) -> TermMatcher:
    return compile_terms(terms)


def find_prohibited_term(text: str, terms: Sequence[str]) -> str | None:
    """Convenience form; prefer ``Policy.terms.find`` which is compiled once per policy."""
    return _cached(tuple(terms)).find(text)
