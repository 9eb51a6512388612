"""Deployment files: a small non-root image with a readiness healthcheck, no secrets baked in,
and a compose stack wired the way the README describes. (No Docker engine runs here.)"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_image_runs_as_non_root_with_readiness_healthcheck():
    assert re.search(r"^USER 10001$", DOCKERFILE, re.M)
    assert "HEALTHCHECK" in DOCKERFILE and "/readyz" in DOCKERFILE
    assert DOCKERFILE.count("FROM ") == 2  # build stage + slim runtime
    assert "[demo]" not in DOCKERFILE and "[test]" not in DOCKERFILE  # no embedded PostgreSQL


def test_no_secrets_baked_into_the_image():
    for pattern in (
        r"COPY .*\.key",
        r"COPY .*\.pem",
        r"ENV .*(PASSWORD|SECRET|TOKEN)",
        r"COPY .*deploy",
    ):
        assert not re.search(pattern, DOCKERFILE, re.I), pattern
    ignored = (ROOT / ".dockerignore").read_text()
    assert ".git" in ignored and "tests" in ignored


def test_compose_mounts_config_read_only_and_keeps_ports_on_loopback():
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert {"postgres", "migrate", "proxy", "prometheus"} <= set(services)
    proxy = services["proxy"]
    assert all(v.endswith(":ro") for v in proxy["volumes"])
    assert all(p.startswith("127.0.0.1:") for p in proxy["ports"])
    assert proxy["read_only"] is True
    assert services["migrate"]["command"][0] == "migrate"
    assert "POSTGRES_PASSWORD" not in services["postgres"]["environment"]  # a secret file only
    assert (ROOT / "deploy" / "initdb" / "01-databases.sql").exists()


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint not installed")
def test_dockerfile_passes_hadolint():
    result = subprocess.run(
        ["hadolint", str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_metrics_are_scraped_from_their_own_listener_and_not_published():
    yaml = pytest.importorskip("yaml")
    from proxy.settings import load_settings

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    proxy = services["proxy"]
    port = proxy["environment"]["ALPR_PROXY_METRICS_LISTEN"].rpartition(":")[2]
    assert all(not p.endswith(f":{port}") for p in proxy["ports"])  # not on the host
    assert all(p.endswith(":8080") for p in proxy["ports"])
    scrape = yaml.safe_load((ROOT / "ops" / "prometheus" / "prometheus.yml").read_text())
    (job,) = scrape["scrape_configs"]
    assert job["static_configs"][0]["targets"] == [f"proxy:{port}"]
    example = ROOT / "deploy" / "alpr-proxy.toml.example"
    settings = load_settings(example, env={})
    assert settings.metrics.address[1] == int(port) != settings.server.port
