"""`alpr-proxy keygen` (log-signing key) and `alpr-proxy token` (development tokens)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from proxy.audit.note import generate_signer_key
from proxy.auth.tokens import mint_token, parse_ttl
from proxy.settings import SettingsError, load_settings


def write_secret(path: Path, data: bytes) -> None:
    """Create `path` readable by its owner only; never overwrite an existing key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def keygen(name: str, out: str) -> int:
    try:
        private, verifier = generate_signer_key(name)
    except ValueError as exc:
        print(f"alpr-proxy keygen: {exc}", file=sys.stderr)
        return 2
    try:
        write_secret(Path(out), (private + "\n").encode())
    except FileExistsError:
        print(f"alpr-proxy keygen: {out} exists; refusing to overwrite a key", file=sys.stderr)
        return 2
    print(verifier)
    return 0


def token(config: str, *, sub: str, ori: str, roles: str, ttl: str) -> int:
    try:
        settings = load_settings(config)
        ttl_s = parse_ttl(ttl)
    except (SettingsError, ValueError) as exc:
        print(f"alpr-proxy token: {exc}", file=sys.stderr)
        return 2
    key_file = settings.auth.dev_private_key_file
    if not key_file:
        print(
            "alpr-proxy token: no auth.dev_private_key_file configured; refusing to mint",
            file=sys.stderr,
        )
        return 2
    role_list = [r.strip() for r in roles.split(",") if r.strip()]
    print(
        mint_token(
            Path(key_file).read_bytes(),
            issuer=settings.auth.issuer,
            audience=settings.auth.audience,
            sub=sub,
            ori=ori,
            roles=role_list,
            ttl_s=ttl_s,
        )
    )
    return 0
