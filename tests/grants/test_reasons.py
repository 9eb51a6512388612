"""The reasons' two registries name the same codes: every reason a grant can be refused for has
plain words for the transparency pages, and no plain words outlive their code."""

from __future__ import annotations

from proxy.grants import PLAIN_REASONS, REASONS


def test_every_reason_has_plain_words() -> None:
    assert list(PLAIN_REASONS) == list(REASONS)
    assert all(words and "<" not in words for words in PLAIN_REASONS.values())
