"""The store boundary: what the search flow asks of the plate-read store, and what it gets back.

A store answers one search with typed reads (`proxy.model.Read`) of the owners the search may
receive, newest first, and counts the other reads that matched by reason without returning
them. Any failure to answer is `StoreUnavailable`; nothing of the database driver crosses this
line. `proxy.store.postgres` is the one implementation (PostgreSQL, `alpr.reads`, SPEC §4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Protocol

from proxy.model import Read, SearchQuery


class StoreUnavailable(Exception):
    """The store could not answer; `cause` names the failure's type (never its detail)."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Scope:
    """What a search may receive from the store: reads of `owners` taken at or after `since`,
    and, for the owners in `owner_since` (a shorter retention of their own), at or after theirs."""

    owners: Sequence[str]
    since: datetime  # the global retention cutoff
    owner_since: Mapping[str, datetime] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Withheld:
    """Reads that matched but were not fetched, by reason; `examined` reached the row limit
    when `limit_reached` (then the counts are lower bounds)."""

    retention: int
    sharing: int
    limit_reached: bool


@dataclass(frozen=True, slots=True)
class Fetched:
    """A store's answer: the reads to filter (newest first, every one matching the search),
    the count of those it did not return, and whether the row limit was reached either way."""

    reads: Sequence[Read]
    withheld: Withheld
    row_limit_reached: bool


class Store(Protocol):
    async def search(self, query: SearchQuery, scope: Scope, limit: int) -> Fetched:
        """At most `limit` reads matching `query` within `scope`; raises StoreUnavailable."""
        ...

    async def ready(self) -> bool:
        """Whether the store answers now (readiness)."""
        ...
