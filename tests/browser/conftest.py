"""Browser tests: Playwright for Python driving Debian's Chromium (never a downloaded build),
against servers the test session starts on 127.0.0.1.

- `browser`: one Chromium for the session (skipped, saying why, without Chromium or Playwright);
- `page`: a fresh context per test; the test fails if the page logged an error to the console
  (a Content-Security-Policy violation is one) or threw;
- `public_server`: the proxy with the test suite's token key (searches seeded by the tests);
- `console_server`: the proxy signing in through a real OpenID provider (tests/oidc/);
- `shoot(page, name)`: a full-page screenshot in test-artifacts/screenshots/ (CI keeps them).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from proxy.app import create_app
from proxy.console.demo_sign_in import DemoSignIn, DemoUser
from proxy.demo.embedded import free_port
from proxy.settings import load_settings
from tests.conftest import AUDIENCE, ISSUER, LOG_ORIGIN
from tests.http.conftest import NOW, make_client, policy_text, seeded_store
from tests.oidc.provider import OidcProvider, node_missing_reason, running_provider
from tests.pg import Databases

__all__ = ["make_client", "seeded_store"]

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="Playwright is not installed (pip install -e '.[test]')"
)
CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# The OpenID provider's users: the claims the proxy requires (SPEC §5) ride in its tokens.
DEMO_USERS = (
    DemoUser("det.demo", "CA0010900", "Oakland Police Department", ("investigator",)),
    DemoUser("audit.demo", "CA0010900", "Oakland Police Department", ("auditor",)),
)
OWN_ORIGINS: set[str] = set()  # the proxies this session started (added by _start)
OIDC_USERS = {
    "det.alvarez": {"ori": "CA0010900", "roles": ["investigator"], "name": "Det. Ana Alvarez"},
}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install -y chromium)")
    async with playwright_api.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    tab = await context.new_page()
    errors: list[str] = []

    def console(message: Any) -> None:
        # Our servers' pages only (the provider's login page is the library's own); the
        # browser's automatic /favicon.ico request is not the page's doing.
        source = str(message.location.get("url", ""))
        if (
            message.type == "error"
            and tab.url.startswith(tuple(OWN_ORIGINS))
            and "favicon" not in source
        ):
            errors.append(f"{tab.url}: {message.text} ({source})")

    tab.on("console", console)
    tab.on("pageerror", lambda e: errors.append(f"{tab.url}: {e}"))
    yield tab
    await context.close()
    assert errors == [], errors


async def shoot(tab: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await tab.screenshot(path=str(path), full_page=True)
    return path


@dataclass(frozen=True)
class Server:
    url: str
    server: TestServer

    def at(self, path: str) -> str:
        return self.url + path


async def _start(
    tmp: Path,
    dbs: Databases,
    store: str,
    log_keys: tuple[Path, str],
    port: int,
    auth: Any,
    demo: DemoSignIn | None = None,
) -> Server:
    policy = tmp / "policy.toml"
    policy.write_text(policy_text(1000))
    _, audit_dsn = await dbs.fresh_audit()
    overrides: dict[str, dict[str, Any]] = {
        "database": {"store_dsn": store, "audit_dsn": audit_dsn},
        "auth": {"audience": AUDIENCE, **auth},
        "policy": {"file": str(policy)},
        "log": {
            "origin": LOG_ORIGIN,
            "signing_key_file": str(log_keys[0]),
            "checkpoint_interval_s": 0.2,
        },
    }
    settings = load_settings(env={}, overrides=overrides)
    app = create_app(settings, clock=lambda: NOW, demo_sign_in=demo)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    OWN_ORIGINS.add(f"http://127.0.0.1:{port}/")
    return Server(f"http://127.0.0.1:{port}", server)


@pytest.fixture(scope="session")
async def public_server(
    tmp_path_factory: pytest.TempPathFactory,
    dbs: Databases,
    seeded_store: str,
    dev_keys: tuple[Path, Path],
    log_keys: tuple[Path, str],
) -> AsyncIterator[Server]:
    auth = {"issuer": ISSUER, "public_key_file": str(dev_keys[1]), "algorithms": ["EdDSA"]}
    tmp = tmp_path_factory.mktemp("public-server")
    # As `alpr-proxy demo` runs it: the console with its demo sign-in, the suite's token key.
    demo = DemoSignIn(DEMO_USERS, dev_keys[0].read_bytes(), ISSUER, AUDIENCE)
    started = await _start(tmp, dbs, seeded_store, log_keys, free_port(), auth, demo)
    yield started
    await started.server.close()


@pytest.fixture(scope="session")
def oidc_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
async def oidc_provider(oidc_port: int) -> AsyncIterator[OidcProvider]:
    if (reason := node_missing_reason()) is not None:
        pytest.skip(reason)
    callback = f"http://127.0.0.1:{oidc_port}/console/callback"
    async with running_provider([callback], OIDC_USERS) as provider:
        yield provider


@pytest.fixture(scope="session")
async def console_server(
    tmp_path_factory: pytest.TempPathFactory,
    dbs: Databases,
    seeded_store: str,
    log_keys: tuple[Path, str],
    oidc_provider: OidcProvider,
    oidc_port: int,
) -> AsyncIterator[Server]:
    auth = {
        "issuer": oidc_provider.issuer,
        "jwks_url": oidc_provider.jwks_url,
        "algorithms": ["ES256"],
        "console_client_id": oidc_provider.client_id,
        "console_scopes": ["openid", "profile", "alpr"],
        "console_resource": oidc_provider.resource,
    }
    tmp = tmp_path_factory.mktemp("console-server")
    started = await _start(tmp, dbs, seeded_store, log_keys, oidc_port, auth)
    yield started
    await started.server.close()
