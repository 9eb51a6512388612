"""The demo's two witnesses (SPEC §10), run in-process as child tasks of the demo's loop: one
named as the state's oversight office, one as a civil-liberties board. Their keys and SQLite
state live in the demo's data directory, so a restarted demo keeps their memory of the log
(a demo database wiped without them would be refused: that is the point)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from proxy.audit.verify import Verifier
from proxy.cli.credentials import write_secret
from proxy.witness.config import WitnessConfig
from proxy.witness.server import create_app
from proxy.witness.signer import WitnessSigner

NAMES = (
    ("oversight", "oversight.demo-state.invalid/witness"),  # the state's oversight office
    ("board", "civil-liberties-board.demo.invalid/witness"),  # a civil-liberties board
)


@dataclass(frozen=True)
class DemoWitness:
    label: str  # oversight | board
    signer: WitnessSigner
    port: int
    state: Path
    key_file: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config_toml(self) -> str:
        return (
            f'\n[[log.witnesses]]\nname = "{self.signer.name}"\nurl = "{self.url}"\n'
            f'key = "{self.signer.vkey}"\n'
        )


def prepare_witnesses(data_dir: Path, ports: Sequence[int]) -> list[DemoWitness]:
    """Both witnesses' keys (made once, kept in the data directory) on these ports."""
    out = []
    for (label, name), port in zip(NAMES, ports, strict=True):
        key_file = data_dir / f"witness-{label}.key"
        if not key_file.exists():
            write_secret(
                key_file, (WitnessSigner.generate(name).private_key_string() + "\n").encode()
            )
        signer = WitnessSigner.from_private_key(key_file.read_text(encoding="utf-8").strip())
        out.append(DemoWitness(label, signer, port, data_dir / f"witness-{label}.db", key_file))
    return out


@asynccontextmanager
async def running_witnesses(
    witnesses: Sequence[DemoWitness], origin: str, log_vkey: str
) -> AsyncIterator[None]:
    """Serve each witness on its loopback port, trusting the demo log's key."""
    runners = []
    try:
        for w in witnesses:
            config = WitnessConfig(
                name=w.signer.name, signing_key_file=w.key_file, host="127.0.0.1", port=w.port,
                state=w.state, log_keys={origin: (Verifier.from_key(log_vkey),)},
                max_body_bytes=64 * 1024,
            )  # fmt: skip
            runner = web.AppRunner(create_app(config, w.signer), access_log=None)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, "127.0.0.1", w.port).start()
        yield
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
