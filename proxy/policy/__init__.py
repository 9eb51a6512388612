"""The policy engine: pure functions and immutable data, no I/O and no clock (``now`` is passed in).

Parse a policy with ``parse_policy``, decide a search with ``decide``, and filter the rows of an
allowed search with ``Allowed.disclosure.withhold_reason``. Around the lifecycle of a policy:
``lint`` (warnings about a valid but wide policy), ``diff`` (what a reload changes, for the
``policy_loaded`` audit entry) and ``explain`` (whose reads a requester would see, and why).
Partial-plate patterns are matched as regexes with ``pattern_regex`` (their SQL form is the
store's: ``proxy.store.postgres.pattern_to_like``).
"""

from __future__ import annotations

from proxy.policy._reader import FieldError
from proxy.policy.diff import diff
from proxy.policy.disclosure import Disclosure, WithholdReason, admits
from proxy.policy.document import parse_policy
from proxy.policy.evaluate import SUPPORTED_QUERY_TYPES, Allowed, Decision, Refused, decide
from proxy.policy.explain import Explanation, explain
from proxy.policy.geo import Circle, SensitiveLocation
from proxy.policy.geofence import GeofenceIndex
from proxy.policy.lint import LintWarning, lint
from proxy.policy.model import Agency, Policy, PolicyError, Purpose, Settings, SharingRule
from proxy.policy.plates import (
    normalize_pattern,
    normalize_plate,
    pattern_known_chars,
    pattern_regex,
)
from proxy.policy.summary import summarize
from proxy.policy.terms import TermMatcher, find_prohibited_term

__all__ = [
    "SUPPORTED_QUERY_TYPES",
    "Agency",
    "Allowed",
    "Circle",
    "Decision",
    "Disclosure",
    "Explanation",
    "FieldError",
    "GeofenceIndex",
    "LintWarning",
    "Policy",
    "PolicyError",
    "Purpose",
    "Refused",
    "SensitiveLocation",
    "Settings",
    "SharingRule",
    "TermMatcher",
    "WithholdReason",
    "admits",
    "decide",
    "diff",
    "explain",
    "find_prohibited_term",
    "lint",
    "normalize_pattern",
    "normalize_plate",
    "parse_policy",
    "pattern_known_chars",
    "pattern_regex",
    "summarize",
]
