"""`alpr-proxy keygen` (log-signing key) and `alpr-proxy token` (development tokens), and the
files only their owner may read that hold such secrets (write_secret, write_private)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from proxy.audit.note import generate_signer_key
from proxy.auth.tokens import mint_token, parse_ttl
from proxy.model import ROLES
from proxy.settings import load_settings


def write_secret(path: Path, data: bytes) -> None:
    """Create `path` readable by its owner only; never overwrite an existing key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_private(path: Path, text: str) -> None:
    """(Over)write a file only its owner can read: it holds passwords or tokens."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


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
    except OSError as exc:
        print(f"alpr-proxy keygen: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(verifier)
    return 0


def _roles(text: str) -> list[str]:
    roles = [r.strip() for r in text.split(",") if r.strip()]
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        what = f"unknown role {unknown[0]!r}" if unknown else "no role given"
        raise ValueError(f"--roles: {what}; use one or more of {', '.join(sorted(ROLES))}")
    return roles


def _mint(config: str, *, sub: str, ori: str, roles: str, ttl: str) -> str:
    settings = load_settings(config)
    ttl_s = parse_ttl(ttl)
    role_list = _roles(roles)
    key_file = settings.auth.dev_private_key_file
    if not key_file:
        raise ValueError("no auth.dev_private_key_file configured; refusing to mint")
    try:
        key = Path(key_file).read_bytes()
    except OSError as exc:
        raise ValueError(f"auth.dev_private_key_file {key_file}: {exc.strerror}") from exc
    try:
        return mint_token(
            key,
            issuer=settings.auth.issuer,
            audience=settings.auth.audience,
            sub=sub,
            ori=ori,
            roles=role_list,
            ttl_s=ttl_s,
        )
    except TypeError as exc:  # an encrypted PEM: cryptography wants a password
        raise ValueError(f"auth.dev_private_key_file {key_file}: {exc}") from exc


def token(config: str, *, sub: str, ori: str, roles: str, ttl: str) -> int:
    try:  # SettingsError is a ValueError; so is every bad argument and key below
        print(_mint(config, sub=sub, ori=ori, roles=roles, ttl=ttl))
    except ValueError as exc:
        print(f"alpr-proxy token: {exc}", file=sys.stderr)
        return 2
    return 0
