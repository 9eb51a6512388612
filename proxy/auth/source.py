"""The key source the [auth] settings name: exactly one of jwks_url, jwks_file, public_key_file."""

from __future__ import annotations

from pathlib import Path

from proxy.auth.jwks_url import JwksUrlSource, SessionArg
from proxy.auth.keys import JwksFileSource, PemKeySource


def key_source_from_config(
    jwks_url: str | None,
    jwks_file: str | Path | None,
    public_key_file: str | Path | None,
    *,
    session: SessionArg = None,
    cache_ttl_s: float = 300,
    min_refetch_interval_s: float = 30,
    timeout_s: float = 5,
) -> PemKeySource | JwksFileSource | JwksUrlSource:
    """The source named by [auth]; empty strings count as unset (the TOML defaults are "")."""
    given = {
        name: value
        for name, value in (
            ("jwks_url", jwks_url),
            ("jwks_file", jwks_file),
            ("public_key_file", public_key_file),
        )
        if value
    }
    if not given:
        raise ValueError("[auth]: set one of jwks_url, jwks_file, public_key_file (none is set)")
    if len(given) > 1:
        raise ValueError(
            "[auth]: set only one of jwks_url, jwks_file, public_key_file "
            f"({' and '.join(given)} are set)"
        )
    if jwks_url:
        return JwksUrlSource(
            jwks_url,
            session,
            cache_ttl_s=cache_ttl_s,
            min_refetch_interval_s=min_refetch_interval_s,
            timeout_s=timeout_s,
        )
    if jwks_file:
        return JwksFileSource(jwks_file)
    assert public_key_file
    return PemKeySource(public_key_file)
