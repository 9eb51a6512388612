"""What the console's page reads at start (`GET /v1/console/config`): how to sign in and
where map tiles come from. Public by nature: a client id and an issuer URL are not secrets."""

from __future__ import annotations

from typing import Any

from proxy.console.demo_sign_in import DemoSignIn
from proxy.settings import Settings


def public_config(settings: Settings, demo: DemoSignIn | None) -> dict[str, Any]:
    auth = settings.auth
    oidc = None
    if auth.console_client_id:
        oidc = {
            "issuer": auth.oidc_issuer or auth.issuer,
            "client_id": auth.console_client_id,
            "scopes": auth.console_scopes,
            "resource": auth.console_resource or None,
        }
    return {
        "oidc": oidc,
        "demo_users": demo.public_users() if demo is not None else None,
        "tile_url": settings.console.tile_url or None,
    }


def console_configured(settings: Settings, demo: DemoSignIn | None) -> bool:
    """Whether `/` sends a browser to the console (else to the transparency pages)."""
    return bool(settings.auth.console_client_id) or demo is not None
