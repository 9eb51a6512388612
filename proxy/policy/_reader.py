"""Typed, error-collecting field access for parsed TOML (used by ``document``).

Each getter records a ``FieldError`` and returns a harmless placeholder instead of raising, so one
pass over the document reports every problem. Placeholders never escape: ``parse_policy`` raises
when any error was recorded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeGuard


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str  # e.g. "sensitive_locations[3].circle.radius_m"; "" for the whole document
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def is_number(v: object) -> TypeGuard[int | float]:
    # bool is an int subclass; `true` is not a number in a policy.
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


class Reader:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def err(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def keys(self, t: dict[str, Any], path: str, allowed: Collection[str]) -> None:
        for k in t:
            if k not in allowed:
                self.err(join(path, k), f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def table(self, v: object, path: str, allowed: Collection[str]) -> dict[str, Any]:
        if not isinstance(v, dict):
            self.err(path, "is required" if v is None else "must be a table")
            return {}
        self.keys(v, path, allowed)
        return v

    def tables(
        self, doc: dict[str, Any], key: str, allowed: Collection[str]
    ) -> Iterator[tuple[dict[str, Any], str]]:
        """The entries of an array of tables (``[[key]]``), each with its path."""
        v = doc.get(key, [])
        if not isinstance(v, list):
            self.err(key, f"must be an array of tables ([[{key}]])")
            return
        for i, item in enumerate(v):
            path = f"{key}[{i}]"
            if isinstance(item, dict):
                self.keys(item, path, allowed)
                yield item, path
            else:
                self.err(path, "must be a table")

    def _get(self, t: dict[str, Any], path: str, key: str, required: bool) -> object:
        if key not in t and required:
            self.err(join(path, key), "is required")
        return t.get(key)

    def text(
        self,
        t: dict[str, Any],
        path: str,
        key: str,
        *,
        required: bool = True,
        regex: re.Pattern[str] | None = None,
        hint: str = "",
    ) -> str:
        """A non-empty string (optionally matching ``regex``); "" when absent or bad."""
        v = self._get(t, path, key, required)
        if v is None:
            return ""
        if not isinstance(v, str) or not v.strip():
            self.err(join(path, key), "must be a non-empty string")
            return ""
        if regex is not None and not regex.fullmatch(v):
            self.err(join(path, key), f"{v!r} is not {hint}")
            return ""
        return v

    def choice(
        self, t: dict[str, Any], path: str, key: str, choices: Collection[str], default: str = ""
    ) -> str:
        v = self._get(t, path, key, not default)
        if v is None:
            return default
        if not isinstance(v, str) or v not in choices:
            self.err(join(path, key), f"must be one of {', '.join(sorted(choices))}")
            return default
        return str(v)

    def integer(
        self, t: dict[str, Any], path: str, key: str, *, required: bool = True, minimum: int = 1
    ) -> int:
        v = self._get(t, path, key, required)
        if v is None:
            return 0
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            self.err(join(path, key), f"must be an integer >= {minimum}")
            return 0
        return v

    def positive(self, t: dict[str, Any], path: str, key: str, *, required: bool) -> float | None:
        v = self._get(t, path, key, required)
        if v is None:
            return None
        if is_number(v) and v > 0:
            return float(v)
        self.err(join(path, key), "must be a positive number")
        return None

    def coordinate(self, v: object, path: str, limit: float) -> float:
        if is_number(v) and -limit <= v <= limit:
            return float(v)
        self.err(path, f"must be a number in [-{limit:g}, {limit:g}]")
        return 0.0

    def boolean(self, t: dict[str, Any], path: str, key: str, default: bool) -> bool:
        v = t.get(key, default)
        if not isinstance(v, bool):
            self.err(join(path, key), "must be true or false")
            return default
        return v

    def strings(
        self,
        t: dict[str, Any],
        path: str,
        key: str,
        check: Callable[[str], str | None],
        *,
        default: tuple[str, ...] | None = (),
    ) -> tuple[str, ...]:
        """A list of strings; ``check`` returns an error message for a bad item, else None."""
        v = self._get(t, path, key, default is None)
        if v is None:
            return default or ()
        if not isinstance(v, list):
            self.err(join(path, key), "must be a list of strings")
            return ()
        out: list[str] = []
        for i, item in enumerate(v):
            problem = check(item) if isinstance(item, str) else "must be a string"
            if problem is None:
                out.append(item)
            else:
                self.err(f"{join(path, key)}[{i}]", problem)
        return tuple(out)

    def aware_datetime(self, t: dict[str, Any], path: str, key: str) -> datetime | None:
        v = t.get(key)
        if v is None:
            return None
        if not isinstance(v, datetime) or v.utcoffset() is None:
            self.err(join(path, key), "must be a TOML offset date-time, e.g. 2026-05-01T16:00:00Z")
            return None
        return v

    def plain_date(self, t: dict[str, Any], path: str, key: str) -> date | None:
        v = t.get(key)
        if v is None:
            return None
        # datetime is a date subclass; a rule expires on a day, not at an instant.
        if not isinstance(v, date) or isinstance(v, datetime):
            self.err(join(path, key), "must be a TOML date, e.g. 2027-06-30")
            return None
        return v

    def unique(self, values: list[str], section: str, key: str) -> set[str]:
        """The distinct non-empty values; reports each repeat with the first index."""
        first: dict[str, int] = {}
        for i, v in enumerate(values):
            if not v:
                continue
            if v in first:
                where = f"{section}[{first[v]}]"
                self.err(f"{section}[{i}].{key}", f"duplicate {v!r} (first at {where})")
            else:
                first[v] = i
        return set(first)
