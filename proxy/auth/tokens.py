"""Bearer-token verification (SPEC §5), plus minting helpers for `alpr-proxy token` and the demo.

The token header is attacker-controlled, so it is parsed only to pick a key, and everything in
it that could choose a verification method is checked against our own configuration first.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.utils import base64url_decode

from proxy.auth.keys import ASYMMETRIC_ALGORITHMS, KeyNotFound, KeySetUnavailable, KeySource
from proxy.errors import ProxyError
from proxy.model import ORI_SYNTAX, ROLES, Principal, is_ori

log = logging.getLogger(__name__)

# Header parameters that would make us fetch or trust a key the token itself names (RFC 8725 §3.10).
_KEY_HEADERS = ("jku", "x5u", "jwk", "x5c")
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", re.ASCII)
_REQUIRED = ["iss", "aud", "exp", "sub"]
# Every pyjwt algorithm name, to tell a typo in the configuration from a refused algorithm.
_KNOWN_ALGORITHMS = frozenset(jwt.algorithms.get_default_algorithms()) | {"none"}


def _fail(message: str) -> ProxyError:
    return ProxyError("unauthenticated", message)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which duplicate wins; a header with two `alg`s is simply refused.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member")
    return result


class TokenVerifier:
    """Turns an `Authorization` header into a Principal, or raises ProxyError("unauthenticated").

    Roles: unknown role names are ignored (an IdP's `roles` claim often serves several
    applications), but a token must carry at least one role this proxy knows.

    Verified tokens are cached by their SHA-256 until they expire (`clock` is checked on every
    hit); a key removed from the key source therefore stops working for new tokens at once and
    for already-seen ones when they expire.
    """

    def __init__(
        self,
        source: KeySource,
        *,
        issuer: str,
        audience: str,
        algorithms: Iterable[str],
        leeway_s: float = 30,
        max_token_bytes: int = 8192,
        cache_size: int = 10000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        configured = set(algorithms)
        unknown = sorted(configured - _KNOWN_ALGORITHMS)
        if unknown:
            raise ValueError(f"[auth] algorithms: unknown algorithm(s) {', '.join(unknown)}")
        refused = sorted(configured - ASYMMETRIC_ALGORITHMS)
        if refused:
            # `none` and HMAC are never accepted (SPEC §5); say so rather than fail silently.
            log.warning("[auth] algorithms: ignoring %s (never accepted)", ", ".join(refused))
        self._algorithms = frozenset(configured & ASYMMETRIC_ALGORITHMS)
        if not self._algorithms:
            raise ValueError(
                "[auth] algorithms: no usable algorithm; allowed are "
                + ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
            )
        if not issuer or not audience:
            raise ValueError("[auth]: issuer and audience must be set")
        self._source = source
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_s
        self._max_bytes = max_token_bytes
        self._cache_size = cache_size
        self._clock = clock
        self._cache: OrderedDict[bytes, Principal] = OrderedDict()

    @property
    def algorithms(self) -> frozenset[str]:
        return self._algorithms

    async def verify(self, authorization_header: str | None) -> Principal:
        token = self._bearer_token(authorization_header)
        digest = hashlib.sha256(token.encode("ascii")).digest()
        cached = self._cache.get(digest)
        if cached is not None:
            if self._clock() >= cached.expires_at + self._leeway:
                del self._cache[digest]
                raise _fail("token expired")
            self._cache.move_to_end(digest)
            return cached
        principal = await self._verify_uncached(token)
        if self._cache_size > 0:
            self._cache[digest] = principal
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return principal

    def _bearer_token(self, header: str | None) -> str:
        if not header:
            raise _fail("missing Authorization header")
        # Bounded before any parsing, so junk of any size costs the same.
        if len(header) > self._max_bytes + 16:
            raise _fail("token too large")
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise _fail("Authorization header must be 'Bearer <token>'")
        token = parts[1]
        if len(token) > self._max_bytes:
            raise _fail("token too large")
        if not _TOKEN_SHAPE.fullmatch(token):
            raise _fail("malformed token")
        return token

    def _header(self, token: str) -> tuple[str, str | None]:
        """The token's alg and kid, after refusing every header we will not honour."""
        try:
            raw = base64url_decode(token.split(".", 1)[0].encode("ascii"))
            header = json.loads(raw, object_pairs_hook=_no_duplicates)
        except (ValueError, binascii.Error, RecursionError):
            raise _fail("malformed token header") from None
        if not isinstance(header, dict):
            raise _fail("malformed token header")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise _fail("token algorithm not allowed")
        for name in _KEY_HEADERS:
            if name in header:
                raise _fail(f"token header parameter '{name}' not allowed")
        if "crit" in header:
            raise _fail("token header parameter 'crit' not supported")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _fail("malformed token header")
        return alg, kid

    async def _verify_uncached(self, token: str) -> Principal:
        alg, kid = self._header(token)
        try:
            key = await self._source.get_key(kid, alg)
        except KeySetUnavailable:
            raise _fail("signing keys unavailable") from None
        except KeyNotFound:
            raise _fail("signing key not found") from None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],  # the one alg we checked and matched to the key's type
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": _REQUIRED, "enforce_minimum_key_length": True},
            )
        except jwt.InvalidSignatureError:
            raise _fail("signature invalid") from None
        except jwt.ExpiredSignatureError:
            raise _fail("token expired") from None
        except jwt.ImmatureSignatureError:
            raise _fail("token not yet valid") from None
        except jwt.InvalidIssuerError:
            raise _fail("issuer mismatch") from None
        except jwt.InvalidAudienceError:
            raise _fail("audience mismatch") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _fail(f"token lacks claim '{exc.claim}'") from None
        except jwt.PyJWTError:
            raise _fail("malformed token") from None
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        sub, ori, roles, exp = (claims.get(k) for k in ("sub", "ori", "roles", "exp"))
        if not isinstance(sub, str) or not sub:
            raise _fail("invalid claim 'sub'")
        if ori is None:
            raise _fail("token lacks claim 'ori'")
        if not is_ori(ori):  # "*" or "" would collide with the reports' all-agencies scope
            raise _fail("invalid claim 'ori'")
        if roles is None:
            raise _fail("token lacks claim 'roles'")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise _fail("invalid claim 'roles'")
        known = frozenset(roles) & ROLES
        if not known:
            raise _fail("token carries no known role")
        # pyjwt accepts any int()-able exp; we keep it as a number, so insist on one.
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            raise _fail("invalid claim 'exp'")
        iss = claims.get("iss")  # required and checked against [auth] issuer by jwt.decode
        return Principal(
            sub=sub,
            ori=ori,
            roles=known,
            expires_at=float(exp),
            iss=iss if isinstance(iss, str) else "",
        )


_TTL = re.compile(r"\s*([0-9]{1,9})\s*([smhd]?)\s*", re.ASCII | re.IGNORECASE)
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """Seconds in a TTL such as "1h", "30m", "45s", "2d" or "3600"; ValueError on anything else."""
    match = _TTL.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid TTL {text!r}: use e.g. 3600, 45s, 30m, 1h or 2d")
    seconds = int(match[1]) * _TTL_UNITS[match[2].lower()]
    if seconds <= 0:
        raise ValueError(f"invalid TTL {text!r}: must be positive")
    return seconds


_SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
_EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


def _signing_key(private_key_pem: bytes) -> tuple[_SigningKey, str]:
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        return key, "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _EC_ALGS:
        return key, _EC_ALGS[key.curve.name]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key, "EdDSA"
    raise ValueError("private key must be RSA, EC (P-256/384/521) or Ed25519")


def mint_token(
    private_key_pem: bytes,
    *,
    issuer: str,
    audience: str,
    sub: str,
    ori: str,
    roles: Iterable[str],
    ttl_s: int,
    kid: str | None = None,
    now: float | None = None,
) -> str:
    """A signed token for `alpr-proxy token` and tests; the alg follows the key type."""
    role_list = sorted(set(roles))
    if not role_list or not set(role_list) <= ROLES:
        raise ValueError(f"roles must be a non-empty subset of {', '.join(sorted(ROLES))}")
    if not sub:
        raise ValueError("sub must be non-empty")
    if not is_ori(ori):
        raise ValueError(f"ori must be an ORI: {ORI_SYNTAX}")
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    key, alg = _signing_key(private_key_pem)
    iat = int(time.time() if now is None else now)
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "ori": ori,
        "roles": role_list,
        "iat": iat,
        "exp": iat + ttl_s,
        "jti": secrets.token_urlsafe(16),
    }
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def generate_dev_keypair() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as (PKCS#8 private PEM, SubjectPublicKeyInfo public PEM)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public
