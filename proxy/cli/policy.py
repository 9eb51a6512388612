"""`alpr-proxy policy check FILE`: a summary, or every error with its field; exit 1 on error."""

from __future__ import annotations

import sys
from pathlib import Path

from proxy.policy.document import PolicyError, parse_policy, summarize


def check(file: str) -> int:
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        print(f"{file}: cannot read: {exc}", file=sys.stderr)
        return 1
    try:
        policy = parse_policy(data)
    except PolicyError as exc:
        for error in exc.errors:
            where = f"{error.path}: " if error.path else ""
            print(f"{file}: {where}{error.message}", file=sys.stderr)
        print(f"{file}: invalid ({len(exc.errors)} error(s)); not loadable", file=sys.stderr)
        return 1
    print(summarize(policy))
    return 0
