"""`alpr-proxy demo`'s sign-in: the console offers the demo's users and the proxy mints a
token for the one picked, with the demo's own development key.

It is not a setting. No config key or environment variable turns it on: only
proxy/cli/demo.py constructs a DemoSignIn and passes it to create_app, so a deployment
started with `alpr-proxy serve` cannot offer it, whatever its configuration says.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.auth.tokens import mint_token
from proxy.errors import ProxyError

TOKEN_TTL_S = 3600


@dataclass(frozen=True, slots=True)
class DemoUser:
    sub: str
    ori: str
    agency: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DemoSignIn:
    users: tuple[DemoUser, ...]
    private_key_pem: bytes
    issuer: str
    audience: str

    def public_users(self) -> list[dict[str, object]]:
        """What the console lists (never the key)."""
        return [
            {"sub": u.sub, "ori": u.ori, "agency": u.agency, "roles": list(u.roles)}
            for u in self.users
        ]

    def token_for(self, sub: object) -> str:
        """A token for the demo user `sub`; any other name is refused (no made-up users)."""
        user = next((u for u in self.users if u.sub == sub), None)
        if user is None:
            raise ProxyError("invalid_request", "`sub` must name one of the demo's users")
        return mint_token(
            self.private_key_pem,
            issuer=self.issuer,
            audience=self.audience,
            sub=user.sub,
            ori=user.ori,
            roles=user.roles,
            ttl_s=TOKEN_TTL_S,
        )
