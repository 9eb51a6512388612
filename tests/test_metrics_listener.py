"""SPEC §9a: /metrics is served on its own listener only (404 on the API port), optionally
behind a bearer token, and no metric counts withheld reads."""

# ruff: noqa: F811
from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from proxy.http.health import refresh_gauges
from proxy.http.metrics_listener import metrics_app, read_token
from proxy.http.openapi import openapi_document
from proxy.settings import SettingsError

# The HTTP tests' fixtures, for this module outside tests/http (test arguments "redefine" them).
from tests.http.conftest import make_client, seeded_store  # noqa: F401
from tests.http.search_helpers import bearer, body, entry
from tests.pg import Databases
from tests.test_metrics import parse, value

# Words only a withheld-read series could carry (fates, the audit outcome's reasons).
_WITHHELD = ("withheld", "sharing", "sensitive_location", "retention")


async def listener(api: web.Application | None = None, token: bytes | None = None) -> TestClient:
    refresh = refresh_gauges(api) if api is not None else None
    client: TestClient = TestClient(TestServer(metrics_app(token=token, refresh=refresh)))
    await client.start_server()
    return client


async def test_the_api_port_answers_404_for_metrics(make_client):
    client = await make_client()
    resp = await client.get("/metrics")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    assert "/metrics" not in openapi_document()["paths"]


async def test_the_listener_serves_metrics_and_no_withheld_reads(
    make_client, make_token, dbs: Databases
):
    client = await make_client()
    allowed = await client.post("/v1/search", json=body(), headers=bearer(make_token()))
    assert allowed.status == 200
    result = await allowed.json()
    outcome = (await entry(dbs.audit_admin, result["audit_index"]))["outcome"]
    assert outcome["returned"] == len(result["reads"]) > 0
    assert sum(outcome["withheld"].values()) > 0  # the search did withhold reads

    scraper = await listener(client.server.app)
    try:
        resp = await scraper.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text = await resp.text()
    finally:
        await scraper.close()
    s = parse(text)
    assert value(s, "alpr_proxy_searches_total", decision="allowed", reason="none") >= 1
    assert value(s, "alpr_proxy_reads_total", fate="returned") >= outcome["returned"]
    assert value(s, "alpr_proxy_ready") == 1  # refreshed from the API app at scrape time
    reads = {dict(labels).get("fate") for (name, labels) in s if name == "alpr_proxy_reads_total"}
    assert reads == {"returned"}
    for (name, labels), _ in s.items():
        # A refused search's reason (e.g. sensitive_location) is what its requester was told;
        # any other label naming a withheld reason would count reads nobody saw.
        told = {"reason"} if name.startswith("alpr_proxy_searches_") else set()  # _total, _created
        described = name + " " + " ".join(f"{k}={v}" for k, v in labels if k not in told)
        assert not any(word in described for word in _WITHHELD), described


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer wrong-token", "Basic czNjcmV0LXRva2Vu", "bearer s3cret"]
)
async def test_a_configured_token_is_required(header: str | None):
    scraper = await listener(token=b"s3cret-token")
    try:
        headers = {"Authorization": header} if header else {}
        resp = await scraper.get("/metrics", headers=headers)
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "unauthenticated"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        for good in ("Bearer s3cret-token", "bearer s3cret-token"):
            ok = await scraper.get("/metrics", headers={"Authorization": good})
            assert ok.status == 200 and "alpr_proxy_searches_total" in await ok.text()
    finally:
        await scraper.close()


async def test_the_listener_serves_nothing_else():
    scraper = await listener()
    try:
        for path in ("/v1/search", "/healthz", "/openapi.json"):
            resp = await scraper.get(path)
            assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    finally:
        await scraper.close()


def test_token_file_is_read_and_checked(tmp_path: Path):
    assert read_token("") is None
    path = tmp_path / "metrics-token"
    path.write_text("  abc123\n")
    assert read_token(str(path)) == b"abc123"
    path.write_text("\n")
    with pytest.raises(SettingsError, match=r"bearer_token_file.*empty"):
        read_token(str(path))
    with pytest.raises(SettingsError, match="bearer_token_file"):
        read_token(str(tmp_path / "missing"))


def test_no_dashboard_or_alert_reads_a_withheld_series():
    ops = Path(__file__).resolve().parents[1] / "ops"
    files = [ops / "grafana" / "alpr-proxy.json", *sorted((ops / "prometheus").glob("*.yml"))]
    for path in files:
        text = path.read_text().replace('\\"', '"')
        assert "withheld" not in text.lower() or "in no metric" in text, path
        assert "by (fate)" not in text, path
        for selector in re.findall(r"alpr_proxy_reads_total(\{[^}]*\})?", text):
            assert 'fate="returned"' in selector, (path, selector)
