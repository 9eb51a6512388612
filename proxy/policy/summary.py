"""A short human summary of a policy, for `alpr-proxy policy check`."""

from __future__ import annotations

from collections import Counter

from proxy.policy.model import Policy
from proxy.policy.retention import shorter_retention


def _counts(values: list[str]) -> str:
    c = Counter(values)
    return ", ".join(f"{k} {n}" for k, n in sorted(c.items()))


def summarize(policy: Policy) -> str:
    """A short human summary for ``alpr-proxy policy check``."""
    agencies = list(policy.agencies.values())
    purposes = list(policy.purposes.values())
    prohibited = sorted(p.code for p in purposes if p.prohibited)
    locs = policy.sensitive_locations
    s = policy.settings
    lines = [
        f"policy {policy.version}",
        f"agencies: {len(agencies)}"
        + (f" ({_counts([a.kind for a in agencies])})" if agencies else ""),
        f"purposes: {len(purposes)} ({len(prohibited)} prohibited"
        + (f": {', '.join(prohibited)})" if prohibited else ")"),
        f"sharing rules: {len(policy.sharing)} (owners: {len(policy.rules_by_owner)})",
        f"sensitive locations: {len(locs)}"
        + (f" ({_counts([loc.category for loc in locs])})" if locs else ""),
        f"settings: retention {s.retention_days} days, max_results {s.max_results},"
        f" justification >= {s.justification_min_chars} chars,"
        f" {len(s.prohibited_terms) + len(s.extra_prohibited_terms)} prohibited terms,"
        f" {s.rate_limit_per_minute} searches/minute per user",
    ]
    own = shorter_retention(policy)
    if own:
        kept = ", ".join(f"{ori} {d} days" for ori, d in own.items())
        lines.append(f"owners' own retention: {kept}")
    return "\n".join(lines)
