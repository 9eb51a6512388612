"""The witness client against the package's own witness servers, on real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from proxy.audit.cosignatures_pg import PgCosignatureStore
from proxy.audit.note import Signer
from proxy.audit.witness_status import RETRY_CAP_S
from proxy.audit.witnessing import (
    CosignatureStore,
    MemoryCosignatureStore,
    RewriteError,
    extends,
)
from proxy.witness.client import Cosigned, Failed, Forked, WitnessAhead, request_body
from proxy.witness.pool import WitnessPool
from tests.audit.witnessing_env import ORIGIN, LiveWitness, MemLog, until, witnesses
from tests.pg import Databases

SIGNER = Signer.from_seed(ORIGIN, b"\x05" * 32)


@asynccontextmanager
async def pool_for(
    ws: list[LiveWitness],
    log: MemLog,
    quorum: int,
    store: CosignatureStore | None = None,
    *,
    max_unwitnessed_s: float = 60.0,
    running: bool = False,
) -> AsyncIterator[WitnessPool]:
    pool = WitnessPool(
        [w.endpoint() for w in ws], quorum, log, store or MemoryCosignatureStore(),
        max_unwitnessed_s=max_unwitnessed_s, timeout_s=2.0,
    )  # fmt: skip
    if running:
        await pool.start()
    try:
        yield pool
    finally:
        await pool.close()


def witnessed_size(pool: WitnessPool) -> int:
    return -1 if pool.witnessed is None else pool.witnessed.size


@contextmanager
def quiet_alarms(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level("CRITICAL", logger="alpr_proxy"):
        yield


async def test_quorum_of_two_out_of_three_with_one_witness_down(tmp_path: Path):
    log = MemLog(SIGNER)
    async with (
        witnesses(tmp_path, SIGNER.verifier_key, 3, running=2) as ws,
        pool_for(ws, log, 2) as pool,
    ):
        cp = log.grow(10)
        outcomes = await pool.submit(cp)
        assert [type(o) for o in outcomes] == [Cosigned, Cosigned, Failed]
        down = outcomes[2]
        assert isinstance(down, Failed) and down.status is None  # connection refused
        got = pool.witnessed
        assert got is not None and got.size == 10 and got.distinct_keys == 2
        assert [w.name for w, _ in got.cosignatures] == [ws[0].signer.name, ws[1].signer.name]
        assert got.note().decode().count("\u2014 ") == 3  # log + exactly two witnesses
        assert pool.status()[2].failures == 1 and pool.status()[0].cosigned_size == 10


async def test_a_witness_down_then_back_is_retried_within_5s_and_cosigns(tmp_path: Path):
    log = MemLog(SIGNER)
    log.grow(5)
    async with (
        witnesses(tmp_path, SIGNER.verifier_key, 2) as ws,
        pool_for(ws, log, 2, running=True) as pool,
    ):
        await until(lambda: witnessed_size(pool) == 5, 10, "quorum at 5")
        await ws[1].stop()
        log.grow(7)
        pool.notify()
        # Long enough down for the backoff to have grown (0.25, 0.5, 1, 2 s ...).
        await until(lambda: pool.status()[1].failures >= 4, 20, "failed attempts")
        assert pool.status()[0].cosigned_size == 12
        assert pool.witnessed is not None and pool.witnessed.size == 5  # no quorum at 12
        await ws[1].start()  # same port, same state file
        took = await until(lambda: witnessed_size(pool) == 12, 15, "quorum at 12 again")
        assert took <= RETRY_CAP_S + 1.0  # the restart was noticed within the capped backoff
        assert pool.status()[1].cosigned_size == 12 and pool.status()[1].failures == 0
        assert pool.outcomes[(ws[1].signer.name, "transport")] >= 4


async def test_a_409_teaches_the_witness_size_and_the_submission_converges(tmp_path: Path):
    log = MemLog(SIGNER)
    early = log.grow(10)
    async with witnesses(tmp_path, SIGNER.verifier_key, 2) as ws, aiohttp.ClientSession() as s:
        # Someone else (another proxy process) already brought witness 0 to size 10.
        async with s.post(f"{ws[0].url}/add-checkpoint", data=request_body(0, [], early.note)) as r:
            assert r.status == 200
        async with pool_for(ws, log, 2) as pool:
            outcomes = await pool.submit(log.grow(15))  # the pool believes both are at 0
            assert all(isinstance(o, Cosigned) and o.size == 25 for o in outcomes)
            assert pool.sizes() == {ws[0].signer.name: 25, ws[1].signer.name: 25}
            assert pool.witnessed is not None and pool.witnessed.size == 25


async def test_a_witness_ahead_is_an_alarm_and_the_log_is_behind(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    log = MemLog(SIGNER)
    async with witnesses(tmp_path, SIGNER.verifier_key, 2) as ws:
        async with pool_for(ws, log, 2) as pool:
            log.grow(20)
            await pool.submit(log.grow(10))
            assert pool.witnessed is not None and pool.witnessed.size == 30
            seen = pool.last_cosigned
        # The operator restores an older database (20 entries) and restarts the proxy.
        restored = MemLog(SIGNER)
        restored.grow(20)
        with quiet_alarms(caplog):
            async with pool_for(ws, restored, 2) as pool:
                report = await pool.startup()
                assert report.behind and report.latest_size == 20
                assert sorted(a.witness_size for a in report.ahead) == [30, 30]
                assert "behind its witnesses" in report.message() and "size 30" in report.message()
                assert [s.ahead_size for s in pool.log_behind()] == [30, 30]
                assert [s.known_size for s in pool.status()] == [0, 0]  # 30 is not believed
                assert pool.witnessed is None and pool.outcomes[(ws[0].signer.name, "ahead")] == 1
            # Or rewrites the last entries at the same size, and re-signs with the real key.
            forged = MemLog(SIGNER, tag="forged")
            forged.grow(30)
            async with pool_for(ws, forged, 2) as pool:
                report = await pool.startup()
                assert report.behind and all(isinstance(o, Forked) for o in report.outcomes)
                assert "another root at size 30" in report.message()
                assert [s.forked_size for s in pool.log_behind()] == [30, 30]
                assert pool.witnessed is None
        # And the guard would never have let the proxy sign either history.
        with pytest.raises(RewriteError, match="smaller"):
            extends(seen, restored.checkpoints[20].checkpoint, [])
        with pytest.raises(RewriteError, match="same size, another root"):
            extends(seen, forged.checkpoints[30].checkpoint, [])


async def test_two_coordinators_on_one_log_converge_without_endless_409s(tmp_path: Path):
    log, store = MemLog(SIGNER), MemoryCosignatureStore()  # one log and one database, shared
    async with (
        witnesses(tmp_path, SIGNER.verifier_key, 2) as ws,
        pool_for(ws, log, 2, store, running=True) as a,
        pool_for(ws, log, 2, store, running=True) as b,
    ):
        for n in (3, 1, 8, 2, 5):
            log.grow(n)
            a.notify()  # their own loops race for it ...
            b.notify()
            await asyncio.gather(a.tick(), b.tick())  # ... and so do two explicit rounds
        both = (a, b)
        await until(lambda: all(witnessed_size(p) == 19 for p in both), 20, "quorum")
        # Same checkpoint, both at once: each witness cosigns it for both submitters.
        races = await asyncio.gather(a.submit(log.grow(4)), b.submit(log.checkpoints[23]))
        assert all(isinstance(o, Cosigned) for outcomes in races for o in outcomes)
        # A stale checkpoint from one process: the witness is ahead of it, and the pool moves
        # to the log's latest instead of raising an alarm.
        stale = await b.submit(log.checkpoints[19])
        assert all(isinstance(o, Cosigned) and o.size == 23 for o in stale)
        for p in both:
            assert not any(k[1] in ("ahead", "forked", "409") for k in p.outcomes)
            assert sum(p.outcomes.values()) < 40  # bounded: no 409 ping-pong
        assert a.witnessed is not None and b.witnessed is not None
        assert a.witnessed.size == b.witnessed.size == 23


async def test_an_idle_log_is_resubmitted_so_cosignatures_stay_fresh(tmp_path: Path):
    log = MemLog(SIGNER)
    log.grow(3)
    async with (
        witnesses(tmp_path, SIGNER.verifier_key, 2) as ws,
        pool_for(ws, log, 2, max_unwitnessed_s=1.0, running=True) as pool,
    ):
        ok = (ws[0].signer.name, "ok")
        await until(lambda: pool.outcomes[ok] >= 1, 10, "first cosignature")
        first = pool.status()[0].cosigned_at or 0.0
        # Nothing new is signed: only the idle refresh (every 0.5 s here) submits again.
        took = await until(lambda: pool.outcomes[ok] >= 2, 5, "a resubmission")
        assert took <= 1.0 and (pool.status()[0].cosigned_at or 0.0) > first
        assert all(isinstance(o, Cosigned) for o in await pool.submit(log.checkpoints[3]))
        assert not any(isinstance(o, WitnessAhead) for o in await pool.tick())


async def test_cosignatures_in_postgres_give_the_quorum_back_after_a_restart(
    tmp_path: Path, dbs: Databases
):
    _, dsn = await dbs.fresh_audit()
    log = MemLog(SIGNER)
    async with (
        asyncpg.create_pool(dsn, min_size=1, max_size=2) as db,
        witnesses(tmp_path, SIGNER.verifier_key, 2) as ws,
    ):
        for n in (4, 6):
            cp = log.grow(n)
            await db.execute(
                "INSERT INTO audit.checkpoints (size, root, note) VALUES ($1, $2, $3)",
                cp.size, cp.root, cp.note.decode(),
            )  # fmt: skip
            async with pool_for(ws, log, 2, PgCosignatureStore(db)) as pool:
                await pool.submit(cp)
                assert witnessed_size(pool) == cp.size
        for w in ws:
            await w.stop()  # witnesses unreachable: only the database can answer
        async with pool_for(ws, log, 2, PgCosignatureStore(db)) as pool:
            assert (await pool.load()) is not None and witnessed_size(pool) == 10
            assert pool.witnessed is not None
            assert pool.witnessed.note() == (await pool_note(db, ws, log))


async def pool_note(db: asyncpg.Pool, ws: list[LiveWitness], log: MemLog) -> bytes:
    """The served note, rebuilt independently from the rows of the largest checkpoint."""
    rows = await db.fetch(
        "SELECT witness, line, cosigned_at FROM audit.cosignatures WHERE size = 10"
        " ORDER BY cosigned_at"
    )
    newest = {r["witness"]: r["line"] for r in rows}  # later rows win: newest per witness
    return log.checkpoints[10].note + "".join(newest[w.signer.vkey] for w in ws).encode()
