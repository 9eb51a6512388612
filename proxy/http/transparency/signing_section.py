"""The "Who wrote its sharing rules" section of an agency's transparency page, and the index's
mark, from a ``proxy.oversight.signing.Signing`` (SPEC §11)."""

from __future__ import annotations

from datetime import datetime

from proxy.grants.key_history import OUTCOMES, OwnerKeyChange, key_label
from proxy.htmlkit import Markup, el
from proxy.oversight.signing import AGENCY, OPERATOR, Signing


def _day(at: datetime | None) -> str:
    return "" if at is None else at.date().isoformat()


def _keys(vkeys: tuple[str, ...]) -> str:
    return ", ".join(key_label(k) for k in vkeys) or "none"


def _change(c: OwnerKeyChange) -> Markup:
    verdict = OUTCOMES.get(c.outcome, c.outcome)
    return el(
        "li",
        f"Signing keys changed on {c.time[:10]} (log entry {c.index}): {c.change},"
        f" from {_keys(c.before)} to {_keys(c.after)}; {verdict}.",
        class_=f"key-change key-change-{c.outcome}",
    )


def _summary(s: Signing) -> Markup:
    if s.author == AGENCY:
        return el(
            "p",
            f"Rules signed by the agency on {_day(s.issued)} with keys {', '.join(s.keys)},"
            f" in force until {_day(s.expires)}. SHA-256 of the signed text: ",
            el("code", s.sha256 or ""),
            ".",
            id="signing-answer",
        )
    if s.author == OPERATOR:
        return el(
            "p",
            "Rules written by the fusion center, not signed by the agency.",
            id="signing-answer",
        )
    return el(
        "p",
        "This agency registered signing keys but no valid grant is in force: it shares with"
        f" no one. Why: {s.reason}.",
        id="signing-answer",
    )


def signing_section(s: Signing) -> Markup:
    changes = (
        el("ul", [_change(c) for c in s.key_changes], id="key-changes")
        if s.key_changes
        else el("p", "Its signing keys have not changed in the log.", class_="empty")
    )
    return el(
        "section",
        el("h2", "Who wrote its sharing rules"),
        _summary(s),
        el("h3", "Changes of its signing keys"),
        changes,
        id="signing",
    )


def signing_mark(s: Signing) -> Markup:
    return el("span", s.label, class_=f"signing-{s.author}")
