"""`alpr-proxy audit verify --config FILE --witness VKEY... [--quorum K]` (SPEC §10): a real audit
database, cosignatures made by the package's own witness servers on real sockets."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from proxy.audit.cosignatures_pg import PgCosignatureStore
from proxy.audit.verify import Verifier
from proxy.witness.client import Cosigned, SignedCheckpoint, submit_checkpoint
from proxy.witness.cosignature import CosignatureLine
from proxy.witness.signer import WitnessSigner
from tests.audit.witnessing_env import NAMES, LiveWitness
from tests.cli.test_audit_cli import build, config, run
from tests.conftest import LOG_ORIGIN
from tests.pg import Databases
from tests.witness.conftest import write_config


@dataclass
class Env:
    dsn: str
    cfg: str
    vkey: str
    witnesses: list[str]  # the witnesses' vkeys
    cosigned: dict[tuple[int, int], CosignatureLine]  # (size, witness index) -> cosignature


async def never(old: int, new: int) -> Sequence[bytes]:
    raise AssertionError(f"no proof expected ({old} -> {new})")


async def cosign(
    tmp: Path, vkey: str, notes: dict[int, bytes]
) -> dict[tuple[int, int], tuple[str, CosignatureLine]]:
    """Witnesses 0 and 1 cosign the checkpoint at 40, witness 2 the one at 120."""
    out, key = {}, Verifier.from_key(vkey)
    async with aiohttp.ClientSession() as session:
        for i, size in enumerate((40, 40, 120)):
            (tmp / f"w{i}").mkdir()
            signer = WitnessSigner.generate(NAMES[i])
            w = LiveWitness(signer, write_config(tmp / f"w{i}", signer, [vkey], origin=LOG_ORIGIN))
            await w.start()
            try:
                cp = SignedCheckpoint.open(notes[size], key)
                got = await submit_checkpoint(session, w.endpoint(), cp, 0, never)
            finally:
                await w.stop()
            assert isinstance(got, Cosigned), got
            out[(size, i)] = (signer.vkey, got.cosignature)
    return out


@pytest.fixture
async def env(dbs: Databases, log_keys: tuple[Path, str], tmp_path: Path) -> Env:
    _, dsn = await dbs.fresh_audit()
    notes = await build(dsn, log_keys[0])
    made = await cosign(tmp_path, log_keys[1], notes)
    vkeys = [made[(40, 0)][0], made[(40, 1)][0], made[(120, 2)][0]]
    cosigned = {k: v[1] for k, v in made.items()}
    return Env(dsn, config(tmp_path, dsn, log_keys[0]), log_keys[1], vkeys, cosigned)


async def store(env: Env, *which: tuple[int, int]) -> None:
    async with asyncpg.create_pool(env.dsn, min_size=1, max_size=1) as pool:
        cosignatures = PgCosignatureStore(pool)
        for size, i in which:
            await cosignatures.add(size, env.witnesses[i], env.cosigned[(size, i)])


async def verify(env: Env, *args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(run, "--config", env.cfg, "--key", env.vkey, *args)
    return result.returncode, result.stdout + result.stderr


def flags(env: Env, *indexes: int) -> list[str]:
    return [a for i in indexes for a in ("--witness", env.witnesses[i])]


async def test_quorum_met_exits_0_naming_the_witnessed_checkpoint(env: Env) -> None:
    await store(env, (40, 0), (40, 1), (120, 2))
    code, out = await verify(env, *flags(env, 0, 1))
    assert code == 0, out
    assert out.startswith("OK: 120 entries and 2 stored checkpoints verified")
    names = ", ".join(sorted(NAMES[:2]))
    assert f"witnessed: checkpoint 40 cosigned by {names}\n" in out
    assert "unwitnessed: entries 40..119 (80) are beyond the witnessed checkpoint" in out
    # K of three: the newest checkpoint that reached it counts.
    code, out = await verify(env, *flags(env, 0, 1, 2), "--quorum", "2")
    assert code == 0 and "witnessed: checkpoint 40 " in out, out
    code, out = await verify(env, *flags(env, 0, 1, 2), "--quorum", "1")
    assert code == 0 and f"witnessed: checkpoint 120 cosigned by {NAMES[2]}\n" in out, out
    assert "unwitnessed" not in out


async def test_a_cosignature_from_an_unlisted_key_does_not_count(env: Env) -> None:
    await store(env, (40, 0), (120, 2))  # witness 2 cosigned, but it is not given
    code, out = await verify(env, *flags(env, 0, 1))
    assert code == 1, out
    assert out.count("FAILED:") == 1
    assert f"the best, checkpoint 40, has 1 ({NAMES[0]})" in out
    assert "witnessed:" not in out


async def test_a_tampered_cosignature_line_does_not_count(env: Env) -> None:
    await store(env, (40, 0))
    good = env.cosigned[(40, 1)]
    bad = CosignatureLine(good.name, good.key_id, good.timestamp, bytes(64 - 1) + b"\x01")
    async with asyncpg.create_pool(env.dsn, min_size=1, max_size=1) as pool:
        await PgCosignatureStore(pool).add(40, env.witnesses[1], bad)
    code, out = await verify(env, *flags(env, 0, 1))
    assert code == 1, out
    failed = [line for line in out.splitlines() if line.startswith("FAILED:")]
    assert len(failed) == 1 and "checkpoint 40, has 1" in failed[0], out
    # A stored line with a later timestamp but the same signature is no better.
    moved = CosignatureLine(good.name, good.key_id, good.timestamp + 1, good.signature)
    async with asyncpg.create_pool(env.dsn, min_size=1, max_size=1) as pool:
        await PgCosignatureStore(pool).add(40, env.witnesses[1], moved)
    code, out = await verify(env, *flags(env, 0, 1))
    assert code == 1 and "has 1" in out, out
    await store(env, (40, 1))  # the genuine line counts beside the forged ones
    code, out = await verify(env, *flags(env, 0, 1))
    assert code == 0 and "witnessed: checkpoint 40 " in out, out


async def test_no_checkpoint_with_any_cosignature_fails(env: Env) -> None:
    code, out = await verify(env, *flags(env, 0))
    assert code == 1, out
    assert "FAILED: no stored checkpoint has a valid cosignature from a --witness key" in out


async def test_usage_errors_exit_2(env: Env) -> None:
    code, out = await verify(env, *flags(env, 0, 1), "--quorum", "3")
    assert code == 2 and "--quorum 3: want 0 to 2" in out, out
    code, out = await verify(env, *flags(env, 0, 0), "--quorum", "2")  # one key, twice
    assert code == 2 and "--quorum 2: want 0 to 1" in out, out
    code, out = await verify(env, "--quorum", "1")
    assert code == 2, out
    broken = env.witnesses[0][:-4] + "AAAA"
    code, out = await verify(env, "--witness", broken)
    assert code == 2 and "--witness" in out, out
    code, out = await verify(env, "--witness", base64.b64encode(b"x").decode())
    assert code == 2 and "--witness" in out, out


async def test_without_witness_the_output_is_unchanged(env: Env) -> None:
    await store(env, (40, 0), (40, 1))
    code, out = await verify(env)
    assert code == 0, out
    assert out.startswith("OK: 120 entries and 2 stored checkpoints verified")
    assert "witness" not in out
