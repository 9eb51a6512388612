"""errors.py is the registry of error codes: every code has its status, every code is raised
somewhere, and every code a search can be refused with has the public label the transparency
page shows (CONTRIBUTING: adding a refusal rule). A step of the recipe missed fails here."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

from proxy.errors import (
    REFUSAL_LABELS,
    REFUSAL_SEVERITY,
    SEVERITY_LABELS,
    STATUS,
    ErrorCode,
    refusal_severity,
)

ROOT = Path(__file__).resolve().parent.parent
CODES = frozenset(get_args(ErrorCode))
# A store failure is an allowed search's `error` decision, not a refusal.
NOT_REFUSALS = frozenset({"store_unavailable"})


def literals(*dirs: str, skip: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """Every error-code string literal in the modules under `dirs`, with where it stands."""
    found: dict[str, set[str]] = {}
    for d in dirs:
        for path in sorted((ROOT / d).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in skip:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in CODES:
                    found.setdefault(node.value, set()).add(rel)
    return found


def test_every_code_has_its_status() -> None:
    assert set(STATUS) == CODES


def test_every_code_is_used_somewhere() -> None:
    """A code defined but never raised or recorded is dead (payload_too_large was)."""
    used = literals("proxy", skip=("proxy/errors.py",))
    assert sorted(CODES - used.keys()) == []


def test_every_refusal_of_a_search_has_a_public_label() -> None:
    refused = literals("proxy/policy", "proxy/search")
    missing = sorted(set(refused) - NOT_REFUSALS - REFUSAL_LABELS.keys())
    assert missing == [], {code: refused[code] for code in missing}


def test_labels_are_refusals_and_say_something() -> None:
    assert set(REFUSAL_LABELS) <= CODES - NOT_REFUSALS
    assert all(label.strip() for label in REFUSAL_LABELS.values())


def test_every_refusal_has_a_severity() -> None:
    """The transparency pages group refusals by severity: a code without one would be shown
    as prohibited (the gravest), so a new refusal rule must say where it belongs."""
    assert set(REFUSAL_SEVERITY) == set(REFUSAL_LABELS)
    assert set(REFUSAL_SEVERITY.values()) == set(SEVERITY_LABELS)
    assert refusal_severity("no_such_code") == "prohibited"
    assert refusal_severity("case_number_required") == "incomplete"
