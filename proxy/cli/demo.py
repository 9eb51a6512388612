"""`alpr-proxy demo`: an embedded PostgreSQL, synthetic reads, a realistic policy, a live server.

Everything lives under --data-dir and is reused on the next run (database, keys, policy), so a
restart keeps the audit log growing. It runs three example searches against itself, prints
what came back and the audit entries they produced, then prints the same as curl commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web

from proxy import loops
from proxy.app import create_app
from proxy.audit import verify
from proxy.audit.note import generate_signer_key
from proxy.auth.tokens import generate_dev_keypair, mint_token
from proxy.cli.keys import write_secret
from proxy.cli.migrate import migrate_all
from proxy.demo import policy as demo
from proxy.demo import walkthrough
from proxy.demo.embedded import EmbeddedPostgres, free_port
from proxy.demo.seed import seed_reads
from proxy.http.badrequest import api_runner
from proxy.http.health import refresh_gauges
from proxy.http.metrics_listener import metrics_app
from proxy.search.live_policy import load_policy_file
from proxy.settings import Settings, load_settings

ISSUER = "https://idp.demo.alpr-proxy.invalid"
ORIGIN = "demo.alpr-proxy.invalid/audit"


def _config_text(pg: EmbeddedPostgres, port: int, metrics_port: int) -> str:
    return f"""# Written by `alpr-proxy demo`; rewritten on every run.
[server]
host = "127.0.0.1"
port = {port}

[database]
store_dsn = "{pg.dsn("alpr_store", "alpr_proxy_store")}"
audit_dsn = "{pg.dsn("alpr_audit", "alpr_proxy_audit")}"
migrate_store_dsn = "{pg.dsn("alpr_store")}"
migrate_audit_dsn = "{pg.dsn("alpr_audit")}"

[auth]
issuer = "{ISSUER}"
audience = "alpr-proxy"
public_key_file = "dev-jwt.pub"
algorithms = ["EdDSA"]
dev_private_key_file = "dev-jwt.key"

[policy]
file = "policy.toml"

[log]
origin = "{ORIGIN}"
signing_key_file = "log-signing.key"
checkpoint_interval_s = 2

[metrics]
listen = "127.0.0.1:{metrics_port}"
"""


def write_private(path: Path, text: str) -> None:
    """(Over)write a file only its owner can read: it holds passwords or tokens."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


async def _prepare(
    data_dir: Path, pg: EmbeddedPostgres, ports: tuple[int, int], now: datetime
) -> Settings:
    """Databases, keys, policy and config (API and metrics `ports`), migrated and seeded."""
    conn = await asyncpg.connect(pg.dsn())
    try:
        for name in ("alpr_store", "alpr_audit"):
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    if not (data_dir / "dev-jwt.key").exists():
        private, public = generate_dev_keypair()
        write_secret(data_dir / "dev-jwt.key", private)
        (data_dir / "dev-jwt.pub").write_bytes(public)
    if not (data_dir / "log-signing.key").exists():
        skey, vkey = generate_signer_key(ORIGIN)
        write_secret(data_dir / "log-signing.key", (skey + "\n").encode())
        (data_dir / "log-verifier.key").write_text(vkey + "\n")
    if not (data_dir / "policy.toml").exists():
        (data_dir / "policy.toml").write_text(demo.demo_policy_toml(now))
    config = data_dir / "alpr-proxy.toml"
    write_private(config, _config_text(pg, *ports))  # its DSNs carry the database passwords
    settings = load_settings(config, env={})
    await migrate_all(settings)
    store = await asyncpg.connect(settings.database.migrate_store_dsn)
    try:
        summary = await seed_reads(store, now=now)
        # Seeded after the migration's GRANT ... ON ALL TABLES; re-grant for a fresh table.
        await store.execute("GRANT SELECT ON ALL TABLES IN SCHEMA alpr TO alpr_proxy_store")
    finally:
        await store.close()
    print(f"store: {summary.describe()}")
    return settings


def _tokens(settings: Settings) -> dict[str, str]:
    key = Path(settings.auth.dev_private_key_file).read_bytes()
    out = {}
    for label, user in (
        ("INVESTIGATOR", demo.DEMO_INVESTIGATOR),
        ("AUDITOR", demo.DEMO_AUDITOR),
        ("OVERSIGHT", demo.DEMO_OVERSIGHT),
    ):
        out[label] = mint_token(
            key,
            issuer=settings.auth.issuer,
            audience=settings.auth.audience,
            sub=user.sub,
            ori=user.ori,
            roles=list(user.roles),
            ttl_s=8 * 3600,
        )
    return out


def _window(settings: Settings, now: datetime) -> tuple[str, str]:
    """The example searches' from/to: as far back as the purpose allows, through tomorrow."""
    lookback = load_policy_file(settings.policy.file).purposes[demo.DEMO_PURPOSE].max_lookback_days
    return (
        (now - timedelta(days=lookback - 1)).strftime("%Y-%m-%dT00:00:00Z"),
        (now + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z"),
    )


def _examples(window: tuple[str, str]) -> list[tuple[str, dict[str, Any]]]:
    base = {
        "type": "plate",
        "plate": demo.DEMO_PLATE,
        "from": window[0],
        "to": window[1],
        "purpose": demo.DEMO_PURPOSE,
        "case_number": demo.DEMO_CASE_NUMBER,
        "justification": demo.DEMO_JUSTIFICATION,
    }
    return [
        ("An allowed search (Oakland PD homicide investigator)", base),
        (
            "A search refused for a prohibited purpose",
            {
                **base,
                "purpose": "CIVIL_IMMIGRATION",
                "justification": "Locate vehicle of subject with an administrative warrant",
            },
        ),
        (
            "The same search run on behalf of an immigration-enforcement office",
            {**base, "on_behalf_of": {"ori": demo.IMMIGRATION_ORI, "person": "SDDO J. Doe"}},
        ),
        (
            'A justification hiding "ICE" in Cyrillic look-alike letters',
            {**base, "justification": walkthrough.LOOK_ALIKE},
        ),
    ]


def _write_env(
    data_dir: Path, settings: Settings, tokens: dict[str, str], window: tuple[str, str]
) -> None:
    vkey_file = data_dir / "log-verifier.key"
    metrics_host, metrics_port = settings.metrics.address
    values = {
        "ALPR": f"http://{settings.server.host}:{settings.server.port}",
        "METRICS": f"http://{metrics_host}:{metrics_port}",
        **tokens,
        "FROM": window[0],
        "TO": window[1],
    }
    values["VKEY_FILE"] = str(vkey_file)
    write_private(data_dir / walkthrough.ENV_FILE, walkthrough.env_file_text(values))


async def _run_examples(settings: Settings, base_url: str, now: datetime, data_dir: Path) -> None:
    tokens = _tokens(settings)
    window = _window(settings, now)
    _write_env(data_dir, settings, tokens, window)
    async with aiohttp.ClientSession() as http:
        for title, body in _examples(window):
            print(f"\n## {title}")
            async with http.post(
                f"{base_url}/v1/search",
                json=body,
                headers={"Authorization": f"Bearer {tokens['INVESTIGATOR']}"},
            ) as r:
                result = await r.json()
            if r.status == 200:
                reads = result["reads"]
                print(
                    f"-> {r.status}: {len(reads)} reads returned, audit_index "
                    f"{result['audit_index']}, truncated={result['truncated']}"
                )
                for read in reads[:3]:
                    print(f"   {orjson.dumps(read).decode()}")
                index = result["audit_index"]
            else:
                print(f"-> {r.status}: {orjson.dumps(result).decode()}")
                index = result["error"]["audit_index"]
            async with http.get(
                f"{base_url}/v1/log/entries/{index}",
                headers={"Authorization": f"Bearer {tokens['OVERSIGHT']}"},
            ) as r:
                entry = await r.read()
                print(f"# its audit entry {index}:\n-> {entry.decode()}")
        await _prove_included(http, base_url, index, entry, settings)
    env = walkthrough.env_path_for(data_dir)
    print(f"\n# Now by hand: the README's curl walk-through. {env} holds the tokens (8 h).\n")
    print(walkthrough.commands(env), end="")


async def _prove_included(
    http: aiohttp.ClientSession, base_url: str, index: int, entry: bytes, settings: Settings
) -> None:
    """Show that the last entry is in a signed checkpoint, checked by the standalone verifier."""
    vkey = (Path(settings.log.signing_key_file).parent / "log-verifier.key").read_text().strip()
    print("\n## Prove that entry is in the signed, append-only log")
    print(f"# verifier key (give this to oversight, out of band): {vkey}")
    for _ in range(150):  # a checkpoint follows within checkpoint_interval_s (30 s at most)
        async with http.get(f"{base_url}/v1/log/checkpoint") as r:
            note = await r.read()
        if r.status == 200:
            checkpoint = verify.verify_checkpoint(note, vkey, origin=settings.log.origin)
            if checkpoint.size > index:
                break
        await asyncio.sleep(0.2)
    else:
        print("-> no checkpoint covering the entry yet; try again in a few seconds")
        return
    print(f"-> {note.decode()}", end="")
    query = f"index={index}&size={checkpoint.size}"
    async with http.get(f"{base_url}/v1/log/proof/inclusion?{query}") as r:
        proof = verify.parse_inclusion_proof(await r.read())
    verify.verify_inclusion(
        verify.hash_leaf(entry), index, checkpoint.size, proof.hashes, checkpoint.root_hash
    )
    print(
        f"-> verified with proxy/audit/verify.py: entry {index} is included in the log of "
        f"{checkpoint.size} entries signed by {vkey.split('+')[0]}"
    )


async def _serve(settings: Settings, data_dir: Path, once: bool) -> None:
    now = datetime.now(UTC)
    app = create_app(settings)
    runner = api_runner(app, settings.server)
    await runner.setup()
    await web.TCPSite(runner, settings.server.host, settings.server.port).start()
    # Metrics on their own loopback listener, as `serve` runs them (never the API port).
    scrapes = web.AppRunner(metrics_app(token=None, refresh=refresh_gauges(app)), access_log=None)
    await scrapes.setup()
    await web.TCPSite(scrapes, *settings.metrics.address).start()
    base_url = f"http://{settings.server.host}:{settings.server.port}"
    try:
        print(f"\nalpr-proxy demo serving on {base_url} (data in {data_dir})")
        await _run_examples(settings, base_url, now, data_dir)
        if once:
            return
        print(f"\nTransparency pages (public): {base_url}/transparency")
        metrics_host, metrics_port = settings.metrics.address
        print(
            f"Metrics (loopback only, not on the API port): http://{metrics_host}:{metrics_port}/metrics"
        )
        print(f"Config: {data_dir / 'alpr-proxy.toml'}  Policy: {settings.policy.file}")
        print("Serving until Ctrl-C.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await scrapes.cleanup()
        await runner.cleanup()


def run_demo(*, port: int, data_dir: str | None, once: bool) -> int:
    root = Path(data_dir) if data_dir else Path.home() / ".alpr-proxy-demo"
    root = root.resolve()
    port = port or free_port()
    try:
        root.mkdir(parents=True, exist_ok=True)
        pg = EmbeddedPostgres(root / "pg", port=free_port())
        print(f"starting embedded PostgreSQL in {pg.data_dir} ...")
        pg.start()
    except (RuntimeError, OSError) as exc:
        print(f"alpr-proxy demo: {exc}", file=sys.stderr)
        return 2
    try:
        now = datetime.now(UTC)
        settings = loops.run(_prepare(root, pg, (port, free_port()), now))
        with contextlib.suppress(KeyboardInterrupt):
            loops.run(_serve(settings, root, once))
    except OSError as exc:
        print(f"alpr-proxy demo: {exc}", file=sys.stderr)
        return 2
    finally:
        try:
            pg.stop()
        except subprocess.CalledProcessError as exc:
            print(f"alpr-proxy demo: stopping PostgreSQL failed: {exc}", file=sys.stderr)
    return 0
