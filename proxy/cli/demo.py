"""`alpr-proxy demo`: an embedded PostgreSQL, synthetic reads, a realistic policy, a live server.

Everything lives under --data-dir and is reused on the next run (database, keys, policy), so a
restart keeps the audit log growing. It runs three example searches against itself, prints
what came back and the audit entries they produced, then prints the same as curl commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiohttp import web

from proxy import loops
from proxy.app import create_app
from proxy.audit.note import generate_signer_key
from proxy.auth.tokens import generate_dev_keypair
from proxy.cli.credentials import write_private, write_secret
from proxy.cli.migrate import migrate_all
from proxy.console.demo_sign_in import DemoSignIn, DemoUser
from proxy.demo import policy as demo
from proxy.demo.embedded import EmbeddedPostgres, free_port
from proxy.demo.examples import run_examples
from proxy.demo.grants import GRANTS_DIR, IssuedGrant, OwnerKey, issue_grants, owner_keys, vkeys
from proxy.demo.seed import seed_reads
from proxy.demo.witnesses import DemoWitness, prepare_witnesses, running_witnesses
from proxy.http.badrequest import api_runner
from proxy.http.health import refresh_gauges
from proxy.http.metrics_listener import metrics_app
from proxy.settings import Settings, load_settings

ISSUER = "https://idp.demo.alpr-proxy.invalid"
ORIGIN = "demo.alpr-proxy.invalid/audit"


def _config_text(
    pg: EmbeddedPostgres, port: int, metrics_port: int, witnesses: Sequence[DemoWitness]
) -> str:
    return f"""# Written by `alpr-proxy demo`; rewritten on every run.
[server]
host = "127.0.0.1"
port = {port}

[database]
store_dsn = "{pg.dsn("alpr_store", "alpr_proxy_store")}"
audit_dsn = "{pg.dsn("alpr_audit", "alpr_proxy_audit")}"
migrate_store_dsn = "{pg.dsn("alpr_store")}"
migrate_audit_dsn = "{pg.dsn("alpr_audit")}"
purge_dsn = "{pg.dsn("alpr_store", "alpr_proxy_purge")}"

[auth]
issuer = "{ISSUER}"
audience = "alpr-proxy"
public_key_file = "dev-jwt.pub"
algorithms = ["EdDSA"]
dev_private_key_file = "dev-jwt.key"

[policy]
file = "policy.toml"
grants_dir = "{GRANTS_DIR}"

[log]
origin = "{ORIGIN}"
signing_key_file = "log-signing.key"
checkpoint_interval_s = 2
witness_quorum = 2
max_unwitnessed_s = 60

[metrics]
listen = "127.0.0.1:{metrics_port}"
""" + "".join(w.config_toml() for w in witnesses)


def _print_grants(grants: Sequence[IssuedGrant], keys: Mapping[str, OwnerKey]) -> None:
    print("owners' signed sharing grants (the demo made their keys and signed for them):")
    for g in grants:
        key = keys[g.ori]
        print(f"  {g.ori}: grant key {key.vkey}")
        state = "signed now" if g.issued_now else "in force, kept"
        print(f"    grant {g.path} ({state}); private key {key.key_file}")


async def _prepare(
    data_dir: Path, pg: EmbeddedPostgres, ports: tuple[int, int, int, int], now: datetime
) -> tuple[Settings, list[DemoWitness]]:
    """Databases, keys, policy and config (API, metrics and the two witnesses' `ports`),
    migrated and seeded."""
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
    keys = owner_keys(data_dir)
    if not (data_dir / "policy.toml").exists():
        (data_dir / "policy.toml").write_text(demo.demo_policy_toml(now, vkeys(keys)))
    policy_text = (data_dir / "policy.toml").read_text(encoding="utf-8")
    _print_grants(issue_grants(data_dir, policy_text, keys, ORIGIN, now), keys)
    config = data_dir / "alpr-proxy.toml"
    witnesses = prepare_witnesses(data_dir, ports[2:])
    # Its DSNs carry the database passwords.
    write_private(config, _config_text(pg, ports[0], ports[1], witnesses))
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
    return settings, witnesses


async def _serve(
    settings: Settings, witnesses: Sequence[DemoWitness], data_dir: Path, once: bool
) -> None:
    vkey = (data_dir / "log-verifier.key").read_text(encoding="utf-8").strip()
    async with running_witnesses(witnesses, settings.log.origin, vkey):
        print("\nwitnesses (in-process; a checkpoint needs both cosignatures to be published):")
        for w in witnesses:
            print(f"  {w.label}: {w.url}  key {w.signer.vkey}")
        await _serve_proxy(settings, data_dir, once)


def _demo_sign_in(settings: Settings) -> DemoSignIn:
    """The console's demo sign-in: the demo's users, tokens minted with its own dev key."""
    names = {a.ori: a.name for a in demo.AGENCIES}
    users = (demo.DEMO_INVESTIGATOR, demo.DEMO_SUPERVISOR, demo.DEMO_AUDITOR, demo.DEMO_OVERSIGHT)
    return DemoSignIn(
        users=tuple(DemoUser(u.sub, u.ori, names[u.ori], u.roles) for u in users),
        private_key_pem=Path(settings.auth.dev_private_key_file).read_bytes(),
        issuer=settings.auth.issuer,
        audience=settings.auth.audience,
    )


async def _serve_proxy(settings: Settings, data_dir: Path, once: bool) -> None:
    now = datetime.now(UTC)
    # The only place a DemoSignIn is made: no setting can offer it on another server.
    app = create_app(settings, demo_sign_in=_demo_sign_in(settings))
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
        await run_examples(settings, base_url, now, data_dir)
        if once:
            return
        print(f"\nConsole (demo sign-in, made-up users): {base_url}/console/")
        print(f"Transparency pages (public): {base_url}/transparency")
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
        ports = (port, free_port(), free_port(), free_port())
        settings, witnesses = loops.run(_prepare(root, pg, ports, now))
        with contextlib.suppress(KeyboardInterrupt):
            loops.run(_serve(settings, witnesses, root, once))
    except OSError as exc:
        print(f"alpr-proxy demo: {exc}", file=sys.stderr)
        return 2
    finally:
        try:
            pg.stop()
        except subprocess.CalledProcessError as exc:
            print(f"alpr-proxy demo: stopping PostgreSQL failed: {exc}", file=sys.stderr)
    return 0
