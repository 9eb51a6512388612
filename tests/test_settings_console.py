"""The console's settings: its URLs go into a Content-Security-Policy, so each must be an
https origin (http only on loopback); the demo's sign-in is no setting at all."""

from __future__ import annotations

import pytest

from proxy.console.csp import console_csp
from proxy.settings import SettingsError, load_settings, url_origin


def test_url_origin() -> None:
    assert url_origin("https://idp.example.org/realms/x") == "https://idp.example.org"
    assert url_origin("https://u:p@idp.example.org:8443/") == "https://idp.example.org:8443"
    assert url_origin("http://127.0.0.1:9000/x") == "http://127.0.0.1:9000"
    assert url_origin("https://{s}.tile.example.org/{z}/{x}/{y}.png") == (
        "https://*.tile.example.org"
    )
    for bad in ("http://idp.example.org", "javascript:alert(1)", "idp.example.org", ""):
        assert url_origin(bad) is None, bad


def test_environment_and_defaults() -> None:
    s = load_settings(
        env={
            "ALPR_PROXY_AUTH_CONSOLE_CLIENT_ID": "console",
            "ALPR_PROXY_AUTH_ISSUER": "https://idp.example.org",
            "ALPR_PROXY_AUTH_CONSOLE_SCOPES": "openid, alpr",
            "ALPR_PROXY_CONSOLE_TILE_URL": "https://tiles.example.org/{z}/{x}/{y}.png",
        }
    )
    assert s.auth.console_scopes == ["openid", "alpr"]
    csp = console_csp(s)
    assert "connect-src 'self' https://idp.example.org;" in csp  # oidc_issuer empty: issuer
    assert "img-src 'self' https://tiles.example.org;" in csp


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"auth": {"console_client_id": "c", "issuer": "http://idp.example.org"}}, "oidc_issuer"),
        ({"auth": {"console_client_id": "c", "oidc_issuer": "ftp://x"}}, "oidc_issuer"),
        ({"console": {"tile_url": "http://tiles.example.org/{z}.png"}}, "tile_url"),
    ],
)
def test_an_unsafe_url_stops_the_start(overrides: dict[str, dict[str, str]], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(env={}, overrides=overrides)


def test_the_demo_sign_in_cannot_be_configured() -> None:
    for section in ("auth", "console"):
        with pytest.raises(SettingsError):
            load_settings(env={}, overrides={section: {"demo_sign_in": True}})
    ignored = load_settings(env={"ALPR_PROXY_CONSOLE_DEMO_SIGN_IN": "true"})
    assert not hasattr(ignored.console, "demo_sign_in")
