"""proxy.policy must stay pure: no I/O, no clock, no server libraries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import proxy.policy

POLICY_DIR = Path(proxy.policy.__file__).parent
FORBIDDEN_MODULES = frozenset(
    {
        "aiohttp",
        "asyncpg",
        "socket",
        "os",
        "time",
        "logging",
        "subprocess",
        "pathlib",
        "io",
        "asyncio",
        "prometheus_client",
        "jwt",
        "urllib",
        "http",
    }
)
FORBIDDEN_CALLS = frozenset(
    {"open", "__import__", "builtins.open", "io.open", "time.time", "time.monotonic"}
)
CLOCK_ATTRS = frozenset({"now", "utcnow", "today"})
CLOCK_OWNERS = frozenset({"datetime", "date"})


def _root(module: str) -> str:
    return module.split(".")[0]


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def violations(source: str) -> list[str]:
    tree = ast.parse(source)
    # `from datetime import datetime as dt` makes dt.now() a clock read too.
    owners = set(CLOCK_OWNERS)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "datetime":
            owners |= {a.asname for a in node.names if a.asname and a.name in CLOCK_OWNERS}
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if _root(a.name) in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and _root(node.module) in FORBIDDEN_MODULES:
                found.append(f"from {node.module} import")
            if node.module == "datetime" and any(a.name in CLOCK_ATTRS for a in node.names):
                found.append("from datetime import <clock>")
            if node.module == "builtins":
                found.append("from builtins import")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            parts = name.split(".")
            clock = len(parts) >= 2 and parts[-1] in CLOCK_ATTRS and parts[-2] in owners
            if name in FORBIDDEN_CALLS or clock:
                found.append(f"call {name}")
    return found


def policy_modules() -> list[Path]:
    return sorted(POLICY_DIR.rglob("*.py"))


def test_there_are_modules_to_check() -> None:
    names = {p.name for p in policy_modules()}
    assert {"document.py", "evaluate.py", "disclosure.py", "geofence.py", "text.py"} <= names


@pytest.mark.parametrize("path", policy_modules(), ids=lambda p: p.name)
def test_module_is_pure(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import os",
        "import os.path",
        "import aiohttp.web as web",
        "from asyncpg import connect",
        "from http.client import HTTPConnection",
        "import urllib.request",
        "from logging import getLogger",
        "import time",
        "from time import time",
        "import prometheus_client",
        "import jwt",
        "datetime.now()",
        "datetime.datetime.utcnow()",
        "date.today()",
        "datetime.date.today()",
        "x = datetime.now(tz=UTC)",
        "time.time()",
        "open('policy.toml')",
        "from datetime import datetime as dt; dt.now()",
        "from datetime import date as d\nd.today()",
    ],
)
def test_checker_catches(source: str) -> None:
    assert violations(source), source


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import datetime, timedelta, date",
        "import hashlib, tomllib, re, unicodedata, math",
        "import shapely",
        "from proxy.model import Principal",
        "now - timedelta(days=1)",
        "d.today",  # attribute access on a Disclosure, not a clock call
        "self.now",
    ],
)
def test_checker_allows(source: str) -> None:
    assert violations(source) == []
