"""Authentication: key sources and bearer-token verification (SPEC §5)."""

from __future__ import annotations

from proxy.auth.jwks_url import JwksUrlSource
from proxy.auth.keys import (
    JwksFileSource,
    KeyNotFound,
    KeySetUnavailable,
    KeySource,
    PemKeySource,
    PublicKey,
)
from proxy.auth.source import key_source_from_config
from proxy.auth.tokens import TokenVerifier, generate_dev_keypair, mint_token, parse_ttl

__all__ = [
    "JwksFileSource",
    "JwksUrlSource",
    "KeyNotFound",
    "KeySetUnavailable",
    "KeySource",
    "PemKeySource",
    "PublicKey",
    "TokenVerifier",
    "generate_dev_keypair",
    "key_source_from_config",
    "mint_token",
    "parse_ttl",
]
