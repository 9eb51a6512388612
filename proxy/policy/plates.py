"""Plates and partial-plate patterns, normalised (SPEC §6); text is first normalised as
proxy.policy.text does (NFKC, no format characters).

Plates (SPEC §6): after that, spaces, '-' and '.' are removed; what is left must be 1-10 ASCII
letters or digits, returned upper-cased. ASCII is checked *before* upper-casing, because
``str.upper`` turns some non-ASCII letters into ASCII ones (dotless i, U+0131, becomes "I").

Partial-plate patterns: the same, but '*' (any run, possibly empty) and '?' (exactly one
character) are kept. Runs of '*' collapse to one. A pattern needs at least 4 known characters,
and known characters plus '?' must fit in a plate (at most 10), otherwise no plate could match.
"""

from __future__ import annotations

import re

from proxy.policy.text import strip_format

MAX_PLATE_LEN = 10
MIN_PATTERN_KNOWN = 4

_PLATE_RE = re.compile(rf"[A-Za-z0-9]{{1,{MAX_PLATE_LEN}}}")
_PATTERN_RE = re.compile(r"[A-Za-z0-9*?]+")
_SEPARATORS = str.maketrans("", "", " -.")
_STAR_RUN = re.compile(r"\*{2,}")


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
