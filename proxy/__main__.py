"""`alpr-proxy` command line (SPEC §2): parses the subcommand and hands over, nothing else.

Every error is one line on stderr: usage and configuration errors exit 2 (argparse's own
included), and an unexpected exception is reported in one line, exit 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from proxy import __version__
from proxy.cli.verify_args import add_remote_arguments  # argparse only
from proxy.cli.witness import add_witness_parser  # argparse only: no heavy imports
from proxy.metrics_dir import MetricsDirError, ensure_multiproc_dir

TTL_HELP = (
    "token lifetime: whole seconds (3600), or a number with a unit s, m, h or d "
    "(45s, 30m, 1h, 2d); default 1h"
)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (its default prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_policy(add_parser: Callable[..., argparse.ArgumentParser]) -> None:
    p = add_parser("policy", help="policy tools")
    psub = p.add_subparsers(dest="policy_command", required=True)
    day = "judge rule expiry as of this day, YYYY-MM-DD (default: today, UTC)"
    pc = psub.add_parser("check", help="validate a policy file; print a summary and warnings")
    pc.add_argument("file")
    pc.add_argument("--strict", action="store_true", help="exit 1 on warnings as well")
    pc.add_argument("--date", default=None, help=day)
    _grant_options(pc)
    pe = psub.add_parser("explain", help="whose reads a requester would see for a purpose, why")
    pe.add_argument("--policy", required=True, help="the policy file")
    pe.add_argument("--requester", required=True, help="the requesting agency's ORI")
    pe.add_argument("--on-behalf-of", default=None, help="the on_behalf_of agency's ORI")
    pe.add_argument("--purpose", required=True, help="the purpose code")
    pe.add_argument("--date", default=None, help=day)
    _grant_options(pe)
    pd = psub.add_parser(
        "diff", help="what loading NEW over OLD would change (JSON); exit 0 same, 1 differ, 2 error"
    )
    pd.add_argument("old")
    pd.add_argument("new")
    _grant_options(pd)
    pd.add_argument("--new-grants", default=None, help="the new side's grants_dir")


def _grant_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grants", default=None, help="apply the owners' grants in this grants_dir")
    p.add_argument("--deployment", default=None, help="the log origin grants must name")
    p.add_argument("--config", default=None, help="the proxy configuration (its log.origin)")


def _add_grant(add_parser: Callable[..., argparse.ArgumentParser]) -> None:
    p = add_parser("grant", help="an owner's signed sharing grants (SPEC §11)")
    gsub = p.add_subparsers(dest="grant_command", required=True)
    gk = gsub.add_parser("keygen", help="make an Ed25519 grant key; print its vkey")
    gk.add_argument("--name", required=True, help="the key name, e.g. city.example.gov/grants")
    gk.add_argument("--out", required=True, help="file to write the private key to (mode 0600)")
    origin = "the deployment: this log origin (or --config FILE: its log.origin)"
    gd = gsub.add_parser("draft", help="a grant text naming, by ORI, the agencies that match")
    gd.add_argument("--policy", required=True, help="the operator's policy file")
    gd.add_argument("--owner", required=True, help="the owner's ORI")
    gd.add_argument("--kinds", default=None, help="agency kinds, default local,state")
    gd.add_argument("--states", default=None, help="state codes, default the owner's; * any")
    gd.add_argument("--purposes", default=None, help='purpose codes, default "*"')
    gd.add_argument("--days", type=int, default=365, help="valid for N days (max 366)")
    gs = gsub.add_parser("sign", help="sign a grant, or add a signature to a signed one")
    gs.add_argument("--key", required=True, help="the grant key file (PRIVATE+KEY+...)")
    gs.add_argument("--policy", default=None, help="verify existing signatures by its keys")
    gs.add_argument("grant")
    gc = gsub.add_parser("check", help="is this grant in force? exit 1 with the reason if not")
    gc.add_argument("--policy", required=True, help="the operator's policy file")
    gc.add_argument("--at", default=None, help="judge as of this RFC 3339 time (default now)")
    gc.add_argument("grant")
    for sp in (gd, gc):
        sp.add_argument("--deployment", default=None, help=origin)
        sp.add_argument("--config", default=None, help="the proxy configuration (log.origin)")


def _add_audit(add_parser: Callable[..., argparse.ArgumentParser]) -> None:
    p = add_parser("audit", help="audit log tools")
    asub = p.add_subparsers(dest="audit_command", required=True)
    av = asub.add_parser("verify", help="verify the audit log end to end")
    av.add_argument("--config", default=None, help="database-backed (or use --url)")
    av.add_argument("--key", default=None, help="verifier key (name+hexhash+base64key)")
    av.add_argument("--checkpoint", default=None, help="a checkpoint kept outside the database")
    add_remote_arguments(av)
    ar = asub.add_parser("report", help="oversight reports (usage, disclosures, flags), offline")
    ar.add_argument("--config", required=True)
    ar.add_argument("--from", dest="from_", required=True, help="RFC 3339, or a date (UTC)")
    ar.add_argument("--to", required=True, help="RFC 3339, or a date (UTC); exclusive")
    ar.add_argument("--format", default="json", choices=("json", "csv", "html"))
    ar.add_argument("--report", default="all", choices=("usage", "disclosures", "flags", "all"))
    ar.add_argument("--limit", type=int, default=1000, help="flagged entries listed per list")


def _add_retention(add_parser: Callable[..., argparse.ArgumentParser]) -> None:
    p = add_parser("retention", help="the store's retention")
    rsub = p.add_subparsers(dest="retention_command", required=True)
    rp = rsub.add_parser("purge", help="delete reads past each owner's retention, on record")
    rp.add_argument("--config", required=True)
    rp.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted; change nothing"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="alpr-proxy", description="Policy-enforcing, audited access proxy for ALPR reads."
    )
    parser.add_argument("--version", action="version", version=f"alpr-proxy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="run a self-contained demo on an embedded PostgreSQL")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--data-dir", default=None, help="where the demo keeps its database and keys")
    p.add_argument(
        "--once",
        action="store_true",
        help="run the example searches, print them, and exit (used by the tests)",
    )

    for name, text in (
        ("serve", "run the production server"),
        ("migrate", "apply sql/ migrations to the store and audit databases"),
    ):
        sub.add_parser(name, help=text).add_argument("--config", required=True)
    _add_policy(sub.add_parser)

    p = sub.add_parser("keygen", help="make an Ed25519 log-signing key")
    p.add_argument("--name", required=True, help="the key name, usually the log origin")
    p.add_argument("--out", required=True, help="file to write the private key to (mode 0600)")

    p = sub.add_parser("token", help="mint a development token with auth.dev_private_key_file")
    p.add_argument("--config", required=True)
    p.add_argument("--sub", required=True)
    p.add_argument("--ori", required=True)
    p.add_argument("--roles", required=True, help="comma-separated, e.g. investigator,auditor")
    p.add_argument("--ttl", default="1h", help=TTL_HELP)
    _add_audit(sub.add_parser)
    _add_grant(sub.add_parser)
    _add_retention(sub.add_parser)
    add_witness_parser(sub.add_parser)
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    # Imported lazily so `alpr-proxy policy check` does not pay for aiohttp and asyncpg.
    if args.command == "witness":
        from proxy.cli.witness import run_witness

        return run_witness(args)
    if args.command == "demo":
        from proxy.cli.demo import run_demo

        return run_demo(port=args.port, data_dir=args.data_dir, once=args.once)
    if args.command == "serve":
        from proxy.cli.serve import serve

        return serve(args.config)
    if args.command == "migrate":
        from proxy.cli.migrate import migrate_command

        return migrate_command(args.config)
    if args.command == "policy":
        from proxy.cli.policy import run_policy

        return run_policy(args)
    if args.command == "grant":
        from proxy.cli.grant import run_grant

        return run_grant(args)
    if args.command == "retention":
        from proxy.cli.retention import purge_command

        return purge_command(args.config, dry_run=args.dry_run)
    if args.command == "keygen":
        from proxy.cli.credentials import keygen

        return keygen(args.name, args.out)
    if args.command == "token":
        from proxy.cli.credentials import token

        return token(args.config, sub=args.sub, ori=args.ori, roles=args.roles, ttl=args.ttl)
    if args.command == "audit" and args.audit_command == "report":
        from proxy.cli.report import report_command

        return report_command(
            args.config,
            from_=args.from_,
            to=args.to,
            fmt=args.format,
            report=args.report,
            limit=args.limit,
        )
    from proxy.cli.verify_remote import run_verify

    return run_verify(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        ensure_multiproc_dir()  # before any command imports the metrics, which write there
        return _dispatch(args)
    except MetricsDirError as exc:
        print(f"alpr-proxy {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last resort: one line, not a traceback
        print(
            f"alpr-proxy {args.command}: unexpected error ({type(exc).__name__}): {exc}",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
