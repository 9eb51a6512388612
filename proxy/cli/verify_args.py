"""The flags of `alpr-proxy audit verify --url ...` (SPEC §10; --witness and --quorum also go
with --config), argparse only: the top-level parser imports this, so it must stay free of
aiohttp and asyncpg."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

REMOTE_ONLY = ("token", "token_file", "state", "max_age")  # --witness, --quorum: either way


@dataclass(frozen=True)
class RemoteArgs:
    url: str
    token: str | None
    token_file: str | None
    key: str | None
    witnesses: tuple[str, ...]
    quorum: int | None
    state: str | None
    max_age: str


def add_remote_arguments(av: argparse.ArgumentParser) -> None:
    av.add_argument("--url", default=None, help="verify over HTTP: the proxy's base URL")
    av.add_argument("--token", default=None, help="an oversight token (with --url)")
    av.add_argument("--token-file", default=None, help="a file holding the token (with --url)")
    av.add_argument(
        "--witness",
        action="append",
        default=None,
        metavar="VKEY",
        help="a witness's verifier key (type 0x04); repeatable (with --url or --config)",
    )
    av.add_argument(
        "--quorum", type=int, default=None, help="cosignatures required (default: all --witness)"
    )
    av.add_argument(
        "--state", default=None, help="remember the verified checkpoint here; demand it extends"
    )
    av.add_argument(
        "--max-age", default=None, help="oldest cosignature accepted: 90s, 30m, 1h (default 1h)"
    )


def remote_args(ns: argparse.Namespace) -> RemoteArgs:
    return RemoteArgs(
        url=ns.url,
        token=ns.token,
        token_file=ns.token_file,
        key=ns.key,
        witnesses=tuple(ns.witness or ()),
        quorum=ns.quorum,
        state=ns.state,
        max_age=ns.max_age or "1h",
    )


def misplaced(ns: argparse.Namespace) -> str | None:
    """Why these flags cannot go together, or None."""
    if ns.url is not None and ns.config is not None:
        return "--url and --config are alternatives: give one"
    if ns.url is None and ns.config is None:
        return "give --config FILE (database) or --url URL (over HTTP)"
    if ns.url is None:
        for name in REMOTE_ONLY:
            if getattr(ns, name) is not None:
                return f"--{name.replace('_', '-')} needs --url"
    elif ns.checkpoint is not None:
        return "--checkpoint is for --config; with --url use --state"
    return None
