"""Fault injection against the real server (`python -m proxy serve`, a subprocess) under load.

Store and audit databases live in two embedded PostgreSQL clusters of this module's own (also
when ALPR_PROXY_TEST_DSN is set: an external server cannot be restarted by a test), the audit
one behind a TcpForwarder. A load client records every response; the faults are injected one
after another while it runs, and afterwards every answer is checked against the log:

- a 200 only with its committed entry (same request id, subject, agency, query, and
  `outcome.returned` equal to the reads sent), never two answers for one entry;
- while the audit log is unreachable, restarted or backlogged: 503 audit_unavailable, no reads;
- while the store is down: 503 store_unavailable with an audit entry (decision error);
- the server recovers from every database fault by itself (same process), and after SIGKILL
  once restarted;
- `alpr-proxy audit verify` passes on the final log, and the final checkpoint covers it all.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import orjson
import pytest

from tests.faults import Mode, TcpForwarder
from tests.faults.harness import (
    ALAMEDA,
    CHP,
    OAKLAND,
    SUMMARY,
    Exchange,
    FaultDatabases,
    Keys,
    Load,
    ProxyProcess,
    Totals,
    User,
    Window,
    audit_verify,
    check_against_log,
    check_windows,
    latest_checkpoint_size,
    start_fault_databases,
    write_config,
)

MAX_QUEUE = 8  # log.max_queue: small, so a burst overflows it
PROBES = (
    "/readyz",
    "/v1/log/checkpoint",
    "/v1/log/proof/inclusion?index=0&size=1",
    "/v1/log/proof/consistency?old=1&size=1",
    "/v1/log/entries/0",
    "/v1/audit/entries?limit=1",
    "/v1/audit/reports/usage?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z",
    "/transparency",
)
CONCURRENCY = 6  # steady load stays below MAX_QUEUE


@pytest.fixture(scope="module")
async def fault_dbs() -> AsyncIterator[FaultDatabases]:
    dbs = await start_fault_databases()
    try:
        yield dbs
    finally:
        await asyncio.to_thread(dbs.store.destroy)
        await asyncio.to_thread(dbs.audit.destroy)


@pytest.fixture
def keys(dev_keys: tuple[Path, Path], log_keys: tuple[Path, str]) -> Keys:
    return Keys(dev_keys[0], dev_keys[1], log_keys[0], log_keys[1])


def users(keys: Keys) -> list[User]:
    people = [("det.a", OAKLAND), ("det.b", ALAMEDA), ("sgt.c", CHP)]
    return [User(sub, ori, keys.token(sub, ori)) for sub, ori in people]


class Scenario:
    """One server under load, one fault after another, each a recorded Window."""

    def __init__(
        self,
        server: ProxyProcess,
        load: Load,
        fwd: TcpForwarder,
        dbs: FaultDatabases,
        admin: str,
        oversight: str,
    ) -> None:
        self.server, self.load, self.fwd, self.dbs, self.admin = server, load, fwd, dbs, admin
        self.windows: list[Window] = []
        self.recovery: dict[str, float] = {}
        self.bursts: list[list[Exchange]] = []
        self.probes: list[tuple[str, str, int, str | None]] = []
        self.oversight = oversight

    async def probe(self, window: str) -> None:
        """The other endpoints that read the audit database, mid-fault: 503, never 500."""
        headers = {"Authorization": f"Bearer {self.oversight}"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            for path in PROBES:
                async with http.get(self.server.url + path, headers=headers) as r:
                    body = await r.read()
                    code = None
                    if r.content_type == "application/json":
                        code = orjson.loads(body).get("error", {}).get("code")
                    self.probes.append((window, path, r.status, code))

    async def _recovered(self, name: str, *, same_process: bool = True) -> None:
        pid, starts = self.server.pid, self.server.starts
        self.recovery[name] = await self.load.wait_for_success(time.monotonic())
        if same_process:  # recovered by itself, not by a restart
            assert (self.server.pid, self.server.starts) == (pid, starts)
            assert self.server.running

    async def audit_network(self, mode: Mode, seconds: float) -> None:
        self.fwd.set_mode(mode)
        w = Window(f"audit {mode}", "audit", time.monotonic())
        await self.probe(w.name)
        await asyncio.sleep(max(0.0, w.start + seconds - time.monotonic()))
        w.end = time.monotonic()
        self.windows.append(w)
        self.fwd.set_mode("up")
        await self._recovered(w.name)

    async def audit_restart(self, seconds: float) -> None:
        await self.dbs.audit.stop("fast")
        w = Window("audit postgres restart", "audit", time.monotonic())
        await self.probe(w.name)
        await asyncio.sleep(max(0.0, w.start + seconds - time.monotonic()))
        w.end = time.monotonic()
        self.windows.append(w)
        await self.dbs.audit.start()
        await self._recovered(w.name)

    async def store_down(self, seconds: float) -> None:
        await self.dbs.store.stop("fast")
        w = Window("store postgres stopped", "store", time.monotonic())
        await asyncio.sleep(seconds)
        w.end = time.monotonic()
        self.windows.append(w)
        await self.dbs.store.start()
        await self._recovered(w.name)

    async def queue_overflow(self, burst: int, hold_s: float) -> None:
        """Commits blocked by a table lock while a burst arrives: the queue overflows, the
        excess is refused at once with 503, the queued ones commit once the lock goes."""
        conn = await asyncpg.connect(self.admin)
        try:
            tx = conn.transaction()
            await tx.start()
            await conn.execute("LOCK TABLE audit.entries IN ACCESS EXCLUSIVE MODE")
            answers = asyncio.create_task(self.load.burst(burst))
            await asyncio.sleep(hold_s)
            await tx.rollback()
        finally:
            await conn.close()
        results = await answers
        self.bursts.append(results)
        outcomes = [(ex.kind, ex.status, ex.code) for ex in results]
        committed = {("allowed", 200, None), ("refused", 403, "purpose_prohibited")}
        odd = [
            (o, ex.answer, ex.body)
            for o, ex in zip(outcomes, results, strict=True)
            if o not in committed and o[1:] != (503, "audit_unavailable")
        ]
        assert not odd, odd
        backlogged = [ex for ex in results if "backlogged" in ex.message]
        assert backlogged, f"the queue never overflowed: {outcomes}"
        assert any(o in committed for o in outcomes), "nothing queued ever committed"
        await self._recovered("queue overflow")

    async def sigkill(self, down_s: float) -> None:
        await self.server.kill()
        w = Window("SIGKILL", "down", time.monotonic())
        await asyncio.sleep(down_s)
        w.end = time.monotonic()
        self.windows.append(w)
        await self.server.start()
        await self._recovered("SIGKILL + restart", same_process=False)


async def _setup(
    tmp_path: Path, dbs: FaultDatabases, keys: Keys, workers: int
) -> tuple[ProxyProcess, TcpForwarder, str, Path]:
    admin, name = await dbs.fresh_audit(f"flt_audit_{uuid.uuid4().hex[:8]}")
    fwd = TcpForwarder("127.0.0.1", dbs.audit.port)
    await fwd.start()
    config, port = write_config(
        tmp_path,
        keys,
        store_dsn=dbs.store_dsn,
        audit_dsn=f"postgresql://alpr_proxy_audit@127.0.0.1:{fwd.port}/{name}",
        verify_dsn=admin,
        workers=workers,
        sections={
            "server": {"audit_wait_timeout_s": 3.0},
            "log": {"max_queue": MAX_QUEUE},
        },
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")} if workers > 1 else None
    server = ProxyProcess(config, port, tmp_path / "serve.log", env, workers)
    return server, fwd, admin, config


async def _finish(
    scenario: Scenario, config: Path, verifier: str, label: str
) -> tuple[Totals, str]:
    """Graceful stop, then every check; returns the totals and audit verify's output."""
    odd = [p for p in scenario.probes if p[2] != 503 or p[3] not in (None, "audit_unavailable")]
    assert not odd, f"reads of the audit database during a fault: {odd}"
    server = scenario.server
    assert await server.terminate() == 0, server.tail()
    records = scenario.load.records
    totals = await check_against_log(records, scenario.admin)
    check_windows(records, scenario.windows, totals)
    totals.recovery_s = scenario.recovery
    assert await latest_checkpoint_size(scenario.admin) == totals.log_size
    rc, out = audit_verify(config, verifier)
    assert rc == 0, out
    assert f"OK: {totals.log_size} entries" in out, out
    verified = next(x for x in out.splitlines() if x.startswith("OK:"))
    SUMMARY.append(f"[{label}] {totals.describe()}; audit verify: {verified}")
    return totals, out


async def test_faults_one_worker(tmp_path: Path, fault_dbs: FaultDatabases, keys: Keys) -> None:
    server, fwd, admin, config = await _setup(tmp_path, fault_dbs, keys, workers=1)
    try:
        await server.start()
        async with Load(server.url, users(keys), concurrency=CONCURRENCY) as load:
            s = Scenario(server, load, fwd, fault_dbs, admin, keys.token("ig", CHP, ["oversight"]))
            load.start()
            await asyncio.sleep(1.5)
            await s.audit_network("blackhole", 4.0)
            await s.audit_network("refuse", 2.0)
            await s.audit_restart(2.0)
            await s.store_down(2.0)
            await s.queue_overflow(burst=60, hold_s=1.5)
            await s.sigkill(1.0)
            await asyncio.sleep(1.0)
            await load.stop()
            totals, _ = await _finish(s, config, keys.log_verifier, "workers=1")
        assert totals.entries_matched > 100
        assert {w.name for w in s.windows} == {
            "audit blackhole",
            "audit refuse",
            "audit postgres restart",
            "store postgres stopped",
            "SIGKILL",
        }
    finally:
        await server.close()
        await fwd.close()
        if not fault_dbs.audit.pg.running:  # a failed step may have left it stopped
            await fault_dbs.audit.start()
        if not fault_dbs.store.pg.running:
            await fault_dbs.store.start()


async def test_faults_two_workers(tmp_path: Path, fault_dbs: FaultDatabases, keys: Keys) -> None:
    server, fwd, admin, config = await _setup(tmp_path, fault_dbs, keys, workers=2)
    try:
        await server.start()
        async with Load(server.url, users(keys), concurrency=CONCURRENCY) as load:
            s = Scenario(server, load, fwd, fault_dbs, admin, keys.token("ig", CHP, ["oversight"]))
            load.start()
            await asyncio.sleep(1.0)
            await s.audit_network("refuse", 2.0)
            await s.audit_restart(2.0)
            await s.sigkill(1.0)
            await asyncio.sleep(1.0)
            await load.stop()
            totals, _ = await _finish(s, config, keys.log_verifier, "workers=2")
        served = {x["pid"] for x in server.log_lines() if x.get("route") == "/v1/search"}
        assert len(served) >= 2, "one worker served everything"
        assert totals.entries_matched > 50
    finally:
        await server.close()
        await fwd.close()
        if not fault_dbs.audit.pg.running:
            await fault_dbs.audit.start()


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_finishes_in_flight_requests(
    tmp_path: Path, fault_dbs: FaultDatabases, keys: Keys, workers: int
) -> None:
    """SIGTERM while searches wait for their audit commit: each still gets its 200 and its
    entry, no new connection is accepted, the exit code is 0 and a final checkpoint covers
    the whole log."""
    admin, name = await fault_dbs.fresh_audit(f"flt_audit_{uuid.uuid4().hex[:8]}")
    config, port = write_config(
        tmp_path,
        keys,
        store_dsn=fault_dbs.store_dsn,
        audit_dsn=fault_dbs.audit.dsn(name, "alpr_proxy_audit"),
        verify_dsn=admin,
        workers=workers,
        # A long checkpoint interval: only the final one can cover the in-flight entries.
        sections={"log": {"checkpoint_interval_s": 3600.0}},
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")} if workers > 1 else None
    server = ProxyProcess(config, port, tmp_path / "serve.log", env, workers)
    try:
        await server.start()
        async with Load(server.url, users(keys), concurrency=1) as load:
            await load.exchange()  # warm: one ordinary search
            conn = await asyncpg.connect(admin)
            tx = conn.transaction()
            await tx.start()
            # Commits now wait: the searches below are in flight when SIGTERM arrives.
            await conn.execute("LOCK TABLE audit.entries IN ACCESS EXCLUSIVE MODE")
            inflight = [
                asyncio.create_task(load.exchange(tag="inflight", fresh=True)) for _ in range(20)
            ]
            await _until_waiting(conn, workers)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            refused = await _until_refused(server.url)
            await asyncio.sleep(0.5)
            assert not any(t.done() for t in inflight), "answered while commits were blocked"
            await tx.rollback()
            await conn.close()
            results = await asyncio.gather(*inflight)
            rc = await asyncio.wait_for(server.proc.wait(), 60)
        assert rc == 0, server.tail()
        assert refused, "the server still accepted connections after SIGTERM"
        want = {"allowed": (200, None), "refused": (403, "purpose_prohibited")}
        assert [(ex.status, ex.code) for ex in results] == [want[ex.kind] for ex in results]
        totals = await check_against_log(load.records, admin)
        assert totals.entries_matched == 21
        assert await latest_checkpoint_size(admin) == totals.log_size
        messages = [x.get("message") for x in server.log_lines()]
        assert messages.count("stopped") == workers + (1 if workers > 1 else 0)
        rc, out = audit_verify(config, keys.log_verifier)
        assert rc == 0, out
        SUMMARY.append(
            f"[SIGTERM, workers={workers}] {len(results)} in-flight searches answered with their"
            f" entries; exit 0; final checkpoint at size {totals.log_size}"
        )
    finally:
        await server.close()


async def _until_waiting(conn: asyncpg.Connection, workers: int) -> None:
    """Until the audit writers are blocked on the lock (one waiting backend per worker)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND application_name = 'alpr-proxy-audit'"
        )
        if waiting >= workers:
            await asyncio.sleep(0.3)  # the rest of the burst reaches the queues
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the audit writers never blocked on the lock")


async def _until_refused(url: str, wait_s: float = 10.0) -> bool:
    """True once a new connection is refused (the listener is closed)."""
    deadline = time.monotonic() + wait_s
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        timeout=aiohttp.ClientTimeout(total=1),
    ) as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url + "/healthz") as r:
                    await r.read()
            except aiohttp.ClientConnectorError:
                return True
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.05)
    return False
