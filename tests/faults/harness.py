"""Fault-injection harness: the real server as a subprocess, restartable PostgreSQL clusters, a
load client that records every response, and the checks that tie responses to the audit log.

Used by tests/faults (fault injection, graceful shutdown), tests/attacks (slow clients, many
connections) and tests/fuzz (schemathesis against a running server).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

from proxy.auth.tokens import mint_token
from proxy.demo.embedded import EmbeddedPostgres, free_port
from proxy.migrate import migrate
from tests.conftest import AUDIENCE, ISSUER, LOG_ORIGIN
from tests.http.conftest import policy_text

ROOT = Path(__file__).resolve().parents[2]
# Lines the tests add (totals under fault, responses checked, entries verified); conftest.py
# prints them in pytest's terminal summary.
SUMMARY: list[str] = []
OAKLAND, ALAMEDA, BERKELEY, CHP = "CA0010900", "CA0010000", "CA0010800", "CA0349400"
JUSTIFICATION = "Vehicle seen leaving scene of 1/14 homicide, witness statement"

# ---------------------------------------------------------------------------------------------
# PostgreSQL


class Cluster:
    """An embedded PostgreSQL of the test's own, so it can be stopped and started mid-test
    (the session's server, or an external one from ALPR_PROXY_TEST_DSN, cannot be)."""

    def __init__(self, name: str) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix=f"alpr-proxy-fault-{name}-"))
        self.pg = EmbeddedPostgres(self._dir / "data")

    def dsn(self, database: str = "postgres", user: str = "postgres") -> str:
        return self.pg.dsn(database, user)

    @property
    def port(self) -> int:
        return self.pg.port

    async def start(self) -> None:
        await asyncio.to_thread(self.pg.start)

    async def stop(self, mode: str = "fast") -> None:
        await asyncio.to_thread(self.pg.stop, mode)

    async def create_database(self, name: str, template: str | None = None) -> str:
        conn = await asyncpg.connect(self.dsn())
        try:
            suffix = f' TEMPLATE "{template}"' if template else ""
            await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
        finally:
            await conn.close()
        return self.dsn(name)

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.pg.destroy()
        shutil.rmtree(self._dir, ignore_errors=True)


def seed_rows(now: datetime, plates: int = 30) -> list[tuple[Any, ...]]:
    """A small store: each plate read by Oakland (shared), Alameda (HOMICIDE only) and
    Berkeley (shares with nobody), hours to days before `now`."""
    rows: list[tuple[Any, ...]] = []
    ids = itertools.count(1)
    for p in range(plates):
        plate = f"FLT{p:04d}"
        for k, owner in enumerate((OAKLAND, ALAMEDA, BERKELEY, OAKLAND)):
            at = now - timedelta(hours=1 + p + 7 * k)
            rows.append((next(ids), plate, "CA", at, 37.81, -122.26, f"CAM-{k}", owner))
    return rows


async def seed_store(admin_dsn: str, rows: Sequence[tuple[Any, ...]]) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("TRUNCATE alpr.reads")
        await conn.copy_records_to_table(
            "reads",
            schema_name="alpr",
            records=rows,
            columns=[
                "id",
                "plate",
                "plate_state",
                "observed_at",
                "lat",
                "lon",
                "camera_id",
                "agency_ori",
            ],
        )
    finally:
        await conn.close()


@dataclass
class FaultDatabases:
    """Store and audit in two clusters of their own, each restartable on its own."""

    store: Cluster
    audit: Cluster
    store_dsn: str  # as the read-only store role
    audit_template: str

    async def fresh_audit(self, name: str) -> tuple[str, str]:
        """A new migrated, empty audit database: (superuser dsn, database name)."""
        admin = await self.audit.create_database(name, template=self.audit_template)
        return admin, name


async def start_fault_databases(prefix: str = "flt") -> FaultDatabases:
    store, audit = Cluster("store"), Cluster("audit")
    try:
        await asyncio.gather(store.start(), audit.start())
        store_admin = await store.create_database(f"{prefix}_store")
        await migrate(store_admin, "store")
        await seed_store(store_admin, seed_rows(datetime.now(UTC)))
        template = f"{prefix}_audit_tmpl"
        await migrate(await audit.create_database(template), "audit")
    except BaseException:
        store.destroy()
        audit.destroy()
        raise
    return FaultDatabases(
        store=store,
        audit=audit,
        store_dsn=store.dsn(f"{prefix}_store", "alpr_proxy_store"),
        audit_template=template,
    )


async def log_entries(audit_admin_dsn: str) -> dict[int, dict[str, Any]]:
    conn = await asyncpg.connect(audit_admin_dsn)
    try:
        rows = await conn.fetch("SELECT idx, body FROM audit.entries ORDER BY idx")
    finally:
        await conn.close()
    return {int(r["idx"]): orjson.loads(r["body"]) for r in rows}


async def latest_checkpoint_size(audit_admin_dsn: str) -> int | None:
    conn = await asyncpg.connect(audit_admin_dsn)
    try:
        size = await conn.fetchval("SELECT max(size) FROM audit.checkpoints")
    finally:
        await conn.close()
    return None if size is None else int(size)


# ---------------------------------------------------------------------------------------------
# Configuration and the server process


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for everything we write
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


@dataclass
class Keys:
    dev_private: Path
    dev_public: Path
    log_signing: Path
    log_verifier: str

    def token(
        self, sub: str, ori: str, roles: Iterable[str] = ("investigator",), ttl_s: int = 3600
    ) -> str:
        return mint_token(
            self.dev_private.read_bytes(),
            issuer=ISSUER,
            audience=AUDIENCE,
            sub=sub,
            ori=ori,
            roles=list(roles),
            ttl_s=ttl_s,
        )


def write_config(
    directory: Path,
    keys: Keys,
    *,
    store_dsn: str,
    audit_dsn: str,
    verify_dsn: str | None = None,
    port: int | None = None,
    workers: int = 1,
    rate: int = 100_000,
    sections: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Path, int]:
    """A config file for `alpr-proxy serve` (and `audit verify`, through migrate_audit_dsn)."""
    port = port or free_port()
    policy = directory / "policy.toml"
    policy.write_text(policy_text(rate))
    config: dict[str, dict[str, Any]] = {
        "server": {"host": "127.0.0.1", "port": port, "workers": workers},
        "database": {
            "store_dsn": store_dsn,
            "audit_dsn": audit_dsn,
            "migrate_audit_dsn": verify_dsn or "",
            "connect_timeout_s": 1.0,
            "statement_timeout_s": 5.0,
        },
        "auth": {
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "public_key_file": str(keys.dev_public),
            "algorithms": ["EdDSA"],
            "dev_private_key_file": str(keys.dev_private),
        },
        "policy": {"file": str(policy)},
        "log": {
            "origin": LOG_ORIGIN,
            "signing_key_file": str(keys.log_signing),
            "checkpoint_interval_s": 0.5,
        },
    }
    for name, values in (sections or {}).items():
        config.setdefault(name, {}).update(values)
    lines = []
    for name, values in config.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
        lines.append("")
    path = directory / "config.toml"
    path.write_text("\n".join(lines))
    return path, port


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_PROXY_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["PYTHONPATH"] = str(ROOT)
    # A free metrics port each (SPEC §9a's default 9464 would be contended between servers).
    env["ALPR_PROXY_METRICS_LISTEN"] = "127.0.0.1:0"
    env.update(extra or {})
    return env


class ProxyProcess:
    """`python -m proxy serve --config FILE` in a process group of its own."""

    def __init__(
        self,
        config: Path,
        port: int,
        log: Path,
        env: Mapping[str, str] | None = None,
        workers: int = 1,
    ):
        self.config = config
        self.port = port
        self.log = log
        self.workers = workers
        self._log_offset = 0
        self.url = f"http://127.0.0.1:{port}"
        self.proc: asyncio.subprocess.Process | None = None
        self._env = _env(env)
        if "PROMETHEUS_MULTIPROC_DIR" in self._env:
            Path(self._env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self, wait_s: float = 60.0) -> None:
        assert not self.running
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "proxy", "serve", "--config", str(self.config)),
                env=self._env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,  # SIGKILL takes the workers too
            )
        self.starts += 1
        await self.wait_ready(wait_s)

    async def wait_ready(self, wait_s: float = 60.0) -> None:
        deadline = time.monotonic() + wait_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise AssertionError(f"server exited {self.proc.returncode}:\n{self.tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(self.url + "/readyz") as r:
                        # Every worker, not just the first to answer, has finished starting.
                        if r.status == 200 and self._started() >= self.workers:
                            if self.workers > 1:  # "started" comes just before the bind
                                await asyncio.sleep(0.3)
                            return
                if time.monotonic() > deadline:
                    raise AssertionError(f"server not ready after {wait_s} s:\n{self.tail()}")
                await asyncio.sleep(0.1)

    async def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup of any kind runs."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self, wait_s: float = 60.0) -> int:
        """SIGTERM (a graceful stop); the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), wait_s)

    async def close(self) -> None:
        if self.running:
            await self.kill()
        elif self.proc is not None:
            with contextlib.suppress(ProcessLookupError):  # orphaned workers, if any
                os.killpg(self.proc.pid, signal.SIGKILL)

    def _started(self) -> int:
        with self.log.open("rb") as f:
            f.seek(self._log_offset)
            text = f.read().decode("utf-8", "replace")
        return text.count('"message":"started"')

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(orjson.JSONDecodeError):
                value = orjson.loads(line)
                if isinstance(value, dict):
                    out.append(value)
        return out


def audit_verify(config: Path, key: str, checkpoint: Path | None = None) -> tuple[int, str]:
    """`alpr-proxy audit verify` as a subprocess (with `--checkpoint FILE` when given, a
    checkpoint kept outside the database): (exit code, output)."""
    cmd = [sys.executable, "-m", "proxy", "audit", "verify", "--config", str(config), "--key", key]
    if checkpoint is not None:
        cmd += ["--checkpoint", str(checkpoint)]
    done = subprocess.run(
        cmd,
        env=_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


# ---------------------------------------------------------------------------------------------
# Load that records every response


@dataclass(frozen=True)
class User:
    sub: str
    ori: str
    token: str


@dataclass
class Exchange:
    """One search request and whatever came back."""

    n: int
    kind: str  # "allowed" (a search the policy allows) or "refused" (purpose prohibited)
    user: User
    body: dict[str, Any]
    sent_at: float
    done_at: float = 0.0
    status: int | None = None
    answer: Any = None
    header_request_id: str | None = None
    error: str | None = None  # transport failure (no HTTP response at all)
    tag: str = "load"

    @property
    def code(self) -> str | None:
        if isinstance(self.answer, dict) and isinstance(self.answer.get("error"), dict):
            code = self.answer["error"].get("code")
            return code if isinstance(code, str) else None
        return None

    @property
    def message(self) -> str:
        if self.code is None:
            return ""
        return str(self.answer["error"].get("message", ""))


def search_body(rng: random.Random, kind: str, now: datetime, requester: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "plate",
        "plate": f"FLT{rng.randrange(40):04d}",  # 30 seeded plates, 10 misses
        "from": (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "purpose": "CIVIL_IMMIGRATION" if kind == "refused" else "HOMICIDE",
        "case_number": f"26-{rng.randrange(10**6):06d}",
        "justification": JUSTIFICATION,
    }
    if kind == "allowed" and requester != CHP and rng.random() < 0.15:
        body["on_behalf_of"] = {"ori": CHP, "person": f"Sgt. {rng.randrange(100)}"}
    return body


class Load:
    """`concurrency` clients searching back to back; every exchange is kept in `records`."""

    def __init__(self, url: str, users: Sequence[User], *, concurrency: int, seed: int = 7):
        self.url = url
        self.users = list(users)
        self.concurrency = concurrency
        self.records: list[Exchange] = []
        self._rng = random.Random(seed)
        self._numbers = itertools.count()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Load:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        if self._session is not None:
            await self._session.close()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._client()) for _ in range(self.concurrency)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        self._tasks = []

    def next_request(self) -> tuple[int, str, User, dict[str, Any]]:
        n = next(self._numbers)
        kind = "refused" if self._rng.random() < 0.1 else "allowed"
        user = self.users[n % len(self.users)]
        return n, kind, user, search_body(self._rng, kind, datetime.now(UTC), user.ori)

    async def exchange(self, *, tag: str = "load", fresh: bool = False) -> Exchange:
        n, kind, user, body = self.next_request()
        ex = Exchange(n, kind, user, body, sent_at=time.monotonic(), tag=tag)
        self.records.append(ex)
        assert self._session is not None
        headers = {"Authorization": f"Bearer {user.token}"}
        if fresh:
            headers["Connection"] = "close"
        try:
            async with self._session.post(
                self.url + "/v1/search", data=orjson.dumps(body), headers=headers
            ) as r:
                raw = await r.read()
                ex.status = r.status
                ex.header_request_id = r.headers.get("X-Request-Id")
                try:
                    ex.answer = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    ex.answer = raw.decode("utf-8", "replace")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            ex.error = type(exc).__name__
        ex.done_at = time.monotonic()
        return ex

    async def _client(self) -> None:
        while not self._stop.is_set():
            ex = await self.exchange()
            if ex.error is not None:
                await asyncio.sleep(0.05)  # a refused connect must not spin

    async def burst(self, n: int) -> list[Exchange]:
        """`n` searches at once, each on a connection of its own."""
        return list(
            await asyncio.gather(*(self.exchange(tag="burst", fresh=True) for _ in range(n)))
        )

    async def wait_for_success(self, since: float, wait_s: float = 30.0) -> float:
        """Seconds from `since` until a search sent after it was answered 200."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            for ex in reversed(self.records):
                if ex.sent_at < since:
                    break
                if ex.status == 200:
                    return ex.done_at - since
            await asyncio.sleep(0.05)
        raise AssertionError(f"no successful search within {wait_s} s after the fault")


# ---------------------------------------------------------------------------------------------
# Checks


@dataclass
class Window:
    """A fault in force from `start` to `end` (monotonic seconds)."""

    name: str
    kind: str  # "audit" | "store" | "down"
    start: float
    end: float = 0.0

    def holds(self, ex: Exchange) -> bool:
        """Sent and answered while the fault was in force."""
        return ex.sent_at >= self.start and ex.done_at <= self.end


@dataclass
class Totals:
    requests: int = 0
    under_fault: int = 0
    transport_errors: int = 0
    responses_checked: int = 0
    entries_matched: int = 0
    log_size: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    per_window: dict[str, Counter[str]] = field(default_factory=dict)
    recovery_s: dict[str, float] = field(default_factory=dict)
    unanswered_but_logged: int = 0

    def describe(self) -> str:
        windows = ", ".join(f"{k}: {dict(v)}" for k, v in self.per_window.items())
        rec = ", ".join(f"{k} {v:.2f}s" for k, v in self.recovery_s.items())
        return (
            f"requests {self.requests}, under fault {self.under_fault}, transport errors "
            f"{self.transport_errors}, responses checked {self.responses_checked}, entries "
            f"matched {self.entries_matched}, log size {self.log_size}, committed but answered "
            f"503/never {self.unanswered_but_logged}; statuses {dict(self.statuses)}; "
            f"windows {windows}; recovery {rec}"
        )


def _outcome_of(ex: Exchange) -> str:
    if ex.error is not None:
        return ex.error
    return f"{ex.status} {ex.code}" if ex.code else str(ex.status)


def check_windows(records: Sequence[Exchange], windows: Sequence[Window], totals: Totals) -> None:
    """During a fault clients get 503 audit_unavailable (store: store_unavailable for allowed
    searches), a dead server gets no answer at all, and no read ever leaves."""
    for w in windows:
        inside = [ex for ex in records if w.holds(ex)]
        assert inside, f"{w.name}: no request was sent and answered while the fault held"
        totals.under_fault += len(inside)
        totals.per_window[w.name] = Counter(_outcome_of(ex) for ex in inside)
        for ex in inside:
            what = f"{w.name}: request {ex.n} ({ex.kind}) got {_outcome_of(ex)}"
            if w.kind == "down":
                assert ex.status is None, what
                continue
            assert ex.status is not None, what
            assert not (isinstance(ex.answer, dict) and "reads" in ex.answer), what
            if w.kind == "audit" or (ex.kind == "refused" and w.kind == "store"):
                want = (
                    ("audit_unavailable",)
                    if w.kind == "audit"
                    else ("purpose_prohibited", "audit_unavailable")
                )
                assert ex.code in want, what
            else:  # the store is down: an allowed search is audited as an error, then 503
                assert (ex.status, ex.code) == (503, "store_unavailable"), what
                assert isinstance(ex.answer["error"].get("audit_index"), int), what


async def check_against_log(records: Sequence[Exchange], audit_admin_dsn: str) -> Totals:
    """Every answer against the log: a 200 only with its committed entry (same request id,
    subject, agency, query, and `returned` equal to the reads sent); every refusal that names
    an entry matches it; audit_unavailable never names one and never carries reads."""
    entries = await log_entries(audit_admin_dsn)
    assert sorted(entries) == list(range(len(entries))), "the log has gaps"
    by_request: dict[str, list[int]] = {}
    for idx, e in entries.items():
        rid = e.get("request_id")
        if isinstance(rid, str):
            by_request.setdefault(rid, []).append(idx)
    totals = Totals(requests=len(records), log_size=len(entries))
    seen_index: set[int] = set()
    problems: list[str] = []
    for ex in records:
        totals.statuses[_outcome_of(ex)] += 1
        if ex.error is not None:
            totals.transport_errors += 1
            continue
        totals.responses_checked += 1
        what = f"request {ex.n} ({ex.kind}, {ex.tag}) -> {_outcome_of(ex)}"
        if not isinstance(ex.answer, dict) or not ex.header_request_id:
            problems.append(f"{what}: not a JSON answer with X-Request-Id: {ex.answer!r:.200}")
            continue
        rid = ex.header_request_id
        if ex.status == 200:
            idx = ex.answer.get("audit_index")
            e = entries.get(idx) if isinstance(idx, int) else None
            if e is None:
                problems.append(f"{what}: 200 but no entry at audit_index {idx}")
                continue
            expected = {
                "request_id": rid,
                "event": "search",
                "decision": "allowed",
                "subject": ex.user.sub,
                "agency": ex.user.ori,
                "query": ex.body,
            }
            got = {k: e.get(k) for k in expected}
            if got != expected or ex.answer.get("request_id") != rid:
                problems.append(f"{what}: entry {idx} is {got}, expected {expected}")
            returned = (e.get("outcome") or {}).get("returned")
            if returned != len(ex.answer.get("reads", [])):
                problems.append(f"{what}: entry {idx} returned={returned}, response differs")
            if idx in seen_index:
                problems.append(f"{what}: audit_index {idx} answered twice")
            if by_request.get(rid) != [idx]:
                problems.append(f"{what}: request id in entries {by_request.get(rid)}")
            seen_index.add(idx)
            totals.entries_matched += 1
            continue
        if "reads" in ex.answer:
            problems.append(f"{what}: reads in a refusal")
        error = ex.answer.get("error")
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            problems.append(f"{what}: no error envelope: {ex.answer!r:.200}")
            continue
        if ex.status not in (403, 503):
            problems.append(f"{what}: unexpected status")
        code, idx = error["code"], error.get("audit_index")
        if code == "audit_unavailable":
            if ex.status != 503 or idx is not None:
                problems.append(f"{what}: audit_unavailable with status/audit_index {idx}")
            if rid in by_request:
                totals.unanswered_but_logged += 1  # committed after the wait gave up: fine
            continue
        if not isinstance(idx, int) or idx not in entries:
            problems.append(f"{what}: refusal names entry {idx}, which is not in the log")
            continue
        e = entries[idx]
        if (e.get("request_id"), e.get("reason"), e.get("subject")) != (rid, code, ex.user.sub):
            problems.append(f"{what}: entry {idx} does not match: {e}")
        elif idx in seen_index:
            problems.append(f"{what}: audit_index {idx} answered twice")
        else:
            seen_index.add(idx)
            totals.entries_matched += 1
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    return totals
