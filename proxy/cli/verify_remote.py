"""`alpr-proxy audit verify --url URL (--token T | --token-file F) --key LOG_VKEY
[--witness VKEY]... [--quorum K] [--state FILE] [--max-age DURATION]` (SPEC §10).

Exit 0: the checkpoint, its quorum and every entry verify (and extend --state's checkpoint);
1: they do not, and one line names the first failing index or checkpoint with its evidence;
2: the verification could not run (usage, key, token, state file, URL, network, server).
Progress goes to stderr, and only when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import aiohttp

from proxy import loops
from proxy.audit.remote import RemoteOptions, RemoteReport, verify_remote
from proxy.audit.remote_checks import RemoteVerificationError, b64
from proxy.audit.remote_fetch import RemoteSetupError
from proxy.audit.verify import NoteFormatError, Verifier
from proxy.audit.verify_state import StateFileError
from proxy.cli.verify_args import RemoteArgs, misplaced, remote_args
from proxy.witness.cosignature import CosignatureFormatError, CosignatureVerifier

PROG = "alpr-proxy audit verify"
_DURATION = re.compile(r"([1-9][0-9]{0,8})([smhd]?)\Z")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class UsageError(Exception):
    """A flag that cannot be used (exit 2)."""


def parse_duration(text: str) -> int:
    """``90s``, ``30m``, ``1h``, ``2d`` or whole seconds, as seconds (> 0)."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise UsageError(f"--max-age {text!r}: want a duration such as 90s, 30m, 1h or 2d")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def _token(args: RemoteArgs) -> str:
    if (args.token is None) == (args.token_file is None):
        raise UsageError("--url needs exactly one of --token and --token-file")
    if args.token_file is not None:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--token-file: {exc}") from exc
    else:
        token = (args.token or "").strip()
    if not token:
        raise UsageError("the token is empty")
    return token


def _witnesses(args: RemoteArgs) -> tuple[tuple[CosignatureVerifier, ...], int]:
    try:
        witnesses = tuple(CosignatureVerifier.from_vkey(v) for v in args.witnesses)
    except CosignatureFormatError as exc:
        raise UsageError(f"--witness: {exc}") from exc
    distinct = len({w.public_key for w in witnesses})
    quorum = distinct if args.quorum is None else args.quorum
    if not 0 <= quorum <= distinct:
        raise UsageError(f"--quorum {quorum}: want 0 to {distinct} (the distinct --witness keys)")
    return witnesses, quorum


def options_from(args: RemoteArgs) -> RemoteOptions:
    if args.key is None:
        raise UsageError("--url needs --key LOG_VKEY (the log's verifier key, published by it)")
    try:
        key = Verifier.from_key(args.key)
    except NoteFormatError as exc:
        raise UsageError(f"--key: {exc}") from exc
    if not args.url.startswith(("http://", "https://")):
        raise UsageError(f"--url {args.url!r}: want an http:// or https:// URL")
    witnesses, quorum = _witnesses(args)
    return RemoteOptions(
        url=args.url,
        token=_token(args),
        key=key,
        witnesses=witnesses,
        quorum=quorum,
        state=None if args.state is None else Path(args.state),
        max_age_s=parse_duration(args.max_age),
    )


def _progress(done: int, total: int) -> None:
    sys.stderr.write(f"\r{done:,} / {total:,} entries verified")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _print(report: RemoteReport) -> None:
    print(f"OK: {report.size} entries verified against the signed checkpoint")
    print(f"size {report.size}")
    print(f"root {b64(report.root)}")
    if report.cosigners:
        print(f"cosigned by {', '.join(report.cosigners)}")
    if report.remembered is not None:
        print(f"extends the remembered checkpoint at size {report.remembered}")
    print(f"{report.unwitnessed} entries beyond the checkpoint (unwitnessed, not yet covered)")
    print(f"{report.seconds:.2f} s")


def verify_remote_command(args: RemoteArgs) -> int:
    try:
        options = options_from(args)
        progress = _progress if sys.stderr.isatty() else None
        report = loops.run(verify_remote(options, progress=progress))
    except RemoteVerificationError as exc:
        print(f"FAILED: {exc}")
        return 1
    except (aiohttp.ClientError, TimeoutError) as exc:  # before OSError: some are both
        print(f"{PROG}: cannot reach {args.url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except (UsageError, RemoteSetupError, StateFileError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    _print(report)
    return 0


def run_verify(ns: argparse.Namespace) -> int:
    """`audit verify`: over HTTP with --url, else from the database with --config."""
    problem = misplaced(ns)
    if problem is not None:
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    if ns.url is not None:
        return verify_remote_command(remote_args(ns))
    from proxy.cli.audit import verify_command

    return verify_command(
        ns.config,
        key=ns.key,
        checkpoint=ns.checkpoint,
        witnesses=tuple(ns.witness or ()),
        quorum=ns.quorum,
    )
