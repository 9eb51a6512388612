"""The console's Content-Security-Policy, from the settings: scripts, styles and images from
this origin only; fetch() to this origin and the IdP's (discovery, token endpoint); the tile
server's origin for images only when one is configured. Nothing inline, nothing else."""

from __future__ import annotations

from proxy.settings import Settings, url_origin


def console_csp(settings: Settings) -> str:
    connect = ["'self'"]
    if settings.auth.console_client_id:
        idp = url_origin(settings.auth.oidc_issuer or settings.auth.issuer)
        if idp is not None:  # load_settings refuses any other kind of URL
            connect.append(idp)
    images = ["'self'"]
    if settings.console.tile_url and (tiles := url_origin(settings.console.tile_url)):
        images.append(tiles)
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {' '.join(images)}",
            f"connect-src {' '.join(connect)}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
