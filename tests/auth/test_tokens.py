"""TokenVerifier: valid tokens, every refused shape of token, the verified-token cache, minting."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from proxy.auth import (
    JwksFileSource,
    KeyNotFound,
    PemKeySource,
    PublicKey,
    TokenVerifier,
    generate_dev_keypair,
    mint_token,
    parse_ttl,
)
from proxy.errors import ProxyError
from proxy.model import Principal

ALL_ALGS = ["RS256", "ES256", "EdDSA"]


class SpySource:
    """Wraps a key source and counts lookups."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    async def get_key(self, kid: str | None, alg: str) -> PublicKey:
        self.calls += 1
        key: PublicKey = await self.inner.get_key(kid, alg)
        return key

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


def make_verifier(kit: Any, source: Any, **kw: Any) -> TokenVerifier:
    kw.setdefault("algorithms", ALL_ALGS)
    return TokenVerifier(source, issuer=kit.issuer, audience=kit.audience, **kw)


@pytest.fixture
def ed_verifier(kit: Any, tmp_path: Path) -> TokenVerifier:
    return make_verifier(kit, PemKeySource(kit.write_pem(tmp_path, "ed")))


async def refused(verifier: TokenVerifier, header: str | None) -> str:
    with pytest.raises(ProxyError) as info:
        await verifier.verify(header)
    assert info.value.code == "unauthenticated"
    assert info.value.status == 401
    return info.value.message


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def craft(header: dict[str, Any], claims: dict[str, Any], sig: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(sig)}"


# --- valid tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed"])
async def test_valid_token_with_pem_source(kit: Any, tmp_path: Path, kind: str) -> None:
    verifier = make_verifier(kit, PemKeySource(kit.write_pem(tmp_path, kind)))
    exp = int(time.time()) + 600
    token = kit.sign(kind, roles=["investigator", "auditor"], exp=exp)
    principal = await verifier.verify(f"Bearer {token}")
    assert principal == Principal(
        sub="jdoe",
        ori="CA0010000",
        roles=frozenset({"investigator", "auditor"}),
        expires_at=exp,
        iss=kit.issuer,  # a person is (iss, sub, ori): SPEC §12
    )


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed"])
async def test_valid_token_with_jwks_file_picks_key_by_kid(
    kit: Any, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "jwks.json"
    keys = [kit.jwk(k, kid=f"kid-{k}") for k in ("rsa", "ec", "ed")]
    keys.append({"kty": "oct", "kid": "kid-hmac", "k": b64(b"secret")})
    path.write_text(json.dumps({"keys": keys}))
    verifier = make_verifier(kit, JwksFileSource(path))
    principal = await verifier.verify(f"Bearer {kit.sign(kind, kid=f'kid-{kind}')}")
    assert principal.sub == "jdoe"
    assert principal.roles == frozenset({"investigator"})


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
async def test_bearer_scheme_is_case_insensitive(
    kit: Any, ed_verifier: TokenVerifier, scheme: str
) -> None:
    # RFC 7235 §2.1: auth-scheme is case-insensitive.
    assert (await ed_verifier.verify(f"{scheme} {kit.sign('ed')}")).sub == "jdoe"


async def test_unknown_roles_are_ignored_when_a_known_one_is_present(
    kit: Any, ed_verifier: TokenVerifier
) -> None:
    token = kit.sign("ed", roles=["janitor", "auditor", "superuser"])
    assert (await ed_verifier.verify(f"Bearer {token}")).roles == frozenset({"auditor"})


async def test_recently_expired_token_within_leeway_is_accepted(
    kit: Any, ed_verifier: TokenVerifier
) -> None:
    token = kit.sign("ed", exp=int(time.time()) - 10)
    assert (await ed_verifier.verify(f"Bearer {token}")).sub == "jdoe"


async def test_audience_list_containing_ours_is_accepted(
    kit: Any, ed_verifier: TokenVerifier
) -> None:
    token = kit.sign("ed", aud=["other-app", kit.audience])
    assert (await ed_verifier.verify(f"Bearer {token}")).sub == "jdoe"


# --- the Authorization header ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing Authorization header"),
        ("", "missing Authorization header"),
        ("Basic amRvZTpwdw==", "Authorization header must be 'Bearer <token>'"),
        ("Bearer", "Authorization header must be 'Bearer <token>'"),
        ("Bearer a.b.c extra", "Authorization header must be 'Bearer <token>'"),
        ("Token a.b.c", "Authorization header must be 'Bearer <token>'"),
    ],
)
async def test_bad_authorization_header(
    ed_verifier: TokenVerifier, header: str | None, message: str
) -> None:
    assert await refused(ed_verifier, header) == message


def _b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("garbage", "malformed token"),
        ("a.b", "malformed token"),
        ("a.b.c.d", "malformed token"),
        ("a$.b.c", "malformed token"),
        ("a.b.c", "malformed token header"),  # header is not base64url JSON
        (f"{_b64json([1, 2])}.e30.c2ln", "malformed token header"),  # header not an object
        (b64(b'{"alg":"EdDSA","alg":"none"}') + ".e30.c2ln", "malformed token header"),
        (f"{_b64json({'alg': 'EdDSA', 'kid': 7})}.e30.c2ln", "malformed token header"),
        (f"{_b64json({'alg': 'EdDSA'})}.bm90IGpzb24.c2ln", "signature invalid"),
        (f"{_b64json({'typ': 'JWT'})}.e30.c2ln", "token algorithm not allowed"),
    ],
)
async def test_garbage_tokens(ed_verifier: TokenVerifier, token: str, message: str) -> None:
    assert await refused(ed_verifier, f"Bearer {token}") == message


async def test_oversized_token_is_refused_before_parsing(kit: Any, tmp_path: Path) -> None:
    spy = SpySource(PemKeySource(kit.write_pem(tmp_path, "ed")))
    verifier = make_verifier(kit, spy)
    token = kit.sign("ed", pad="x" * 9000)
    assert len(token) > 8192
    assert await refused(verifier, f"Bearer {token}") == "token too large"
    small = make_verifier(kit, spy, max_token_bytes=100)
    assert await refused(small, f"Bearer {kit.sign('ed')}") == "token too large"
    assert spy.calls == 0
    # The bound is on the token itself, exactly.
    token = kit.sign("ed")
    exact = make_verifier(kit, spy, max_token_bytes=len(token))
    assert (await exact.verify(f"Bearer {token}")).sub == "jdoe"
    one_short = make_verifier(kit, spy, max_token_bytes=len(token) - 1)
    assert await refused(one_short, f"Bearer {token}") == "token too large"


# --- algorithm attacks -------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none_refused_even_if_configured(kit: Any, tmp_path: Path, alg: str) -> None:
    spy = SpySource(PemKeySource(kit.write_pem(tmp_path, "ed")))
    verifier = make_verifier(kit, spy, algorithms=["none", "EdDSA"])
    token = craft({"alg": alg, "typ": "JWT"}, kit.claims())
    assert await refused(verifier, f"Bearer {token}") == "token algorithm not allowed"
    assert spy.calls == 0


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed"])
@pytest.mark.parametrize("hs", ["HS256", "HS384", "HS512"])
async def test_hmac_signed_with_public_key_refused_even_if_configured(
    kit: Any, tmp_path: Path, kind: str, hs: str
) -> None:
    # The classic algorithm-confusion forgery: HMAC keyed with the verifier's public key bytes.
    pem = kit.public_pem(kind)
    spy = SpySource(PemKeySource(kit.write_pem(tmp_path, kind)))
    verifier = make_verifier(kit, spy, algorithms=[*ALL_ALGS, hs])
    header, claims = {"alg": hs, "typ": "JWT"}, kit.claims(roles=["admin"])
    signing_input = f"{_b64json(header)}.{_b64json(claims)}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[hs]
    sig = hmac.new(pem, signing_input.encode(), digest).digest()
    token = f"{signing_input}.{b64(sig)}"
    assert await refused(verifier, f"Bearer {token}") == "token algorithm not allowed"
    assert spy.calls == 0


async def test_hmac_only_or_unknown_algorithm_config_is_rejected(kit: Any, tmp_path: Path) -> None:
    source = PemKeySource(kit.write_pem(tmp_path, "ed"))
    with pytest.raises(ValueError, match="no usable algorithm"):
        make_verifier(kit, source, algorithms=["HS256", "none"])
    with pytest.raises(ValueError, match="unknown algorithm"):
        make_verifier(kit, source, algorithms=["RS257", "EdDSA"])
    with pytest.raises(ValueError, match="issuer and audience"):
        TokenVerifier(source, issuer="", audience="x", algorithms=ALL_ALGS)
    verifier = make_verifier(kit, source, algorithms=["HS256", "EdDSA"])
    assert verifier.algorithms == frozenset({"EdDSA"})


async def test_algorithm_not_in_configured_list_is_refused(kit: Any, tmp_path: Path) -> None:
    verifier = make_verifier(
        kit, PemKeySource(kit.write_pem(tmp_path, "rsa")), algorithms=["EdDSA"]
    )
    assert await refused(verifier, f"Bearer {kit.sign('rsa')}") == "token algorithm not allowed"


async def test_token_alg_not_fitting_the_key_type_is_refused(kit: Any, tmp_path: Path) -> None:
    # An ES256 token checked against an Ed25519 key: the key's type decides, not the token.
    verifier = make_verifier(kit, PemKeySource(kit.write_pem(tmp_path, "ed")))
    assert await refused(verifier, f"Bearer {kit.sign('ec')}") == "signing key not found"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jku", "https://attacker.example/jwks.json"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("jwk", {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
        ("x5c", ["MIIB"]),
    ],
)
async def test_key_carrying_headers_are_refused(
    kit: Any, tmp_path: Path, name: str, value: Any
) -> None:
    spy = SpySource(PemKeySource(kit.write_pem(tmp_path, "ed")))
    verifier = make_verifier(kit, spy)
    token = kit.sign("ed", headers={name: value})  # otherwise perfectly valid
    assert (
        await refused(verifier, f"Bearer {token}") == f"token header parameter '{name}' not allowed"
    )
    assert spy.calls == 0


async def test_crit_header_is_refused(kit: Any, ed_verifier: TokenVerifier) -> None:
    token = kit.sign("ed", headers={"crit": ["exp"], "exp": 1})
    assert (
        await refused(ed_verifier, f"Bearer {token}")
        == "token header parameter 'crit' not supported"
    )


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed"])
async def test_token_signed_by_another_key_is_refused(kit: Any, tmp_path: Path, kind: str) -> None:
    verifier = make_verifier(kit, PemKeySource(kit.write_pem(tmp_path, kind)))
    token = kit.sign(kind, key=kit.fresh(kind))  # same alg, same claims, wrong key
    assert await refused(verifier, f"Bearer {token}") == "signature invalid"


# --- claims ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FromNow:
    """A time claim relative to when the test runs, not to when it was collected: a long session
    would otherwise make a "not yet valid" token valid by the time its test runs."""

    seconds: int
    as_text: bool = False

    def now(self) -> int | str:
        at = int(time.time()) + self.seconds
        return str(at) if self.as_text else at


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iss": "https://evil.example"}, "issuer mismatch"),
        ({"aud": "some-other-service"}, "audience mismatch"),
        ({"aud": ["a", "b"]}, "audience mismatch"),
        ({"exp": FromNow(-120)}, "token expired"),
        ({"nbf": FromNow(300)}, "token not yet valid"),
        ({"iat": FromNow(300)}, "token not yet valid"),
        ({"ori": ""}, "invalid claim 'ori'"),
        ({"ori": 12345}, "invalid claim 'ori'"),
        # Not an ORI (NCIC: 9 ASCII letters and digits): "*" is the reports' all-agencies scope.
        ({"ori": "*"}, "invalid claim 'ori'"),
        ({"ori": "*********"}, "invalid claim 'ori'"),
        ({"ori": "CA001090"}, "invalid claim 'ori'"),
        ({"ori": "CA00109000"}, "invalid claim 'ori'"),
        ({"ori": "CA0010900 "}, "invalid claim 'ori'"),
        ({"ori": "CA001090\u0130"}, "invalid claim 'ori'"),
        ({"ori": "CA00109\uff10\uff10"}, "invalid claim 'ori'"),
        ({"roles": "investigator"}, "invalid claim 'roles'"),
        ({"roles": ["investigator", 7]}, "invalid claim 'roles'"),
        ({"roles": {"investigator": True}}, "invalid claim 'roles'"),
        ({"roles": []}, "token carries no known role"),
        ({"roles": ["janitor", "Investigator"]}, "token carries no known role"),
        ({"sub": ""}, "invalid claim 'sub'"),
        ({"sub": 42}, "malformed token"),
        ({"exp": FromNow(600, as_text=True)}, "invalid claim 'exp'"),
        ({"exp": "soon"}, "malformed token"),
    ],
)
async def test_bad_claims_are_refused(
    kit: Any, ed_verifier: TokenVerifier, overrides: dict[str, Any], message: str
) -> None:
    claims = {k: v.now() if isinstance(v, FromNow) else v for k, v in overrides.items()}
    assert await refused(ed_verifier, f"Bearer {kit.sign('ed', **claims)}") == message


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "sub", "ori", "roles"])
async def test_missing_required_claim_is_refused(
    kit: Any, ed_verifier: TokenVerifier, drop: object, claim: str
) -> None:
    token = kit.sign("ed", **{claim: drop})
    assert await refused(ed_verifier, f"Bearer {token}") == f"token lacks claim '{claim}'"


# --- key lookups -------------------------------------------------------------------------------


async def test_unknown_kid_is_refused(kit: Any, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [kit.jwk("ed", kid="a"), kit.jwk("rsa", kid="b")]}))
    verifier = make_verifier(kit, JwksFileSource(path))
    assert await refused(verifier, f"Bearer {kit.sign('ed', kid='zzz')}") == "signing key not found"
    assert await refused(verifier, f"Bearer {kit.sign('ed')}") == "signing key not found"
    assert (await verifier.verify(f"Bearer {kit.sign('ed', kid='a')}")).sub == "jdoe"


async def test_key_source_failure_is_unauthenticated(kit: Any) -> None:
    class Broken(SpySource):
        async def get_key(self, kid: str | None, alg: str) -> PublicKey:
            raise KeyNotFound("nope")

    verifier = make_verifier(kit, Broken(None))
    assert await refused(verifier, f"Bearer {kit.sign('ed')}") == "signing key not found"


# --- the verified-token cache ------------------------------------------------------------------


async def test_cache_hit_skips_the_key_source(kit: Any, tmp_path: Path) -> None:
    spy = SpySource(PemKeySource(kit.write_pem(tmp_path, "ed")))
    verifier = make_verifier(kit, spy)
    token = kit.sign("ed")
    first = await verifier.verify(f"Bearer {token}")
    second = await verifier.verify(f"bearer {token}")
    assert first == second
    assert spy.calls == 1


async def test_failures_are_not_cached(kit: Any, tmp_path: Path) -> None:
    spy = SpySource(PemKeySource(kit.write_pem(tmp_path, "ed")))
    verifier = make_verifier(kit, spy)
    token = kit.sign("ed", iss="https://evil.example")
    for _ in range(2):
        assert await refused(verifier, f"Bearer {token}") == "issuer mismatch"
    assert spy.calls == 2


async def test_expired_cached_token_is_refused(kit: Any, tmp_path: Path, clock: Any) -> None:
    clock.now = time.time()
    spy = SpySource(PemKeySource(kit.write_pem(tmp_path, "ed")))
    verifier = make_verifier(kit, spy, clock=clock)
    exp = int(clock.now) + 60
    token = kit.sign("ed", exp=exp)
    await verifier.verify(f"Bearer {token}")
    clock.now = exp + 29  # still inside the 30 s leeway
    await verifier.verify(f"Bearer {token}")
    assert spy.calls == 1
    clock.now = exp + 30
    assert await refused(verifier, f"Bearer {token}") == "token expired"


async def test_cache_is_bounded_lru(kit: Any, tmp_path: Path) -> None:
    spy = SpySource(PemKeySource(kit.write_pem(tmp_path, "ed")))
    verifier = make_verifier(kit, spy, cache_size=2)
    a, b, c = (kit.sign("ed", sub=s) for s in "abc")
    for token in (a, b, a, c):  # touching `a` makes `b` the oldest
        await verifier.verify(f"Bearer {token}")
    assert spy.calls == 3
    await verifier.verify(f"Bearer {a}")
    await verifier.verify(f"Bearer {c}")
    assert spy.calls == 3
    await verifier.verify(f"Bearer {b}")  # evicted, so verified again
    assert spy.calls == 4


async def test_cache_can_be_disabled(kit: Any, tmp_path: Path) -> None:
    spy = SpySource(PemKeySource(kit.write_pem(tmp_path, "ed")))
    verifier = make_verifier(kit, spy, cache_size=0)
    token = kit.sign("ed")
    await verifier.verify(f"Bearer {token}")
    await verifier.verify(f"Bearer {token}")
    assert spy.calls == 2


# --- minting, TTLs, dev keys -------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "alg"), [("rsa", "RS256"), ("ec", "ES256"), ("ed", "EdDSA")])
async def test_mint_token_picks_alg_from_key_and_verifies(
    kit: Any, tmp_path: Path, kind: str, alg: str
) -> None:
    token = mint_token(
        kit.private_pem(kind),
        issuer=kit.issuer,
        audience=kit.audience,
        sub="asmith",
        ori="NY0300000",
        roles=["oversight", "auditor"],
        ttl_s=3600,
        kid="dev-1",
    )
    header = jwt.get_unverified_header(token)
    assert header["alg"] == alg
    assert header["kid"] == "dev-1"
    verifier = make_verifier(kit, PemKeySource(kit.write_pem(tmp_path, kind)))
    principal = await verifier.verify(f"Bearer {token}")
    assert (principal.sub, principal.ori) == ("asmith", "NY0300000")
    assert principal.roles == frozenset({"oversight", "auditor"})


def test_mint_token_claims_and_validation(kit: Any) -> None:
    pem = kit.private_pem("ed")
    common: dict[str, Any] = {"issuer": "i", "audience": "a", "sub": "s", "ori": "CA0010900"}
    token = mint_token(pem, **common, roles=["admin"], ttl_s=90, now=1_000_000)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iat"], claims["exp"], claims["roles"]) == (1_000_000, 1_000_090, ["admin"])
    assert "kid" not in jwt.get_unverified_header(token)
    with pytest.raises(ValueError, match="roles"):
        mint_token(pem, **common, roles=["admin", "root"], ttl_s=90)
    with pytest.raises(ValueError, match="roles"):
        mint_token(pem, **common, roles=[], ttl_s=90)
    with pytest.raises(ValueError, match="ttl_s"):
        mint_token(pem, **common, roles=["admin"], ttl_s=0)
    for ori in ("*", "", "CA001090", "CA0010900X"):
        with pytest.raises(ValueError, match="ori must be an ORI"):
            mint_token(pem, **{**common, "ori": ori}, roles=["admin"], ttl_s=90)


def test_mint_token_p384_uses_es384() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    token = mint_token(
        pem, issuer="i", audience="a", sub="s", ori="CA0010900", roles=["admin"], ttl_s=60
    )
    assert jwt.get_unverified_header(token)["alg"] == "ES384"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3600", 3600), ("45s", 45), ("30m", 1800), ("1h", 3600), ("2d", 172800), (" 1H ", 3600)],
)
def test_parse_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "h", "abc", "1x", "-5", "0", "0h", "1.5h", "1h30m", "\u0661\u0662", "9999999999"]
)
def test_parse_ttl_rejects_junk(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ttl(text)


async def test_generate_dev_keypair_round_trip(kit: Any, tmp_path: Path) -> None:
    private_pem, public_pem = generate_dev_keypair()
    assert isinstance(
        serialization.load_pem_private_key(private_pem, password=None),
        ed25519.Ed25519PrivateKey,
    )
    (tmp_path / "dev.pub").write_bytes(public_pem)
    verifier = make_verifier(kit, PemKeySource(tmp_path / "dev.pub"))
    token = mint_token(
        private_pem,
        issuer=kit.issuer,
        audience=kit.audience,
        sub="demo",
        ori="CA0010000",
        roles=["investigator"],
        ttl_s=parse_ttl("1h"),
    )
    assert (await verifier.verify(f"Bearer {token}")).sub == "demo"
    other_private, _ = generate_dev_keypair()
    assert other_private != private_pem
