"""Settings: TOML + ALPR_PROXY_<SECTION>_<KEY> overrides, validated once, nothing silent."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.settings import SettingsError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "alpr-proxy.toml"
    p.write_text(text)
    return p


def test_file_values_env_overrides_and_relative_paths(tmp_path: Path):
    config = write(
        tmp_path,
        '[server]\nport = 9000\n[policy]\nfile = "policy.toml"\n'
        '[log]\nsigning_key_file = "/abs/log.key"\n',
    )
    s = load_settings(
        config,
        env={
            "ALPR_PROXY_SERVER_WORKERS": "2",
            "ALPR_PROXY_AUTH_ALGORITHMS": "EdDSA, ES256",
            "ALPR_PROXY_DATABASE_AUDIT_DSN": "postgresql://a@h/audit",
        },
    )
    assert s.server.port == 9000 and s.server.workers == 2
    assert s.auth.algorithms == ["EdDSA", "ES256"]
    assert s.database.audit_dsn == "postgresql://a@h/audit"
    assert s.policy.file == str(tmp_path / "policy.toml")  # relative to the config file
    assert s.log.signing_key_file == "/abs/log.key"


def test_defaults_match_the_spec():
    s = load_settings(env={})
    assert (s.server.host, s.server.port, s.server.workers) == ("127.0.0.1", 8080, 1)
    assert s.auth.audience == "alpr-proxy"
    assert s.auth.algorithms == ["RS256", "ES256", "EdDSA"]
    assert s.log.checkpoint_interval_s == 5


@pytest.mark.parametrize(
    ("text", "env", "fragment"),
    [
        ("[server]\nprot = 1\n", {}, "prot"),
        ("[sever]\nport = 1\n", {}, "sever"),
        ("[server]\nport = 'x'\n", {}, "port"),
        ("", {"ALPR_PROXY_SERVER_PORT": "eighty"}, "port"),
        ("[server]\nworkers = 0\n", {}, "workers"),
        ("[auth]\njwks_file = 'a'\npublic_key_file = 'b'\n", {}, "exactly one"),
        ("not toml [", {}, "cannot read"),
    ],
)
def test_invalid_config_is_refused(tmp_path: Path, text: str, env: dict[str, str], fragment: str):
    with pytest.raises(SettingsError, match=fragment):
        load_settings(write(tmp_path, text), env=env)


def test_metrics_listener_defaults_to_loopback_and_takes_env_overrides(tmp_path: Path):
    s = load_settings(env={})
    assert (s.metrics.listen, s.metrics.bearer_token_file) == ("127.0.0.1:9464", "")
    assert s.metrics.address == ("127.0.0.1", 9464)
    config = write(tmp_path, '[metrics]\nbearer_token_file = "metrics-token"\n')
    s = load_settings(config, env={"ALPR_PROXY_METRICS_LISTEN": "[::1]:9500"})
    assert s.metrics.address == ("::1", 9500)
    assert s.metrics.bearer_token_file == str(tmp_path / "metrics-token")  # relative to config
    s = load_settings(env={"ALPR_PROXY_METRICS_BEARER_TOKEN_FILE": "/run/secrets/m"})
    assert s.metrics.bearer_token_file == "/run/secrets/m"


@pytest.mark.parametrize(
    ("listen", "fragment"),
    [
        ("9464", "host:port"),
        ("127.0.0.1:", "host:port"),
        (":9464", "host:port"),
        ("127.0.0.1:http", "host:port"),
        ("127.0.0.1:70000", "port"),
        ("127.0.0.1:8080", "API port"),
        ("[::1:9464", "host:port"),
    ],
)
def test_invalid_metrics_listen_is_refused(listen: str, fragment: str):
    with pytest.raises(SettingsError, match=f"metrics.listen.*{fragment}"):
        load_settings(env={"ALPR_PROXY_METRICS_LISTEN": listen})


def test_grants_dir_is_relative_to_the_config_file_and_empty_by_default(tmp_path: Path):
    assert load_settings(env={}).policy.grants_dir == ""
    config = write(tmp_path, '[policy]\ngrants_dir = "grants"\n')
    assert load_settings(config, env={}).policy.grants_dir == str(tmp_path / "grants")
    env = {"ALPR_PROXY_POLICY_GRANTS_DIR": "/etc/alpr-proxy/grants"}
    assert load_settings(config, env=env).policy.grants_dir == "/etc/alpr-proxy/grants"
