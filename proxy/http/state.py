"""Every piece of application state, under a typed web.AppKey (aiohttp's recommended way)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import asyncpg
from aiohttp import web

from proxy.audit.checkpoint import Checkpointer
from proxy.audit.witnessed_log import Witnessing
from proxy.audit.writer import AuditWriter
from proxy.auth.tokens import TokenVerifier
from proxy.http.ratelimit import TokenBuckets
from proxy.reload_peers import ReloadPeers
from proxy.search.live_policy import PolicyHolder
from proxy.settings import Settings
from proxy.store.base import Store

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
STORE: web.AppKey[Store] = web.AppKey("store")
AUDIT_POOL = web.AppKey("audit_pool", asyncpg.Pool)
AUDIT_WRITER = web.AppKey("audit_writer", AuditWriter)
CHECKPOINTER = web.AppKey("checkpointer", Checkpointer)
WITNESSING = web.AppKey("witnessing", Witnessing)  # only when log.witness_quorum > 0
VERIFIER = web.AppKey("token_verifier", TokenVerifier)
POLICY = web.AppKey("policy", PolicyHolder)
RELOAD_PEERS = web.AppKey("reload_peers", ReloadPeers)  # API reloads reach every process
SEARCH_LIMITER = web.AppKey("search_limiter", TokenBuckets)
AUTH_FAILURE_LIMITER = web.AppKey("auth_failure_limiter", TokenBuckets)

# Per-request state.
REQUEST_ID = web.RequestKey("request_id", str)
