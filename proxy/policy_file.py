"""Loading the policy file, and the one reference every request reads the policy through.

Requests take `holder.current` once and use that object throughout, and a reload swaps the
reference only after the new file has validated, so no request ever sees a half-loaded policy.
"""

from __future__ import annotations

from pathlib import Path

from proxy.policy.document import Policy, parse_policy


def load_policy_file(path: str | Path) -> Policy:
    """Read and validate; raises PolicyError (with every field error) or OSError."""
    return parse_policy(Path(path).read_bytes())


class PolicyHolder:
    def __init__(self, policy: Policy, path: str | Path) -> None:
        self.current = policy
        self.path = Path(path)
