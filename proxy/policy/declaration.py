"""Written declarations: the text a search carries (``declaration``) and the text a sharing rule
requires (``declaration_required``), e.g. Illinois's "not for immigration or reproductive-health
enforcement" declaration for out-of-state recipients.

Both sides are compared in one form, ``normalize_declaration``: Unicode NFC, then every run of
white space (``str.isspace``: spaces, tabs, line breaks, no-break and the other Unicode spaces)
becomes one ASCII space, and leading and trailing white space goes. Nothing else is forgiven:
case, punctuation and every other character must match exactly, so a declaration is either the
text the owner's counsel approved or it is not one.

Invisible characters (zero-width, format, filler, bidi: ``proxy.policy.text``) are refused in
both, not stripped: a declaration that differs from what it displays could only ever fail to
match, silently withholding reads, and an investigator should be told instead.
"""

from __future__ import annotations

import unicodedata

from proxy.policy.text import has_text, refused_character, strip_invisible

# The longest declaration a search may carry (characters, as sent); a rule's required text must
# fit in it once normalised, or no search could ever match it.
MAX_DECLARATION_CHARS = 2000


def normalize_declaration(text: str) -> str:
    """The form declarations are compared in (module docstring)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def declaration_problem(text: str) -> str | None:
    """Why ``text`` cannot be a declaration (bidi control, filler or other invisible character,
    or no letter or digit), or None."""
    why = refused_character(text)
    if why is not None:
        return why
    visible = strip_invisible(text)
    if visible != text:
        extra = next(ch for ch in text if ch not in visible)
        return f"contains an invisible character (U+{ord(extra):04X})"
    if not has_text(text):
        return "has no letter or digit"
    return None


def required_problem(text: str) -> str | None:
    """Why ``text`` cannot be a rule's ``declaration_required``: what ``declaration_problem``
    refuses, or too long for any search to carry it."""
    problem = declaration_problem(text)
    if problem is None and len(normalize_declaration(text)) > MAX_DECLARATION_CHARS:
        problem = f"is longer than a search's declaration may be ({MAX_DECLARATION_CHARS})"
    return problem
