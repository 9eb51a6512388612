"""Prohibited terms (SPEC §6: "whole word, any case"): text and terms are compared after
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from proxy.policy.text import fold, folds, spellings

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
