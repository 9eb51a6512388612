"""The shape of the code, kept by scans (issue 14): no module reaches into another's private
names, no module or function grows past what a reviewer reads at once."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("proxy", "load", "tests")


def sources(*dirs: str) -> Iterator[Path]:
    for d in dirs:
        yield from sorted((ROOT / d).rglob("*.py"))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _ours(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in PROJECT


def private_crossings(source: str) -> list[str]:
    """`from ours import _name`, and `alias._name` where alias is one of our imported modules
    (or a name imported from one)."""
    tree = ast.parse(source)
    found: list[str] = []
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and _ours(node.module):
            for a in node.names:
                if _private(a.name):
                    found.append(f"{node.lineno}: from {node.module} import {a.name}")
                aliases.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            aliases |= {a.asname or a.name.split(".")[0] for a in node.names if _ours(a.name)}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_the_scan_finds_private_crossings() -> None:
    source = "from proxy.http import audit\nfrom load.bench import _start\naudit._read()\n"
    assert private_crossings(source) == [
        "2: from load.bench import _start",
        "3: audit._read",
    ]
    assert private_crossings("import os\nos._exit(0)\nfrom proxy import x\nx.__doc__\n") == []


@pytest.mark.parametrize("path", list(sources(*PROJECT)), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_crosses_a_module(path: Path) -> None:
    assert private_crossings(path.read_text(encoding="utf-8")) == []
