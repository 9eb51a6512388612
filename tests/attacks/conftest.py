"""The attack tests use the HTTP tests' app fixtures: real databases, the test policy, real
tokens (tests/http/conftest.py)."""

from __future__ import annotations

from tests.http.conftest import client, make_client, seeded_store

__all__ = ["client", "make_client", "seeded_store"]
