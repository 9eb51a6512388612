"""The live policy: loading, the one reference every request reads, and accountable reloads.

Requests take `holder.current` once and use that object throughout; a reload parses and
validates the whole file first and only then swaps the reference, so no request ever sees a
half-loaded policy, and an invalid file never replaces a valid one. Every load (at start, on
SIGHUP, on `POST /v1/admin/policy/reload`) is a `policy_loaded` audit entry carrying the new
version, what triggered it, a summary diff from the previous version, and the policy text itself
so that oversight can reconstruct exactly what was enforced when. `reload_policy` is the one
reload path (the admin endpoint and SIGHUP, `sighup_reloads`, share it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from proxy.audit.entry import policy_loaded_entry
from proxy.audit.writer import AuditWriter
from proxy.errors import ProxyError
from proxy.policy.diff import diff
from proxy.policy.document import Policy, PolicyError, parse_policy

log = logging.getLogger("alpr_proxy.policy")


def load_policy_file(path: str | Path) -> Policy:
    """Read and validate; raises PolicyError (with every field error) or OSError."""
    return parse_policy(Path(path).read_bytes())


def read_policy(path: str | Path) -> tuple[Policy, bytes]:
    """The validated policy and the exact bytes its version hashes."""
    data = Path(path).read_bytes()
    return parse_policy(data), data


@dataclass(frozen=True, slots=True)
class Loaded:
    policy: Policy
    previous_version: str | None
    diff: dict[str, Any]
    audit_index: int


class PolicyHolder:
    def __init__(self, policy: Policy, text: bytes, path: str | Path) -> None:
        self.current = policy
        self.text = text
        self.path = Path(path)
        self._lock = asyncio.Lock()  # one reload at a time, so diffs chain correctly
        self._listeners: list[Callable[[Policy], None]] = []

    def on_change(self, listener: Callable[[Policy], None]) -> None:
        self._listeners.append(listener)

    async def record_startup(
        self, writer: AuditWriter, now: datetime, previous: bytes | None
    ) -> Loaded:
        """Audit the policy loaded at start, diffed against the last one the log recorded."""
        old = None
        if previous is not None:
            try:
                old = parse_policy(orjson.loads(previous)["policy"].encode())
            except (PolicyError, KeyError, ValueError, TypeError):
                old = None  # an older policy this version cannot parse: report a full load
        return await self._record(writer, now, "startup", old, self.current, self.text)

    async def reload(self, writer: AuditWriter, now: datetime, trigger: str) -> Loaded:
        """Load the file again. Raises PolicyError/OSError and keeps the old policy if invalid;
        raises ProxyError(audit_unavailable) and keeps the old policy if it cannot be audited."""
        async with self._lock:
            new, text = read_policy(self.path)
            old = self.current
            loaded = await self._record(writer, now, trigger, old, new, text)
            # Swapped only once the load is durably on the record.
            self.current, self.text = new, text
            for listener in self._listeners:
                listener(new)
            log.info(
                "policy loaded",
                extra={
                    "policy_version": new.version,
                    "trigger": trigger,
                    "audit_index": loaded.audit_index,
                },
            )
            return loaded

    async def _record(
        self,
        writer: AuditWriter,
        now: datetime,
        trigger: str,
        old: Policy | None,
        new: Policy,
        text: bytes,
    ) -> Loaded:
        summary = diff(old, new)
        record = policy_loaded_entry(
            at=now,
            trigger=trigger,
            version=new.version,
            previous_version=old.version if old is not None else None,
            diff=summary,
            policy_text=text.decode("utf-8"),  # valid UTF-8: parse_policy checked it
        )
        index = await writer.append(record)
        return Loaded(new, old.version if old else None, summary, index)


async def reload_policy(
    holder: PolicyHolder, writer: AuditWriter, now: datetime, trigger: str
) -> Loaded:
    """Reload the policy file; an invalid one raises invalid_request and changes nothing."""
    try:
        return await holder.reload(writer, now, trigger)
    except PolicyError as exc:
        problems = "; ".join(str(e) for e in exc.errors)
        log.error("policy reload refused: %s", problems, extra={"trigger": trigger})
        raise ProxyError(
            "invalid_request", f"policy not loaded, the previous one stays in force: {problems}"
        ) from None
    except OSError as exc:
        log.error("policy reload refused: %s", exc, extra={"trigger": trigger})
        raise ProxyError(
            "invalid_request", f"policy file unreadable, the previous one stays in force: {exc}"
        ) from None


@contextlib.asynccontextmanager
async def sighup_reloads(
    holder: PolicyHolder, writer: AuditWriter, clock: Callable[[], datetime]
) -> AsyncIterator[None]:
    """Reload the policy on SIGHUP while open (where this thread may handle signals)."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[object]] = set()

    async def reload_quietly() -> None:
        with contextlib.suppress(ProxyError):  # logged already; the old policy stays in force
            await reload_policy(holder, writer, clock(), "sighup")

    def on_sighup() -> None:
        task = loop.create_task(reload_quietly())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
        installed = True
    except (RuntimeError, NotImplementedError, ValueError):  # not the main thread, or no signals
        installed = False
    try:
        yield
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGHUP)
