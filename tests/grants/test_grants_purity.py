"""proxy.grants is pure like proxy.policy: no I/O, no clock, no server libraries."""

from __future__ import annotations

from pathlib import Path

import pytest

import proxy.grants
from tests.policy.test_purity import violations

GRANTS_DIR = Path(proxy.grants.__file__).parent


@pytest.mark.parametrize("path", sorted(GRANTS_DIR.rglob("*.py")), ids=lambda p: p.name)
def test_grants_modules_are_pure(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == []
