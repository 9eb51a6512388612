"""Keys, token factories, a fake clock and a real local JWKS server for the auth tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://idp.test"
AUDIENCE = "alpr-proxy"
ALGS = {"rsa": "RS256", "ec": "ES256", "ed": "EdDSA"}
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def new_key(kind: str) -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


class KeyKit:
    """Three key pairs (RSA 2048, EC P-256, Ed25519) and helpers to sign arbitrary tokens."""

    issuer = ISSUER
    audience = AUDIENCE

    def __init__(self) -> None:
        self.keys: dict[str, PrivateKey] = {kind: new_key(kind) for kind in ALGS}

    @staticmethod
    def fresh(kind: str) -> PrivateKey:
        return new_key(kind)

    def private_pem(self, kind: str) -> bytes:
        return self.keys[kind].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self, kind: str, key: PrivateKey | None = None) -> bytes:
        key = key or self.keys[kind]
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(
        self, kind: str, kid: str | None, alg: str | None = None, key: PrivateKey | None = None
    ) -> dict[str, Any]:
        public = (key or self.keys[kind]).public_key()
        if isinstance(public, rsa.RSAPublicKey):
            out = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            out = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            out = OKPAlgorithm.to_jwk(public, as_dict=True)
        if kid is not None:
            out["kid"] = kid
        if alg is not None:
            out["alg"] = alg
        return out

    def write_pem(self, tmp_path: Path, kind: str) -> Path:
        path = tmp_path / f"{kind}.pub.pem"
        path.write_bytes(self.public_pem(kind))
        return path

    @staticmethod
    def claims(**overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "jdoe",
            "ori": "CA0010000",
            "roles": ["investigator"],
            "iat": now,
            "exp": now + 600,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not DROP}

    def sign(
        self,
        kind: str = "ed",
        *,
        kid: str | None = None,
        headers: dict[str, Any] | None = None,
        key: PrivateKey | None = None,
        **overrides: Any,
    ) -> str:
        hdrs = dict(headers or {})
        if kid is not None:
            hdrs["kid"] = kid
        return jwt.encode(
            self.claims(**overrides),
            key or self.keys[kind],
            algorithm=ALGS[kind],
            headers=hdrs or None,
        )


DROP = object()  # a claim override meaning "leave this claim out"


@pytest.fixture(scope="session")
def kit() -> KeyKit:
    return KeyKit()


@pytest.fixture
def drop() -> object:
    return DROP


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class JwksServer:
    """Serves `self.jwks` at /jwks on 127.0.0.1 and counts requests."""

    def __init__(self) -> None:
        self.jwks: Any = {"keys": []}
        self.hits = 0
        self.delay = 0.0
        self.status = 200
        self.raw: bytes | None = None
        self.url = ""
        app = web.Application()
        app.router.add_get("/jwks", self._handle)
        self.server = TestServer(app, host="127.0.0.1")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.raw is not None:
            return web.Response(body=self.raw, status=self.status)
        return web.json_response(self.jwks, status=self.status)

    async def start(self) -> None:
        await self.server.start_server()
        self.url = str(self.server.make_url("/jwks"))  # kept: still valid once stopped

    async def stop(self) -> None:
        await self.server.close()


@pytest.fixture
async def jwks_server() -> AsyncIterator[JwksServer]:
    srv = JwksServer()
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()
