"""The policy engine: pure functions and immutable data, no I/O and no clock (``now`` is passed in).

Parse a policy with ``parse_policy``, decide a search with ``decide``, and filter the rows of an
allowed search with ``Allowed.disclosure.withhold_reason``.
"""

from __future__ import annotations

from proxy.policy._reader import FieldError
from proxy.policy.disclosure import Disclosure, WithholdReason, admits
from proxy.policy.document import (
    Agency,
    Policy,
    PolicyError,
    Purpose,
    Settings,
    SharingRule,
    parse_policy,
    summarize,
)
from proxy.policy.evaluate import SUPPORTED_QUERY_TYPES, Allowed, Decision, Refused, decide
from proxy.policy.geofence import Circle, GeofenceIndex, SensitiveLocation
from proxy.policy.text import (
    TermMatcher,
    find_prohibited_term,
    normalize_pattern,
    normalize_plate,
)

__all__ = [
    "SUPPORTED_QUERY_TYPES",
    "Agency",
    "Allowed",
    "Circle",
    "Decision",
    "Disclosure",
    "FieldError",
    "GeofenceIndex",
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
    "find_prohibited_term",
    "normalize_pattern",
    "normalize_plate",
    "parse_policy",
    "summarize",
]
