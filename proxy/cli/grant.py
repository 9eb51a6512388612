"""`alpr-proxy grant ...` (SPEC §11): an owner's tools for its sharing grants, none of which
needs a server or a database.

* `keygen --name NAME --out FILE`: an Ed25519 grant key in Go's note signer-key form; prints
  its vkey (for the operator's `grant_keys`).
* `draft --policy FILE --owner ORI [--kinds K,..] [--states S,..] [--purposes P,..]
  (--deployment ORIGIN | --config FILE) [--days N]`: a grant text naming by ORI the agencies
  that match today (default kinds local,state; default states: the owner's, `*` any), issued
  now and expiring in N days (default 365, at most 366), on stdout.
* `sign --key FILE GRANT [--policy FILE]`: adds a signature (stdout: the signed note only).
* `check --policy FILE GRANT [--deployment ORIGIN | --config FILE] [--at TIME]`: is it in force
  now (exit 0, a summary) or why not (exit 1, the reason). Rollback needs the log's record
  and is judged by the server (its policy_loaded entries), not here.

Errors are one line on stderr; unreadable input and bad arguments exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from proxy.audit.note import Signer, generate_signer_key
from proxy.cli.credentials import write_secret
from proxy.cli.grant_sign import sign_command
from proxy.cli.policy import load_reporting
from proxy.grants import GrantRefused, check_grant, draft_grant
from proxy.grants.draft import DEFAULT_KINDS, matching
from proxy.grants.signed import split_text
from proxy.policy.grant_body import MAX_GRANT_DAYS
from proxy.policy.model import KINDS
from proxy.settings import SettingsError, load_settings


class UsageError(Exception):
    """Bad arguments or unreadable input: exit 2."""


def _deployment(args: argparse.Namespace, fallback: str | None = None) -> str:
    if args.deployment:
        return str(args.deployment)
    if args.config:
        try:
            return load_settings(args.config).log.origin
        except SettingsError as exc:
            raise UsageError(str(exc)) from None
    if fallback is not None:
        return fallback
    raise UsageError("give --deployment ORIGIN or --config FILE (its log.origin)")


# SPEC §11's `grant draft` takes no deployment: without --deployment, --config or the log origin's
# environment variable, the draft names this placeholder, which no proxy's origin matches, so a
# grant signed without editing it is refused (wrong_deployment) rather than misapplied.
UNKNOWN_DEPLOYMENT = "EDIT-ME: this proxy's log origin ([log] origin)"


def _draft_deployment(args: argparse.Namespace) -> str:
    if args.deployment or args.config:
        return _deployment(args)
    origin = os.environ.get("ALPR_PROXY_LOG_ORIGIN", "").strip()
    if origin:
        return origin
    print(
        "alpr-proxy grant draft: no --deployment, --config or ALPR_PROXY_LOG_ORIGIN: edit the"
        " deployment line before signing",
        file=sys.stderr,
    )
    return UNKNOWN_DEPLOYMENT


def _list(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def keygen(name: str, out: str) -> int:
    try:
        private, vkey = generate_signer_key(name)
        write_secret(Path(out), (private + "\n").encode())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except FileExistsError:
        raise UsageError(f"{out} exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror}") from None
    print(vkey)
    return 0


def draft(args: argparse.Namespace) -> int:
    policy = load_reporting(args.policy)
    if policy is None:
        return 2
    owner = policy.agencies.get(args.owner)
    if owner is None:
        raise UsageError(f"{args.owner} is not an agency in {args.policy}")
    if not 1 <= args.days <= MAX_GRANT_DAYS:
        raise UsageError(f"--days must be between 1 and {MAX_GRANT_DAYS}")
    # Unset: the owner's own state; "*" (or ""): any state.
    if args.states is None:
        states = [owner.state] if owner.state else []
    else:
        states = [s for s in _list(args.states) if s != "*"]
    kinds = _list(args.kinds) or list(DEFAULT_KINDS)
    if unknown := sorted(set(kinds) - KINDS):
        raise UsageError(f"--kinds: {', '.join(unknown)} not among {', '.join(sorted(KINDS))}")
    if not matching(policy, owner.ori, kinds, states):  # a grant must admit someone
        print("alpr-proxy grant draft: no agency matches; nothing to draft", file=sys.stderr)
        return 1
    issued = datetime.now(UTC).replace(microsecond=0)
    text = draft_grant(
        policy,
        owner.ori,
        kinds=kinds,
        states=states,
        purposes=_list(args.purposes) or ["*"],
        deployment=_draft_deployment(args),
        issued=issued,
        expires=issued + timedelta(days=args.days),
    )
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()
    return 0


def _now(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise UsageError(f"--at: {at!r} is not an RFC 3339 time") from None
    if when.utcoffset() is None:
        raise UsageError("--at needs an offset, e.g. 2026-12-01T12:00:00Z")
    return when


def check(args: argparse.Namespace) -> int:
    policy = load_reporting(args.policy)
    if policy is None:
        return 2
    data = _read(args.grant)
    try:
        owner = split_text(data).owner
        agency = policy.agencies.get(owner)
        if agency is None or not agency.grant_keys:
            raise GrantRefused("wrong_owner", f"{owner!r} has no grant_keys in {args.policy}")
        origin = _deployment(args, fallback=split_text(data).deployment)
        grant = check_grant(
            data, owner, agency.grant_keys, agency.grant_quorum, origin, _now(args.at)
        )
    except GrantRefused as exc:
        print(f"alpr-proxy grant check: {args.grant}: {exc.reason}: {exc.detail}", file=sys.stderr)
        return 1
    b, s = grant.body, grant.signed
    if not (args.deployment or args.config):
        print(f"deployment {b.deployment!r} not checked: give --deployment or --config")
    print(f"in force: {owner}, issued {b.issued.isoformat()}, expires {b.expires.isoformat()}")
    print(f"signed by {', '.join(s.signed_by)} ({agency.grant_quorum} required); {s.digest}")
    for i, rule in enumerate(b.rules):
        to = ", ".join(sorted(rule.to_agencies))
        print(f"  sharing[{i}]: to {to}; purposes {', '.join(sorted(rule.purposes))}")
    return 0


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _signer(path: str) -> Signer:
    try:
        return Signer.from_private_key(_read(path).decode("utf-8").strip())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: {exc}") from None


def run_grant(args: argparse.Namespace) -> int:
    """Dispatch for `alpr-proxy grant ...` (arguments defined in proxy.__main__)."""
    command: str = args.grant_command
    try:
        if command == "keygen":
            return keygen(args.name, args.out)
        if command == "draft":
            return draft(args)
        if command == "sign":
            policy = None if args.policy is None else load_reporting(args.policy)
            if args.policy is not None and policy is None:
                return 2
            return sign_command(_signer(args.key), _read(args.grant), policy)
        if command == "check":
            return check(args)
    except UsageError as exc:
        print(f"alpr-proxy grant {command}: {exc}", file=sys.stderr)
        return 2
    raise AssertionError(command)
