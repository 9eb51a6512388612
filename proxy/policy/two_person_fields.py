"""The policy fields of two people for the risky searches (SPEC §12), read for ``document``.

``[settings]``: ``home_state`` (two letters; no default, required only when a purpose lists
``out_of_state_recipient``), ``approval_valid_hours`` (default 24), ``exigent_review_hours``
(72) and ``exigent_per_user_per_day`` (3), each an integer >= 1. Per purpose:
``approval_required`` (default ``[]``: a search type or a recipient condition) and ``exigent``
(default false); both on one purpose is an error, because "run at once" and "wait for a second
person" cannot both hold.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Any

from proxy.policy._reader import Reader

FEDERAL_RECIPIENT = "federal_recipient"
OUT_OF_STATE_RECIPIENT = "out_of_state_recipient"
RECIPIENT_CONDITIONS: frozenset[str] = frozenset({FEDERAL_RECIPIENT, OUT_OF_STATE_RECIPIENT})
DEFAULT_APPROVAL_VALID_HOURS = 24
DEFAULT_EXIGENT_REVIEW_HOURS = 72
DEFAULT_EXIGENT_PER_USER_PER_DAY = 3
_COUNTS = {
    "approval_valid_hours": DEFAULT_APPROVAL_VALID_HOURS,
    "exigent_review_hours": DEFAULT_EXIGENT_REVIEW_HOURS,
    "exigent_per_user_per_day": DEFAULT_EXIGENT_PER_USER_PER_DAY,
}
_STATE = re.compile(r"[A-Z]{2}")


def settings_fields(r: Reader, t: dict[str, Any]) -> dict[str, Any]:
    """The ``Settings`` keyword arguments of these fields."""
    home = r.text(
        t, "settings", "home_state", required=False, regex=_STATE, hint="a two-letter state code"
    )
    # A bad value records its error; the default only stands in until parse_policy raises.
    counts = {k: (r.integer(t, "settings", k) or d) if k in t else d for k, d in _COUNTS.items()}
    return {"home_state": home or None, **counts}


def purpose_fields(
    r: Reader, t: dict[str, Any], p: str, conditions: Collection[str]
) -> tuple[frozenset[str], bool]:
    """A purpose's ``approval_required`` (items from ``conditions``) and ``exigent``."""
    listed = r.strings(
        t,
        p,
        "approval_required",
        lambda v: None if v in conditions else f"{v!r} is not an approval condition",
    )
    exigent = r.boolean(t, p, "exigent", False)
    if exigent and listed:
        r.err(f"{p}.exigent", "a purpose cannot be both exigent and approval_required")
    return frozenset(listed), exigent


def check_home_state(r: Reader, home_state: str | None, listed: Sequence[frozenset[str]]) -> None:
    """``out_of_state_recipient`` means nothing without a home state."""
    for i, conditions in enumerate(listed):
        if OUT_OF_STATE_RECIPIENT in conditions and home_state is None:
            r.err(
                f"purposes[{i}].approval_required",
                f"{OUT_OF_STATE_RECIPIENT!r} needs settings.home_state",
            )
