"""`alpr-proxy policy ...`: operator tools around a policy file, none of which needs a server.

* `check FILE [--strict] [--date D]`: every error with its field (exit 1), or the summary and
  the lint warnings (exit 0; with `--strict`, exit 1 when there are warnings); with `--grants`
  also, per owner with grant keys, the grant in force or why none is.
* `explain --policy FILE --requester ORI [--on-behalf-of ORI] --purpose CODE [--date D]`: whose
  reads such a search would return and why; exit 1 when an agency or the purpose is unknown.
* `diff OLD NEW`: what loading NEW over OLD changes, as the JSON `policy_loaded` records; exit
  as diff(1): 0 when the policies are the same (only the two versions printed), 1 when they
  differ, 2 when either cannot be read or parsed.

With `--grants DIR` (and `--deployment ORIGIN` or `--config FILE`), check, explain and diff
apply the owners' signed grants in DIR as the server would (SPEC §11; proxy.cli.policy_grants);
diff's `--new-grants DIR` gives the new side its own grants, so the diff shows what a new grant
would widen (its rules under `sharing`, each owner's before/after under `grants`).

`--date` (YYYY-MM-DD) judges rule expiry as of that day; the default is today in UTC, the day
the server's sharing decisions use.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path

from proxy.cli.policy_grants import GrantArgsError, origin_of, rule_names, status_lines, with_grants
from proxy.grants import grant_changes
from proxy.policy.diff import diff
from proxy.policy.document import parse_policy
from proxy.policy.explain import explain, render
from proxy.policy.lint import lint
from proxy.policy.model import Policy, PolicyError
from proxy.policy.summary import summarize


def load_reporting(file: str) -> Policy | None:
    """The parsed policy, or None after printing why not to stderr."""
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        print(f"{file}: cannot read: {exc}", file=sys.stderr)
        return None
    try:
        return parse_policy(data)
    except PolicyError as exc:
        for error in exc.errors:
            where = f"{error.path}: " if error.path else ""
            print(f"{file}: {where}{error.message}", file=sys.stderr)
        print(f"{file}: invalid ({len(exc.errors)} error(s)); not loadable", file=sys.stderr)
        return None


def _day(text: str | None) -> date | None:
    """The --date value, today (UTC) when absent; None (after a message) when malformed."""
    if text is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        print(f"--date: {text!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return None


def check(args: argparse.Namespace) -> int:
    today = _day(args.date)
    policy = load_reporting(args.file)
    if policy is None or today is None:
        return 1
    print(summarize(policy))
    if args.grants is not None:  # per owner: the grant in force, or why none is
        origin = origin_of(args.deployment, args.config)
        moment = _moment(args.date, today)
        print("\n".join(status_lines(with_grants(policy, args.grants, origin, moment))))
    warnings = lint(policy, today)
    if warnings:
        print(f"{len(warnings)} warning(s):")
        for w in warnings:
            print(f"  warning: {w}")
    return 1 if args.strict and warnings else 0


def _moment(on: str | None, today: date) -> datetime:
    """When grants are judged: now, or noon UTC of --date."""
    return datetime.now(UTC) if on is None else datetime.combine(today, time(12), tzinfo=UTC)


def explain_command(args: argparse.Namespace) -> int:
    today = _day(args.date)
    policy = load_reporting(args.policy)
    if policy is None or today is None:
        return 1
    names = None
    if args.grants is not None:
        origin = origin_of(args.deployment, args.config)
        effective = with_grants(policy, args.grants, origin, _moment(args.date, today))
        names = rule_names(policy, effective.policy)
        policy = effective.policy
        for line in status_lines(effective):
            print(line)
    e = explain(policy, args.requester, args.on_behalf_of, args.purpose, today, names)
    print(render(e))
    return 1 if e.unknown else 0


def diff_command(args: argparse.Namespace) -> int:
    old = load_reporting(args.old)
    new = None if old is None else load_reporting(args.new)  # one complaint at a time
    if old is None or new is None:
        return 2
    changes = diff(old, new)
    if args.grants is not None or args.new_grants is not None:
        origin, now = origin_of(args.deployment, args.config), datetime.now(UTC)
        before = with_grants(old, args.grants or args.new_grants, origin, now)
        record = {o: s.record for o, s in before.statuses.items()}
        after = with_grants(new, args.new_grants or args.grants, origin, now, record)
        changes = diff(before.policy, after.policy)
        if grants := grant_changes(before.to_json(), after.to_json()):
            changes["grants"] = grants
    print(json.dumps(changes, indent=2))
    return 1 if set(changes) - {"from", "to"} else 0


def run_policy(args: argparse.Namespace) -> int:
    """Dispatch for `alpr-proxy policy ...` (arguments defined in proxy.__main__)."""
    command: str = args.policy_command
    try:
        if command == "check":
            return check(args)
        if command == "explain":
            return explain_command(args)
        if command == "diff":
            return diff_command(args)
    except GrantArgsError as exc:
        print(f"alpr-proxy policy {command}: {exc}", file=sys.stderr)
        return 2
    raise AssertionError(command)
