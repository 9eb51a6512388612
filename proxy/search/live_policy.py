"""The live policy: loading, the one reference every request reads, and accountable reloads.

Requests take `holder.current` once and use that object throughout; a reload parses and
validates the whole file first and only then swaps the reference, so no request ever sees a
half-loaded policy, and an invalid file never replaces a valid one. Every load (at start, on
SIGHUP, on `POST /v1/admin/policy/reload`) is a `policy_loaded` audit entry carrying the new
version, what triggered it, a summary diff from the previous version, the policy text itself
so that oversight can reconstruct exactly what was enforced when, and per owner with grant keys
the grant in force or why none is (SPEC §11; proxy.grants). `reload_policy` is the one reload
path (the admin endpoint, SIGHUP (`sighup_reloads`) and a peer's API reload share it).

Grants are judged against the record the log keeps: each load reads it back from the latest
`policy_loaded` entry (`record_source`, the audit database), so no-rollback and key-change
protection hold across restarts, a wiped proxy host, and the other workers' loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from proxy.audit.entry import policy_loaded_entry
from proxy.audit.writer import AuditWriter
from proxy.errors import ProxyError
from proxy.grants import (
    Effective,
    OwnerRecord,
    OwnerStatus,
    apply_grants,
    grant_changes,
    policy_as_recorded,
    record_from_entry,
)
from proxy.policy.diff import diff
from proxy.policy.document import parse_policy
from proxy.policy.model import Policy, PolicyError
from proxy.search.grant_files import GrantFiles

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
    def __init__(
        self, policy: Policy, text: bytes, path: str | Path, grants: GrantFiles, now: datetime
    ) -> None:
        # Until the record is read at startup, every grant owner shares with no one.
        first = apply_grants(policy, {}, {}, grants.origin, now)
        self.current = first.policy
        self.grants = first
        self.text = text
        self.path = Path(path)
        self.grant_files = grants
        # The record read back from the audit database's latest policy_loaded entry (raising
        # ProxyError when it cannot be read: no record, no load); None: this process's own
        # memory of its last load (tests without a database).
        self.record_source: Callable[[], Awaitable[dict[str, OwnerRecord]]] | None = None
        self._lock = asyncio.Lock()  # one reload at a time, so diffs chain correctly
        self._listeners: list[Callable[[Policy], None]] = []

    def on_change(self, listener: Callable[[Policy], None]) -> None:
        self._listeners.append(listener)

    def grant_statuses(self) -> Mapping[str, OwnerStatus]:
        """Per owner with grant keys, the grant in force or why none is, as now enforced."""
        return self.grants.statuses

    async def record_startup(
        self, writer: AuditWriter, now: datetime, previous: bytes | None
    ) -> Loaded:
        """Audit the policy loaded at start, diffed against the last one the log recorded,
        with grants judged against the record that entry carries."""
        entry = None if previous is None else orjson.loads(previous)
        record = record_from_entry(entry)  # RecordError stops the start: fail closed
        old = None
        if entry is not None:
            try:
                old = policy_as_recorded(
                    parse_policy(entry["policy"].encode()), entry.get("grants")
                )
            except (PolicyError, KeyError, ValueError, TypeError, AttributeError):
                old = None  # an older policy this version cannot parse: report a full load
        operator = parse_policy(self.text)
        effective = apply_grants(
            operator, self.grant_files.read(), record, self.grant_files.origin, now
        )
        old_grants = None if entry is None else entry.get("grants")
        loaded = await self._record(writer, now, "startup", old, effective, self.text, old_grants)
        self._swap(effective, self.text)
        return loaded

    async def reload(self, writer: AuditWriter, now: datetime, trigger: str) -> Loaded:
        """Load the file again. Raises PolicyError/OSError and keeps the old policy if invalid;
        raises ProxyError(audit_unavailable) and keeps the old policy if it cannot be audited."""
        async with self._lock:
            new, text = read_policy(self.path)
            record = await self._record_now()
            effective = apply_grants(
                new, self.grant_files.read(), record, self.grant_files.origin, now
            )
            old = self.current
            old_grants = self.grants.to_json()
            loaded = await self._record(writer, now, trigger, old, effective, text, old_grants)
            # Swapped only once the load is durably on the record.
            self._swap(effective, text)
            log.info(
                "policy loaded",
                extra={
                    "policy_version": new.version,
                    "trigger": trigger,
                    "audit_index": loaded.audit_index,
                },
            )
            return loaded

    async def _record_now(self) -> dict[str, OwnerRecord]:
        if self.record_source is None:
            return {o: s.record for o, s in self.grants.statuses.items()}
        return await self.record_source()

    def _swap(self, effective: Effective, text: bytes) -> None:
        self.current, self.grants, self.text = effective.policy, effective, text
        for owner, status in effective.statuses.items():
            if status.reason is not None:
                log.warning(
                    "no grant in force for %s: %s (%s); it shares with no one",
                    owner,
                    status.reason,
                    status.detail,
                )
        for listener in self._listeners:
            listener(effective.policy)

    async def _record(
        self,
        writer: AuditWriter,
        now: datetime,
        trigger: str,
        old: Policy | None,
        new: Effective,
        text: bytes,
        old_grants: Mapping[str, Any] | None,
    ) -> Loaded:
        summary = diff(old, new.policy)
        if old is not None and (changes := grant_changes(old_grants, new.to_json())):
            summary["grants"] = changes
        record = policy_loaded_entry(
            at=now,
            trigger=trigger,
            version=new.policy.version,
            previous_version=old.version if old is not None else None,
            diff=summary,
            policy_text=text.decode("utf-8"),  # valid UTF-8: parse_policy checked it
            grants=new.to_json(),
        )
        index = await writer.append(record)
        return Loaded(new.policy, old.version if old else None, summary, index)


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


class BackgroundReloads:
    """Reloads started by a signal or a peer's announcement: nobody waits for them, so a
    refused one is logged (by reload_policy) and the old policy stays in force."""

    def __init__(
        self, holder: PolicyHolder, writer: AuditWriter, clock: Callable[[], datetime]
    ) -> None:
        self._holder, self._writer, self._clock = holder, writer, clock
        self._tasks: set[asyncio.Task[object]] = set()

    def start(self, trigger: str) -> None:
        async def quietly() -> None:
            with contextlib.suppress(ProxyError):  # logged already
                await reload_policy(self._holder, self._writer, self._clock(), trigger)

        task = asyncio.get_running_loop().create_task(quietly())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@contextlib.asynccontextmanager
async def sighup_reloads(reloads: BackgroundReloads) -> AsyncIterator[None]:
    """Reload the policy on SIGHUP while open (where this thread may handle signals)."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, reloads.start, "sighup")
        installed = True
    except (RuntimeError, NotImplementedError, ValueError):  # not the main thread, or no signals
        installed = False
    try:
        yield
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGHUP)
