"""The proxy with witnesses (SPEC §10), wired: the real app on a real audit database, the
package's witness servers on real sockets. Served checkpoint and quorum, fail closed on an
outage and recover, the rewrite attack, the checkpointer's guard."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import pytest

from proxy import metrics
from proxy.audit import checkpoint as checkpoints
from proxy.audit.checkpoint import load_signer
from proxy.audit.remote import RemoteOptions, verify_remote
from proxy.audit.remote_checks import QuorumError, RollbackError
from proxy.audit.remote_fetch import RemoteSetupError
from proxy.audit.verify import Verifier, open_signed_note, parse_checkpoint
from proxy.audit.witnessed_log import WitnessesAhead, Witnessing
from proxy.audit.witnessing import RewriteError
from proxy.http.state import WITNESSING
from proxy.settings import load_settings
from proxy.witness.cosignature import CosignatureVerifier
from tests.audit.remote_env import (
    OVERSIGHT,
    Proxy,
    as_superuser,
    fill,
    front,
    log_witnesses,
    url_of,
)
from tests.audit.witnessing_env import LiveWitness
from tests.http import conftest as http_fixtures
from tests.http.search_helpers import bearer, body

make_client = http_fixtures.make_client
seeded_store = http_fixtures.seeded_store
DEADLINE_S = 20.0


def log_section(ws: Sequence[LiveWitness], quorum: int, max_s: float = 60.0) -> dict[str, Any]:
    return {
        "witness_quorum": quorum,
        "max_unwitnessed_s": max_s,
        "witnesses": [{"name": w.signer.name, "url": w.url, "key": w.signer.vkey} for w in ws],
    }


def size_of(note: bytes) -> int:
    return parse_checkpoint(note[: note.index(b"\n\n") + 1]).size


class Probe:
    """The app's answers, polled (a poll interval; each wait has a deadline)."""

    def __init__(self, client: Any, token: str) -> None:
        self.client, self.token = client, token
        self.last: tuple[int, bytes] = (0, b"")

    async def checkpoint(self) -> tuple[int, bytes]:
        resp = await self.client.get("/v1/log/checkpoint")
        return resp.status, bytes(await resp.read())

    async def search(self) -> tuple[int, dict[str, Any]]:
        resp = await self.client.post("/v1/search", json=body(), headers=bearer(self.token))
        return resp.status, await resp.json()

    async def ready(self) -> tuple[int, dict[str, Any]]:
        resp = await self.client.get("/readyz")
        return resp.status, await resp.json()

    async def served_at_least(self, size: int) -> bytes:
        async def check() -> bool:
            self.last = await self.checkpoint()
            return self.last[0] == 200 and size_of(self.last[1]) >= size

        await poll(check, f"a witnessed checkpoint of size >= {size}")
        return self.last[1]


async def poll(
    check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = DEADLINE_S
) -> None:
    """Await ``check`` until it holds (fails after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.05)  # a poll interval, not synchronisation: the deadline decides


def cosigners(note: bytes, log_vkey: str) -> list[str]:
    """The note opens with the log key alone; the names of the other signature lines."""
    opened = open_signed_note(note, [Verifier.from_key(log_vkey)])
    return [s.name for s in opened.unverified]


async def test_quorum_of_two_serves_both_cosignatures(make_client, make_token, log_keys, tmp_path):  # type: ignore[no-untyped-def]
    async with log_witnesses(tmp_path, log_keys[1], 2) as ws:
        client = await make_client(log=log_section(ws, 2))
        probe = Probe(client, make_token())
        status, answer = await probe.search()
        assert status == 200, answer
        note = await probe.served_at_least(answer["audit_index"] + 1)
        assert sorted(cosigners(note, log_keys[1])) == sorted(w.signer.name for w in ws)
        assert note.decode().count("\u2014 ") == 3  # the log's line and exactly two more
        status, ready = await probe.ready()
        assert status == 200 and ready["checks"]["witnessed"] is True
        assert ready["witnesses"]["quorum"] == 2
        assert {w["name"] for w in ready["witnesses"]["witnesses"]} == {w.signer.name for w in ws}
        client.app[WITNESSING].publish_metrics()  # the coverage loop does it every second
        text = metrics.exposition().decode()
        for w in ws:
            assert f'alpr_proxy_witness_cosigned_size{{witness="{w.signer.name}"}}' in text
            assert f'alpr_proxy_witness_lag_seconds{{witness="{w.signer.name}"}}' in text
        age = metrics.REGISTRY.get_sample_value("alpr_proxy_witness_quorum_age_seconds")
        assert age is not None and age < 60


async def test_no_witnesses_changes_nothing(make_client, make_token):  # type: ignore[no-untyped-def]
    client = await make_client()
    probe = Probe(client, make_token())
    status, ready = await probe.ready()
    assert status == 200 and "witnessed" not in ready["checks"]
    assert ready["witnesses"] == {"quorum": 0}
    assert (await probe.search())[0] == 200


async def test_outage_fails_closed_then_recovers(make_client, make_token, log_keys, tmp_path):  # type: ignore[no-untyped-def]
    async with log_witnesses(tmp_path, log_keys[1], 2) as ws:
        await ws[1].stop()  # down from the start; its port stays reserved for it
        client = await make_client(log=log_section(ws, 2, max_s=1.0))
        probe = Probe(client, make_token())
        status, answer = await probe.checkpoint()  # nothing reached quorum: 503
        assert status == 503 and b"audit_unavailable" in answer, answer

        async def refused() -> bool:
            status, answer = await probe.search()
            return status == 503 and answer["error"]["code"] == "audit_unavailable"

        await poll(refused, "searches to fail closed")
        _, answer = await probe.search()
        assert "max_unwitnessed_s" in answer["error"]["message"]
        status, ready = await probe.ready()
        assert status == 503 and ready["checks"]["witnessed"] is False
        client.app[WITNESSING].publish_metrics()
        down = {"witness": ws[1].signer.name, "status": "transport"}
        failures = metrics.REGISTRY.get_sample_value("alpr_proxy_witness_failures_total", down)
        assert failures is not None and failures >= 1
        assert ready["witnesses"]["refusing"]

        await ws[1].start()  # it comes back: within 5 s retried, quorum, searches again

        async def served() -> bool:
            return (await probe.search())[0] == 200

        await poll(served, "searches to be served again")
        assert (await probe.checkpoint())[0] == 200
        assert (await probe.ready())[0] == 200


async def test_the_rewrite_attack(make_client, make_token, log_keys, dbs, tmp_path):  # type: ignore[no-untyped-def]
    """Searches with two witnesses; verified state kept; the proxy stopped; the superuser
    deletes the newest entries and checkpoints and re-signs with the real key; restart."""
    admin, dsn = await dbs.fresh_audit()
    oversight = make_token(**OVERSIGHT)
    state = tmp_path / "state.json"
    async with log_witnesses(tmp_path, log_keys[1], 2) as ws:
        section = log_section(ws, 2, max_s=1.0)
        client = await make_client(audit_dsn=dsn, log=section)
        probe = Probe(client, make_token())
        for _ in range(30):
            assert (await probe.search())[0] == 200
        last = (await probe.search())[1]["audit_index"]
        await probe.served_at_least(last + 1)
        keys = tuple(CosignatureVerifier.from_vkey(w.signer.vkey) for w in ws)
        opts = RemoteOptions(
            url=url_of(client), token=oversight, key=Verifier.from_key(log_keys[1]),
            witnesses=keys, quorum=2, state=state,
        )  # fmt: skip
        first = await verify_remote(opts)
        await client.close()

        cut = first.size - 25
        await as_superuser(
            admin,
            "ALTER TABLE audit.cosignatures DISABLE TRIGGER ALL",
            ("DELETE FROM audit.cosignatures WHERE size >= $1", cut),
            "ALTER TABLE audit.cosignatures ENABLE ALWAYS TRIGGER cosignatures_no_update_delete",
            "ALTER TABLE audit.cosignatures ENABLE ALWAYS TRIGGER cosignatures_no_truncate",
            "ALTER TABLE audit.cosignatures ENABLE TRIGGER ALL",
            ("DELETE FROM audit.entry_facts WHERE idx >= $1", cut),
            ("DELETE FROM audit.entries WHERE idx >= $1", cut),
            ("DELETE FROM audit.checkpoints WHERE size >= $1", cut),
        )
        await fill(admin, log_keys[0], 0)  # re-sign the shorter history with the real key
        # The witnesses hold the larger tree: the proxy refuses to start.
        settings = load_settings(env={}, overrides={"log": section})
        async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as db:
            witnessing = Witnessing(settings.log, load_signer(log_keys[0]))
            with pytest.raises(WitnessesAhead) as caught:
                await witnessing.open(db)
        message = str(caught.value)
        assert "audit log is behind its witnesses" in message
        assert f"the database's newest checkpoint is {cut}" in message

        # The attacker pads the log past the witnessed size: it starts (no witness is ahead)
        # but the witnesses refuse the forged history, so no new checkpoint reaches quorum.
        await fill(admin, log_keys[0], 40)
        client = await make_client(audit_dsn=dsn, log=section)
        probe = Probe(client, make_token())
        status, served = await probe.checkpoint()
        again = dataclasses.replace(opts, url=url_of(client))
        if status == 200:  # an older checkpoint, cosigned before the cut, at most
            assert size_of(served) < cut
            with pytest.raises(RollbackError, match=f"size {first.size}"):
                await verify_remote(again)
        else:  # nothing reached quorum since: nothing is served, and verify cannot pass
            assert status == 503 and b"audit_unavailable" in served
            with pytest.raises(RemoteSetupError, match="no checkpoint has been cosigned"):
                await verify_remote(again)
        # Were the forged, log-signed checkpoint served some other way, verify names it.
        conn = await asyncpg.connect(admin)
        try:
            forged = await checkpoints.latest(conn)
        finally:
            await conn.close()
        assert forged is not None and forged.size > first.size
        async with front(Proxy(client, admin, url_of(client)), forged.note) as url:
            with pytest.raises(QuorumError, match=f"checkpoint \\(size {forged.size}"):
                await verify_remote(dataclasses.replace(opts, url=url))
            no_witnesses = dataclasses.replace(opts, url=url, witnesses=(), quorum=0)
            with pytest.raises(RollbackError, match=f"size {first.size}"):
                await verify_remote(no_witnesses)

        async def refused() -> bool:
            status, answer = await probe.search()
            return status == 503 and answer["error"]["code"] == "audit_unavailable"

        await poll(refused, "searches to stop once max_unwitnessed_s passed")
        assert (await probe.ready())[0] == 503


async def test_the_checkpointer_never_signs_a_fork(make_client, log_keys, dbs, tmp_path):  # type: ignore[no-untyped-def]
    admin, dsn = await dbs.fresh_audit()
    await fill(admin, log_keys[0], 10)
    async with log_witnesses(tmp_path, log_keys[1], 1) as ws:
        client = await make_client(audit_dsn=dsn, log=log_section(ws, 1))
        await Probe(client, "").served_at_least(10)
        witnessing = client.app[WITNESSING]
        await client.close()
    await fill(admin, log_keys[0], 5)  # the log grows by 5 after the last signed checkpoint
    conn = await asyncpg.connect(admin)
    try:
        newest = await checkpoints.latest(conn)
        assert newest is not None and witnessing.last_signed is not None
        signed = witnessing.last_signed.size
        with pytest.raises(RewriteError, match="same size, another root"):
            await witnessing.before_signing(conn, signed, b"\x00" * 32)
        with pytest.raises(RewriteError, match="consistency proof fails"):
            await witnessing.before_signing(conn, newest.size, b"\x00" * 32)
        with pytest.raises(RewriteError, match="smaller"):
            await witnessing.before_signing(conn, signed - 1, newest.root)
        await witnessing.before_signing(conn, newest.size, newest.root)  # it extends: fine
    finally:
        await conn.close()
