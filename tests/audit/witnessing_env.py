"""Shared pieces of the witnessing tests: an in-memory log that signs real checkpoints, and
the package's own witness servers on real sockets (restartable on the same port and state)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from proxy.audit import tree
from proxy.audit.note import Signer, sign_checkpoint
from proxy.witness.client import SignedCheckpoint, WitnessEndpoint
from proxy.witness.config import load_witness_config
from proxy.witness.server import create_app
from proxy.witness.signer import WitnessSigner
from tests.witness.conftest import write_config

ORIGIN = "example.org/alpr-proxy/audit"
NAMES = ("oversight.example.gov/witness", "board.example.org/witness", "owner.example.net/w")


class MemLog:
    """A log in memory (the LogSource the pool reads): entries, stored hashes, checkpoints."""

    def __init__(self, signer: Signer, tag: str = "e") -> None:
        self.signer, self.tag = signer, tag
        self.hashes: dict[int, bytes] = {}
        self.size = 0
        self.checkpoints: dict[int, SignedCheckpoint] = {}

    def append(self, n: int) -> None:
        leaves = [f"{self.tag}{i}".encode() for i in range(self.size, self.size + n)]
        self.hashes.update(tree.append_batch(self.size, leaves, self.hashes))
        self.size += n

    def sign(self) -> SignedCheckpoint:
        root = tree.tree_hash(self.size, self.hashes)
        note = sign_checkpoint(self.signer.name, self.size, root, self.signer)
        cp = SignedCheckpoint.open(note, self.signer.verifier())
        self.checkpoints[self.size] = cp
        return cp

    def grow(self, n: int) -> SignedCheckpoint:
        self.append(n)
        return self.sign()

    async def latest(self) -> SignedCheckpoint | None:
        return self.checkpoints[max(self.checkpoints)] if self.checkpoints else None

    async def checkpoint(self, size: int) -> SignedCheckpoint | None:
        return self.checkpoints.get(size)

    async def prove(self, old: int, new: int) -> Sequence[bytes]:
        return tree.consistency_proof(old, new, self.hashes)


@dataclass
class LiveWitness:
    """One witness: key, config directory (its SQLite state persists across restarts), port."""

    signer: WitnessSigner
    config: Path
    port: int = 0
    runner: web.AppRunner | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def endpoint(self) -> WitnessEndpoint:
        return WitnessEndpoint.from_config(self.signer.name, self.url, self.signer.vkey)

    async def start(self) -> None:
        app = create_app(load_witness_config(self.config), self.signer)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@asynccontextmanager
async def witnesses(
    tmp: Path, log_vkey: str, count: int, *, running: int | None = None
) -> AsyncIterator[list[LiveWitness]]:
    """``count`` witnesses trusting ``log_vkey``; the first ``running`` of them started (the
    others have a reserved, closed port: a witness that is down)."""
    out = []
    for i in range(count):
        signer = WitnessSigner.generate(NAMES[i])
        (tmp / f"w{i}").mkdir()
        out.append(LiveWitness(signer, write_config(tmp / f"w{i}", signer, [log_vkey])))
    try:
        for i, w in enumerate(out):
            await w.start()
            if running is not None and i >= running:
                await w.stop()  # keeps its port number: nothing listens there now
        yield out
    finally:
        for w in out:
            await w.stop()


async def until(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``check`` until it holds; return the seconds it took (fails after ``timeout_s``)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)  # a poll interval, not synchronisation: the deadline decides
    return time.monotonic() - start
