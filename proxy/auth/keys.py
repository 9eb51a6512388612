"""Token-verification keys (SPEC §3 [auth], §5): parsing, key sets, and the static sources.

Three sources (a PEM file and a JWKS file here, a JWKS URL in proxy.auth.jwks_url) share one
async interface, `get_key(kid, alg)`, and return cryptography public-key objects that pyjwt
accepts. Only asymmetric keys exist here: a symmetric key next to a public one is exactly what
HMAC/public-key confusion attacks need, so "oct" JWKs are dropped on load.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWTError

log = logging.getLogger(__name__)

PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
}
# The only algorithms a token may use, whatever the configuration says.
ASYMMETRIC_ALGORITHMS = RSA_ALGORITHMS | frozenset(_EC_CURVES) | {"EdDSA"}
MIN_RSA_BITS = 2048


class KeyNotFound(Exception):
    """No key in the source fits the token's `kid` and `alg`."""


class KeySetUnavailable(KeyNotFound):
    """The source has no key set at all (e.g. the JWKS URL never answered): fail closed."""


class KeySource(Protocol):
    async def get_key(self, kid: str | None, alg: str) -> PublicKey: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def key_fits(key: PublicKey, alg: str) -> bool:
    """Whether `key` may verify an `alg` signature: the key's type decides, never the token."""
    if alg in RSA_ALGORITHMS:
        return isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS
    if alg in _EC_CURVES:
        return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _EC_CURVES[alg])
    if alg == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
    return False


def _as_public_key(key: object, what: str) -> PublicKey:
    # A private key where a public one belongs is a deployment mistake worth stopping at.
    if not isinstance(
        key,
        rsa.RSAPublicKey
        | ec.EllipticCurvePublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey,
    ):
        raise ValueError(f"{what}: not an RSA, EC or EdDSA public key")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise ValueError(f"{what}: RSA key of {key.key_size} bits, at least {MIN_RSA_BITS} needed")
    return key


def load_public_key_pem(data: bytes, what: str = "public key") -> PublicKey:
    """One public key from a PEM `PUBLIC KEY` block or an X.509 certificate."""
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key: object = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ValueError(f"{what}: not a PEM public key or certificate ({exc})") from exc
    return _as_public_key(key, what)


@dataclass(frozen=True, slots=True)
class _Entry:
    kid: str | None
    alg: str | None  # the JWK's own `alg`, if it pins one
    key: PublicKey


_JWK_PARSERS: dict[str, Callable[[dict[str, Any]], object]] = {
    "RSA": RSAAlgorithm.from_jwk,
    "EC": ECAlgorithm.from_jwk,
    "OKP": OKPAlgorithm.from_jwk,
}


def _parse_jwk(jwk: object) -> _Entry | None:
    """One JWKS entry, or None (logged) when it is not a usable signature-verification key."""
    if not isinstance(jwk, dict):
        log.warning("JWKS: ignoring an entry that is not an object")
        return None
    kid, kty, alg = jwk.get("kid"), jwk.get("kty"), jwk.get("alg")
    if kty == "oct":
        log.info("JWKS: ignoring symmetric key %r (only asymmetric keys verify tokens)", kid)
        return None
    if kid is not None and not isinstance(kid, str):
        log.warning("JWKS: ignoring an entry whose kid is not a string")
        return None
    if jwk.get("use", "sig") != "sig":
        return None
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    if alg is not None and alg not in ASYMMETRIC_ALGORITHMS:
        log.warning("JWKS: ignoring key %r with unsupported alg %r", kid, alg)
        return None
    parser = _JWK_PARSERS.get(kty) if isinstance(kty, str) else None
    if parser is None:
        log.warning("JWKS: ignoring key %r of unsupported kty %r", kid, kty)
        return None
    try:
        key = parser(jwk)
        if isinstance(
            key,
            rsa.RSAPrivateKey
            | ec.EllipticCurvePrivateKey
            | ed25519.Ed25519PrivateKey
            | ed448.Ed448PrivateKey,
        ):
            key = key.public_key()  # a published private JWK: use only its public half
        public = _as_public_key(key, f"JWKS key {kid!r}")
    except (PyJWTError, ValueError, TypeError, KeyError) as exc:
        log.warning("JWKS: ignoring key %r: %s", kid, exc)
        return None
    if alg is not None and not key_fits(public, alg):
        log.warning("JWKS: ignoring key %r: its alg %r does not fit its key type", kid, alg)
        return None
    return _Entry(kid, alg, public)


class KeySet:
    def __init__(self, entries: Iterable[_Entry]) -> None:
        self.entries: tuple[_Entry, ...] = tuple(entries)

    @classmethod
    def from_jwks(cls, doc: object, what: str) -> KeySet:
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
            raise ValueError(f"{what}: not a JWKS document (an object with a 'keys' list)")
        entries = [e for e in map(_parse_jwk, doc["keys"]) if e is not None]
        if not entries:
            raise ValueError(f"{what}: no usable asymmetric signature key")
        return cls(entries)

    def select(self, kid: str | None, alg: str) -> PublicKey:
        candidates: tuple[_Entry, ...]
        if kid is None:
            # Without a kid only an unambiguous set may answer.
            if len(self.entries) != 1:
                raise KeyNotFound("token has no kid and the key set holds several keys")
            candidates = self.entries
        else:
            candidates = tuple(e for e in self.entries if e.kid == kid)
            if not candidates:
                raise KeyNotFound("no key with the token's kid")
        for entry in candidates:
            if (entry.alg is None or entry.alg == alg) and key_fits(entry.key, alg):
                return entry.key
        raise KeyNotFound("the key does not fit the token's algorithm")


class SourceLifetime:
    """`async with source:` starts and closes any key source."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class _StaticSource(SourceLifetime):
    """A key set loaded once; start/close exist so every source is handled alike."""

    def __init__(self, keyset: KeySet) -> None:
        self._keyset = keyset

    async def get_key(self, kid: str | None, alg: str) -> PublicKey:
        return self._keyset.select(kid, alg)


class PemKeySource(_StaticSource):
    """One public key from a PEM file; used for every token whatever its kid."""

    def __init__(self, path: str | Path) -> None:
        what = f"public_key_file {str(path)!r}"
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"{what}: {exc.strerror}") from exc
        key = load_public_key_pem(data, what)
        # Wrapped as a kid-less entry, so a token's kid is irrelevant here.
        super().__init__(KeySet([_Entry(None, None, key)]))
        self.key = key

    async def get_key(self, kid: str | None, alg: str) -> PublicKey:
        return await super().get_key(None, alg)


class JwksFileSource(_StaticSource):
    """A JWKS JSON file, read once at start-up (restart to rotate)."""

    def __init__(self, path: str | Path) -> None:
        what = f"jwks_file {str(path)!r}"
        try:
            doc = json.loads(Path(path).read_bytes())
        except OSError as exc:
            raise ValueError(f"{what}: {exc.strerror}") from exc
        except ValueError as exc:
            raise ValueError(f"{what}: not JSON ({exc})") from exc
        super().__init__(KeySet.from_jwks(doc, what))
