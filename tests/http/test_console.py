"""The console's routes: its CSP, where `/` sends a browser, its public configuration, the
static files (nothing outside them), the demo's sign-in (only when the demo passes it), and
every endpoint the console's JavaScript calls documented in /openapi.json."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from proxy.app import create_app
from proxy.console.demo_sign_in import DemoSignIn, DemoUser
from proxy.http.state import SETTINGS
from tests.conftest import AUDIENCE, ISSUER
from tests.console.test_static_files import fetched_paths
from tests.http.search_helpers import bearer, body

STRICT = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


async def test_without_a_console_root_goes_to_transparency(client):  # type: ignore[no-untyped-def]
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/transparency"
    page = await client.get("/console/")
    assert page.status == 200 and page.content_type == "text/html"
    assert page.headers["Content-Security-Policy"] == STRICT
    assert (await client.get("/v1/console/config")).headers["Content-Security-Policy"] == STRICT
    config = await (await client.get("/v1/console/config")).json()
    assert config == {"oidc": None, "demo_users": None, "tile_url": None}


async def test_with_a_console_the_idp_and_tiles_are_the_only_other_origins(make_client):  # type: ignore[no-untyped-def]
    client = await make_client(
        auth={
            "console_client_id": "console",
            "oidc_issuer": "http://127.0.0.1:9999/idp",
            "console_resource": "urn:alpr-proxy",
        },
        console={"tile_url": "https://{s}.tiles.example.org/{z}/{x}/{y}.png"},
    )
    resp = await client.get("/", allow_redirects=False)
    assert resp.headers["Location"] == "/console/"
    csp = (await client.get("/console/")).headers["Content-Security-Policy"]
    assert "connect-src 'self' http://127.0.0.1:9999;" in csp
    assert "img-src 'self' https://*.tiles.example.org;" in csp
    assert "script-src 'self';" in csp and "unsafe" not in csp
    config = await (await client.get("/v1/console/config")).json()
    assert config["oidc"] == {
        "issuer": "http://127.0.0.1:9999/idp",
        "client_id": "console",
        "scopes": ["openid", "profile"],
        "resource": "urn:alpr-proxy",
    }


async def test_only_the_packaged_files_are_served(client):  # type: ignore[no-untyped-def]
    js = await client.get("/console/js/app.js")
    assert js.status == 200 and js.content_type == "text/javascript"
    callback = await client.get("/console/callback?code=x&state=y")
    assert callback.status == 200 and "<title>alpr-proxy console</title>" in await callback.text()
    for path in ("/console/nope.js", "/console/js/../../app.py", "/console/%2e%2e/errors.py"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert (await resp.json())["error"]["code"] == "not_found"
    resp = await client.get("/console", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/console/"


async def test_the_demo_token_endpoint_is_404_outside_the_demo(client):  # type: ignore[no-untyped-def]
    resp = await client.post("/v1/console/demo-token", json={"sub": "det.alvarez"})
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


def demo_sign_in(private_key: Path) -> DemoSignIn:
    return DemoSignIn(
        users=(DemoUser("det.demo", "CA0010900", "Oakland Police Department", ("investigator",)),),
        private_key_pem=private_key.read_bytes(),
        issuer=ISSUER,
        audience=AUDIENCE,
    )


async def test_the_demo_sign_in_mints_only_for_its_users(client, dev_keys):  # type: ignore[no-untyped-def]
    settings = client.server.app[SETTINGS]
    demo = demo_sign_in(dev_keys[0])
    demo_client: TestClient[Any, Any] = TestClient(
        TestServer(create_app(settings, demo_sign_in=demo))
    )
    await demo_client.start_server()
    try:
        assert (await demo_client.get("/", allow_redirects=False)).headers["Location"] == (
            "/console/"
        )
        config = await (await demo_client.get("/v1/console/config")).json()
        assert config["demo_users"] == [
            {
                "sub": "det.demo",
                "ori": "CA0010900",
                "agency": "Oakland Police Department",
                "roles": ["investigator"],
            }
        ]
        refused = await demo_client.post("/v1/console/demo-token", json={"sub": "someone.else"})
        assert refused.status == 400
        bad = await demo_client.post("/v1/console/demo-token", data=b"[1]")
        assert bad.status == 400
        minted = await demo_client.post("/v1/console/demo-token", json={"sub": "det.demo"})
        token = (await minted.json())["access_token"]
        search = await demo_client.post("/v1/search", json=body(), headers=bearer(token))
        assert search.status == 200
    finally:
        await demo_client.close()


def documented(path: str, templates: set[str]) -> bool:
    """`path` is one of the OpenAPI paths, or an instance of one ({name} = one segment)."""
    return any(re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(t)), path) for t in templates)


async def test_the_console_calls_only_documented_endpoints(client):  # type: ignore[no-untyped-def]
    templates = set((await (await client.get("/openapi.json")).json())["paths"])
    assert documented("/console/callback", templates)
    assert not documented("/v1/no-such-route", templates)
    called = fetched_paths()
    assert "/v1/log/checkpoint" in called
    assert [p for p in sorted(called) if not documented(p, templates)] == []
