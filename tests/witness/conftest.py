"""A witness on a real socket, a log that signs checkpoints, and request builders."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from proxy.witness.config import load_witness_config
from proxy.witness.server import create_app
from proxy.witness.signer import WitnessSigner
from tests.witness import c2sp_ref as ref

ORIGIN = "example.org/alpr-proxy/audit"
WITNESS_NAME = "oversight.example.gov/witness"
FIXED_TIME = 1_790_000_000


@dataclass
class Log:
    """A log as the witness sees it: entries, a key, and signed checkpoints with proofs."""

    key: ref.LogKey
    data: list[bytes]

    def body(self, size: int) -> str:
        return ref.checkpoint_body(self.key.name, size, ref.mth(self.data[:size]))

    def note(self, size: int) -> str:
        body = self.body(size)
        return ref.signed_note(body, self.key.sign_line(body))

    def proof(self, old: int, size: int) -> list[bytes]:
        return [] if old == 0 else ref.consistency_proof(old, self.data[:size])


def request_body(old: int | str, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}" if isinstance(old, int) else old]
    lines += [base64.b64encode(h).decode() for h in proof]
    return ("\n".join(lines) + "\n\n" + note).encode()


def submission(log: Log, old: int, size: int) -> bytes:
    return request_body(old, log.proof(old, size), log.note(size))


def write_config(
    directory: Path, signer: WitnessSigner, log_vkeys: list[str], *, origin: str = ORIGIN
) -> Path:
    key_file = directory / "witness.key"
    if not key_file.exists():
        key_file.write_text(signer.private_key_string() + "\n")
        key_file.chmod(0o600)
    keys = ", ".join(f'"{k}"' for k in log_vkeys)
    config = directory / "witness.toml"
    config.write_text(
        f'[witness]\nname = "{signer.name}"\nsigning_key_file = "witness.key"\n'
        f'listen = "127.0.0.1:0"\nstate = "witness.db"\n\n'
        f'[[witness.logs]]\norigin = "{origin}"\nkeys = [{keys}]\n'
    )
    return config


@dataclass
class Witness:
    url: str
    session: aiohttp.ClientSession
    signer: WitnessSigner
    state: Path

    async def post(self, body: bytes) -> tuple[int, str, str]:
        async with self.session.post(f"{self.url}/add-checkpoint", data=body) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


@asynccontextmanager
async def running_witness(
    config: Path, signer: WitnessSigner, clock: Callable[[], int] | None = None
) -> AsyncIterator[Witness]:
    """The witness app on 127.0.0.1, a free port, real sockets; state opened at startup."""
    cfg = load_witness_config(config)
    app = create_app(cfg, signer) if clock is None else create_app(cfg, signer, clock=clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as session:
            yield Witness(f"http://{host}:{port}", session, signer, cfg.state)
    finally:
        await runner.cleanup()


@pytest.fixture
def log() -> Log:
    return Log(ref.LogKey(ORIGIN), ref.entries(120))


@pytest.fixture
def signer() -> WitnessSigner:
    return WitnessSigner.generate(WITNESS_NAME)


@pytest.fixture
def config(tmp_path: Path, signer: WitnessSigner, log: Log) -> Path:
    return write_config(tmp_path, signer, [log.key.vkey])


@pytest.fixture
async def witness(config: Path, signer: WitnessSigner) -> AsyncIterator[Witness]:
    async with running_witness(config, signer, clock=lambda: FIXED_TIME) as w:
        yield w
