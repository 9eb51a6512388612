"""An API policy reload reaches every proxy process, not only the worker that answered.

SIGHUP reaches every worker already (the parent forwards it). `POST /v1/admin/policy/reload`
lands on one worker, so after its own reload that worker announces it with PostgreSQL's NOTIFY
on the audit database, and every process sharing that database (the other workers, and other
proxy instances scaled out on it) LISTENs and reloads too, with the trigger
``peer:<the original trigger>``. Each load is its own `policy_loaded` entry, as with SIGHUP.
A process ignores its own announcement (by a random instance id, not a pid: instances on other
hosts may share pids). If the listening connection is lost, the process logs it and goes on
serving: its policy then changes only on its own reloads.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import asyncpg
import orjson

log = logging.getLogger("alpr_proxy.policy")
CHANNEL = "alpr_proxy_policy_reload"


class ReloadPeers:
    def __init__(self, on_peer_reload: Callable[[str], None]) -> None:
        self.instance = uuid.uuid4().hex
        self._on_peer_reload = on_peer_reload
        self._conn: asyncpg.Connection | None = None

    async def listen(self, dsn: str, timeout_s: float) -> None:
        """Open the listening connection (its own: a pool would hand it to others)."""
        conn = await asyncpg.connect(dsn, timeout=timeout_s)
        conn.add_termination_listener(self._lost)
        await conn.add_listener(CHANNEL, self._notified)
        self._conn = conn

    async def announce(self, pool: asyncpg.Pool, trigger: str) -> None:
        """Tell the others to reload; a failure is logged (this process has reloaded)."""
        payload = orjson.dumps({"from": self.instance, "trigger": trigger}).decode()
        try:
            async with pool.acquire() as conn:
                await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.error("policy reload not announced to the other processes: %s", exc)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.remove_termination_listener(self._lost)
            await conn.close()

    def _notified(self, conn: object, pid: int, channel: str, payload: str) -> None:
        try:
            message = orjson.loads(payload)
            sender, trigger = message["from"], message["trigger"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("ignored a malformed reload announcement: %r", payload[:200])
            return
        if sender != self.instance and isinstance(trigger, str):
            self._on_peer_reload(f"peer:{trigger}")

    def _lost(self, conn: object) -> None:
        log.error(
            "lost the reload-announcement connection: other processes' API reloads"
            " no longer reach this one"
        )
