"""The browser tests drive a real server built by the HTTP tests' fixtures."""

from __future__ import annotations

from tests.http.conftest import make_client, seeded_store

__all__ = ["make_client", "seeded_store"]
