"""Key sources: PEM file, JWKS file, and a JWKS URL served by a real local aiohttp server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import RSAAlgorithm

from proxy.auth import (
    JwksFileSource,
    JwksUrlSource,
    KeyNotFound,
    KeySetUnavailable,
    PemKeySource,
    TokenVerifier,
    key_source_from_config,
)
from proxy.errors import ProxyError


def same_key(a: Any, b: Any) -> bool:
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    return bool(
        a.public_bytes(serialization.Encoding.DER, fmt)
        == b.public_bytes(serialization.Encoding.DER, fmt)
    )


def write_jwks(tmp_path: Path, keys: list[Any]) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": keys}))
    return path


def verifier_for(kit: Any, source: Any) -> TokenVerifier:
    return TokenVerifier(
        source, issuer=kit.issuer, audience=kit.audience, algorithms=["RS256", "ES256", "EdDSA"]
    )


# --- PEM ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "alg"), [("rsa", "RS256"), ("ec", "ES256"), ("ed", "EdDSA")])
async def test_pem_source_serves_its_key_whatever_the_kid(
    kit: Any, tmp_path: Path, kind: str, alg: str
) -> None:
    async with PemKeySource(kit.write_pem(tmp_path, kind)) as source:
        for kid in (None, "anything"):
            assert same_key(await source.get_key(kid, alg), kit.keys[kind].public_key())


async def test_pem_rsa_key_also_serves_pss(kit: Any, tmp_path: Path) -> None:
    source = PemKeySource(kit.write_pem(tmp_path, "rsa"))
    assert isinstance(await source.get_key(None, "PS256"), rsa.RSAPublicKey)


@pytest.mark.parametrize(
    ("kind", "alg"),
    [("ed", "RS256"), ("ed", "ES256"), ("rsa", "EdDSA"), ("ec", "ES384"), ("ec", "RS256")],
)
async def test_pem_key_of_the_wrong_type_for_alg(
    kit: Any, tmp_path: Path, kind: str, alg: str
) -> None:
    source = PemKeySource(kit.write_pem(tmp_path, kind))
    with pytest.raises(KeyNotFound):
        await source.get_key(None, alg)


def test_pem_source_rejects_bad_files(kit: Any, tmp_path: Path) -> None:
    private = tmp_path / "private.pem"
    private.write_bytes(kit.private_pem("ed"))
    with pytest.raises(ValueError, match="not a PEM public key"):
        PemKeySource(private)
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    with pytest.raises(ValueError, match="not a PEM public key"):
        PemKeySource(junk)
    with pytest.raises(ValueError, match="public_key_file"):
        PemKeySource(tmp_path / "missing.pem")
    weak = tmp_path / "weak.pem"
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    weak.write_bytes(kit.public_pem("rsa", weak_key))
    with pytest.raises(ValueError, match="1024 bits"):
        PemKeySource(weak)


async def test_pem_source_accepts_a_certificate(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "cert.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    assert same_key(await PemKeySource(path).get_key(None, "ES256"), key.public_key())


# --- JWKS file ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "alg"), [("rsa", "RS256"), ("ec", "ES256"), ("ed", "EdDSA")])
async def test_jwks_file_selects_by_kid(kit: Any, tmp_path: Path, kind: str, alg: str) -> None:
    path = write_jwks(tmp_path, [kit.jwk(k, kid=k) for k in ("rsa", "ec", "ed")])
    source = JwksFileSource(path)
    assert same_key(await source.get_key(kind, alg), kit.keys[kind].public_key())
    with pytest.raises(KeyNotFound, match="kid"):
        await source.get_key("unknown", alg)


async def test_jwks_file_without_kid(kit: Any, tmp_path: Path) -> None:
    one = JwksFileSource(write_jwks(tmp_path, [kit.jwk("ed", kid="only")]))
    assert same_key(await one.get_key(None, "EdDSA"), kit.keys["ed"].public_key())
    many = JwksFileSource(write_jwks(tmp_path, [kit.jwk("ed", kid="a"), kit.jwk("ec", kid="b")]))
    with pytest.raises(KeyNotFound, match="several keys"):
        await many.get_key(None, "EdDSA")


async def test_jwks_file_ignores_symmetric_keys(kit: Any, tmp_path: Path) -> None:
    oct_key = {"kty": "oct", "kid": "h", "k": "c2VjcmV0", "alg": "HS256"}
    source = JwksFileSource(write_jwks(tmp_path, [oct_key, kit.jwk("ed", kid="d")]))
    with pytest.raises(KeyNotFound):
        await source.get_key("h", "HS256")
    with pytest.raises(KeyNotFound):
        await source.get_key("h", "EdDSA")
    # With the oct key gone the set holds exactly one key, so a kid-less token may use it.
    assert same_key(await source.get_key(None, "EdDSA"), kit.keys["ed"].public_key())
    with pytest.raises(ValueError, match="no usable"):
        JwksFileSource(write_jwks(tmp_path, [oct_key]))


async def test_jwks_alg_must_match_token_alg(kit: Any, tmp_path: Path) -> None:
    source = JwksFileSource(
        write_jwks(tmp_path, [kit.jwk("rsa", kid="pinned", alg="RS384"), kit.jwk("ec", kid="e")])
    )
    assert isinstance(await source.get_key("pinned", "RS384"), rsa.RSAPublicKey)
    with pytest.raises(KeyNotFound, match="algorithm"):
        await source.get_key("pinned", "RS256")
    with pytest.raises(KeyNotFound, match="algorithm"):
        await source.get_key("e", "RS256")  # an EC key for an RSA alg


async def test_jwks_skips_unusable_entries(kit: Any, tmp_path: Path) -> None:
    good = kit.jwk("ed", kid="good")
    entries = [
        "not an object",
        {**kit.jwk("ed", kid="enc"), "use": "enc"},
        {**kit.jwk("ed", kid="ops"), "key_ops": ["encrypt"]},
        {**kit.jwk("ed", kid=None), "kid": 17},
        {**kit.jwk("ed", kid="hs"), "alg": "HS256"},
        {**kit.jwk("ed", kid="mismatch"), "alg": "RS256"},
        {"kty": "RSA", "kid": "broken", "n": "AQAB"},
        {"kty": "XYZ", "kid": "weird"},
        {"kty": "EC", "kid": "k1", "crv": "secp256k1", "x": "AA", "y": "AA"},
        good,
    ]
    source = JwksFileSource(write_jwks(tmp_path, entries))
    for kid in ("enc", "ops", "hs", "mismatch", "broken", "weird", "k1"):
        with pytest.raises(KeyNotFound):
            await source.get_key(kid, "EdDSA")
    assert same_key(await source.get_key(None, "EdDSA"), kit.keys["ed"].public_key())


async def test_jwks_private_jwk_yields_only_its_public_half(kit: Any, tmp_path: Path) -> None:
    private_jwk = RSAAlgorithm.to_jwk(kit.keys["rsa"], as_dict=True)
    assert "d" in private_jwk
    del private_jwk["key_ops"]  # ["sign"], which alone would get it skipped
    source = JwksFileSource(write_jwks(tmp_path, [{**private_jwk, "kid": "p"}]))
    key = await source.get_key("p", "RS256")
    assert isinstance(key, rsa.RSAPublicKey)


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not JSON"), ("[]", "not a JWKS"), ('{"keys": {}}', "not a JWKS")],
)
def test_jwks_file_rejects_bad_documents(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        JwksFileSource(path)
    with pytest.raises(ValueError, match="jwks_file"):
        JwksFileSource(tmp_path / "missing.json")


# --- configuration -----------------------------------------------------------------------------


def test_key_source_from_config(kit: Any, tmp_path: Path) -> None:
    pem = kit.write_pem(tmp_path, "ed")
    jwks = write_jwks(tmp_path, [kit.jwk("ed", kid="a")])
    assert isinstance(key_source_from_config("", "", str(pem)), PemKeySource)
    assert isinstance(key_source_from_config(None, jwks, None), JwksFileSource)
    url_source = key_source_from_config("https://idp.test/jwks", "", "")
    assert isinstance(url_source, JwksUrlSource)
    with pytest.raises(ValueError, match="none is set"):
        key_source_from_config("", "", "")
    with pytest.raises(ValueError, match="jwks_url and public_key_file are set"):
        key_source_from_config("https://idp.test/jwks", "", str(pem))
    with pytest.raises(ValueError, match="only one"):
        key_source_from_config("https://idp.test/jwks", jwks, pem)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://idp.example.org/.well-known/jwks.json", True),
        ("http://127.0.0.1:9999/jwks", True),
        ("http://localhost/jwks", True),
        ("http://idp.example.org/jwks", False),
        ("ftp://idp.example.org/jwks", False),
        ("idp.example.org/jwks", False),
    ],
)
def test_jwks_url_must_be_https_unless_loopback(url: str, ok: bool) -> None:
    if ok:
        JwksUrlSource(url)
    else:
        with pytest.raises(ValueError, match="https"):
            JwksUrlSource(url)


# --- JWKS URL ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed"])
async def test_jwks_url_verifies_tokens(kit: Any, jwks_server: Any, clock: Any, kind: str) -> None:
    jwks_server.jwks = {"keys": [kit.jwk(k, kid=k) for k in ("rsa", "ec", "ed")]}
    async with JwksUrlSource(jwks_server.url, clock=clock) as source:
        principal = await verifier_for(kit, source).verify(f"Bearer {kit.sign(kind, kid=kind)}")
    assert principal.sub == "jdoe"
    assert jwks_server.hits == 1


async def test_jwks_url_cache_hit_and_ttl(kit: Any, jwks_server: Any, clock: Any) -> None:
    jwks_server.jwks = {"keys": [kit.jwk("ed", kid="a")]}
    async with JwksUrlSource(jwks_server.url, clock=clock, cache_ttl_s=300) as source:
        assert jwks_server.hits == 1  # start() fetched
        for _ in range(3):
            await source.get_key("a", "EdDSA")
        clock.advance(299)
        await source.get_key("a", "EdDSA")
        assert jwks_server.hits == 1
        clock.advance(1)
        await source.get_key("a", "EdDSA")
        assert jwks_server.hits == 2


async def test_jwks_url_lazy_first_fetch(kit: Any, jwks_server: Any, clock: Any) -> None:
    jwks_server.jwks = {"keys": [kit.jwk("ed", kid="a")]}
    source = JwksUrlSource(jwks_server.url, clock=clock)
    try:
        assert jwks_server.hits == 0
        await source.get_key("a", "EdDSA")
        assert jwks_server.hits == 1
    finally:
        await source.close()


async def test_jwks_url_unknown_kid_refetch_is_throttled(
    kit: Any, jwks_server: Any, clock: Any
) -> None:
    jwks_server.jwks = {"keys": [kit.jwk("ed", kid="a")]}
    async with JwksUrlSource(jwks_server.url, clock=clock, min_refetch_interval_s=30) as source:
        with pytest.raises(KeyNotFound):
            await source.get_key("x", "EdDSA")  # right after start: inside the window
        assert jwks_server.hits == 1
        clock.advance(31)
        with pytest.raises(KeyNotFound):
            await source.get_key("x", "EdDSA")
        assert jwks_server.hits == 2  # one refetch
        clock.advance(10)
        with pytest.raises(KeyNotFound):
            await source.get_key("y", "EdDSA")
        assert jwks_server.hits == 2  # a second unknown kid within the window: no refetch
        clock.advance(21)
        with pytest.raises(KeyNotFound):
            await source.get_key("z", "EdDSA")
        assert jwks_server.hits == 3


async def test_jwks_url_picks_up_rotated_key_after_throttle_window(
    kit: Any, jwks_server: Any, clock: Any
) -> None:
    new_key = kit.fresh("ed")
    jwks_server.jwks = {"keys": [kit.jwk("ed", kid="old")]}
    async with JwksUrlSource(jwks_server.url, clock=clock) as source:
        verifier = verifier_for(kit, source)
        assert (await verifier.verify(f"Bearer {kit.sign('ed', kid='old')}")).sub == "jdoe"
        jwks_server.jwks = {"keys": [kit.jwk("ed", kid="new", key=new_key)]}
        rotated = f"Bearer {kit.sign('ed', kid='new', key=new_key)}"
        clock.advance(5)
        with pytest.raises(ProxyError, match="signing key not found"):
            await verifier.verify(rotated)
        assert jwks_server.hits == 1
        clock.advance(26)
        assert (await verifier.verify(rotated)).sub == "jdoe"
        assert jwks_server.hits == 2
        # The old key is gone from the set, so fresh tokens signed with it fail.
        with pytest.raises(ProxyError, match="signing key not found"):
            await verifier.verify(f"Bearer {kit.sign('ed', kid='old', sub='other')}")


async def test_jwks_url_concurrent_misses_share_one_fetch(
    kit: Any, jwks_server: Any, clock: Any
) -> None:
    jwks_server.jwks = {"keys": [kit.jwk("ed", kid="a")]}
    async with JwksUrlSource(jwks_server.url, clock=clock) as source:
        verifier = verifier_for(kit, source)
        clock.advance(31)
        jwks_server.delay = 0.05
        tokens = [f"Bearer {kit.sign('ed', kid='unknown', sub=f'u{i}')}" for i in range(20)]
        results = await asyncio.gather(
            *(verifier.verify(t) for t in tokens), return_exceptions=True
        )
        assert all(isinstance(r, ProxyError) and r.code == "unauthenticated" for r in results)
        assert jwks_server.hits == 2  # the start() fetch plus exactly one refetch


async def test_jwks_url_concurrent_cold_start_shares_one_fetch(
    kit: Any, jwks_server: Any, clock: Any
) -> None:
    jwks_server.jwks = {"keys": [kit.jwk("ed", kid="a")]}
    jwks_server.delay = 0.05
    source = JwksUrlSource(jwks_server.url, clock=clock)
    try:
        keys = await asyncio.gather(*(source.get_key("a", "EdDSA") for _ in range(20)))
        assert all(isinstance(k, ed25519.Ed25519PublicKey) for k in keys)
        assert jwks_server.hits == 1
    finally:
        await source.close()


async def test_jwks_url_cancelled_waiter_does_not_cancel_the_shared_fetch(
    kit: Any, jwks_server: Any, clock: Any
) -> None:
    jwks_server.jwks = {"keys": [kit.jwk("ed", kid="a")]}
    jwks_server.delay = 0.05
    source = JwksUrlSource(jwks_server.url, clock=clock)
    try:
        first = asyncio.create_task(source.get_key("a", "EdDSA"))
        second = asyncio.create_task(source.get_key("a", "EdDSA"))
        await asyncio.sleep(0.01)
        first.cancel()
        assert isinstance(await second, ed25519.Ed25519PublicKey)
        with pytest.raises(asyncio.CancelledError):
            await first
        assert jwks_server.hits == 1
    finally:
        await source.close()


async def test_jwks_url_down_without_cache_fails_closed(
    kit: Any, jwks_server: Any, clock: Any
) -> None:
    jwks_server.jwks = {"keys": [kit.jwk("ed", kid="a")]}
    await jwks_server.stop()
    async with JwksUrlSource(jwks_server.url, clock=clock, timeout_s=2) as source:
        assert source.fetch_count == 1  # start() tried, logged, did not raise
        verifier = verifier_for(kit, source)
        with pytest.raises(ProxyError) as info:
            await verifier.verify(f"Bearer {kit.sign('ed', kid='a')}")
        assert (info.value.code, info.value.message) == (
            "unauthenticated",
            "signing keys unavailable",
        )
        with pytest.raises(KeySetUnavailable):
            await source.get_key(None, "EdDSA")
        assert source.fetch_count == 1  # retries are throttled too
        clock.advance(30)
        with pytest.raises(KeySetUnavailable):
            await source.get_key("a", "EdDSA")
        assert source.fetch_count == 2


async def test_jwks_url_down_with_cache_keeps_serving(
    kit: Any, jwks_server: Any, clock: Any
) -> None:
    jwks_server.jwks = {"keys": [kit.jwk("ed", kid="a")]}
    async with JwksUrlSource(jwks_server.url, clock=clock, timeout_s=2) as source:
        verifier = verifier_for(kit, source)
        await jwks_server.stop()
        clock.advance(301)  # past the TTL: a refetch is attempted and fails
        principal = await verifier.verify(f"Bearer {kit.sign('ed', kid='a')}")
        assert principal.sub == "jdoe"
        assert source.fetch_count == 2


@pytest.mark.parametrize(
    ("status", "raw", "jwks"),
    [
        (500, None, None),
        (200, b"<html>oops</html>", None),
        (200, None, {"keys": []}),
        (200, None, {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        (200, b"x" * 5000, None),  # larger than max_bytes below
        (302, b"", None),  # redirects are not followed
    ],
)
async def test_jwks_url_bad_responses_keep_the_cached_set(
    kit: Any, jwks_server: Any, clock: Any, status: int, raw: bytes | None, jwks: Any
) -> None:
    jwks_server.jwks = {"keys": [kit.jwk("ed", kid="a")]}
    async with JwksUrlSource(jwks_server.url, clock=clock, max_bytes=4096) as source:
        jwks_server.status, jwks_server.raw = status, raw
        if jwks is not None:
            jwks_server.jwks = jwks
        clock.advance(301)
        assert isinstance(await source.get_key("a", "EdDSA"), ed25519.Ed25519PublicKey)
        assert jwks_server.hits == 2


async def test_jwks_url_bad_first_response_fails_closed(
    kit: Any, jwks_server: Any, clock: Any
) -> None:
    jwks_server.raw = b"not json"
    async with JwksUrlSource(jwks_server.url, clock=clock) as source:
        with pytest.raises(KeySetUnavailable):
            await source.get_key("a", "EdDSA")


async def test_jwks_url_session_ownership(kit: Any, jwks_server: Any, clock: Any) -> None:
    jwks_server.jwks = {"keys": [kit.jwk("ed", kid="a")]}
    async with aiohttp.ClientSession() as borrowed:
        async with JwksUrlSource(jwks_server.url, borrowed, clock=clock) as source:
            await source.get_key("a", "EdDSA")
        assert not borrowed.closed  # not ours to close
    made: list[aiohttp.ClientSession] = []

    def factory() -> aiohttp.ClientSession:
        made.append(aiohttp.ClientSession())
        return made[-1]

    async with JwksUrlSource(jwks_server.url, factory, clock=clock) as source:
        await source.get_key("a", "EdDSA")
    assert len(made) == 1
    assert made[0].closed
