"""The policy's data: immutable dataclasses a parsed policy is made of (proxy.policy.document
parses TOML into them), the agency kinds and search types, and the error listing every problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Literal

from proxy.policy._reader import FieldError
from proxy.policy.geo import SensitiveLocation
from proxy.policy.geofence import GeofenceIndex
from proxy.policy.terms import TermMatcher
from proxy.policy.two_person_fields import (
    DEFAULT_APPROVAL_VALID_HOURS,
    DEFAULT_EXIGENT_PER_USER_PER_DAY,
    DEFAULT_EXIGENT_REVIEW_HOURS,
    RECIPIENT_CONDITIONS,
)

AgencyKind = Literal["local", "state", "federal", "tribal", "private"]
KINDS: frozenset[str] = frozenset({"local", "state", "federal", "tribal", "private"})
QUERY_TYPES: frozenset[str] = frozenset({"plate", "partial_plate", "area"})
# What a purpose's approval_required may list (SPEC §12): a search type, or a kind of recipient.
APPROVAL_CONDITIONS: frozenset[str] = QUERY_TYPES | RECIPIENT_CONDITIONS
ALL_PURPOSES = "*"


class PolicyError(Exception):
    """The policy is invalid; ``errors`` lists every problem found."""

    def __init__(self, errors: tuple[FieldError, ...]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Settings:
    retention_days: int
    max_results: int
    justification_min_chars: int
    prohibited_terms: tuple[str, ...]
    rate_limit_per_minute: int
    extra_prohibited_terms: tuple[str, ...] = ()
    home_state: str | None = None
    approval_valid_hours: int = DEFAULT_APPROVAL_VALID_HOURS
    exigent_review_hours: int = DEFAULT_EXIGENT_REVIEW_HOURS
    exigent_per_user_per_day: int = DEFAULT_EXIGENT_PER_USER_PER_DAY


@dataclass(frozen=True, slots=True)
class Agency:
    ori: str
    name: str
    kind: AgencyKind
    state: str | None
    immigration_enforcement: bool
    # SPEC §11: once set, only grants signed by these keys decide who receives its reads.
    grant_keys: tuple[str, ...] = ()
    grant_quorum: int = 1
    retention_days: int | None = None  # the owner's own, applied when shorter (SPEC §11)


@dataclass(frozen=True, slots=True)
class Purpose:
    code: str
    description: str
    prohibited: bool
    max_lookback_days: int
    case_number: Literal["required", "optional"]
    query_types: frozenset[str]
    area_max_radius_m: float | None
    area_max_window_hours: float | None
    sensitive_locations: Literal["withhold", "include"]
    approval_required: frozenset[str] = frozenset()  # of APPROVAL_CONDITIONS
    exigent: bool = False


@dataclass(frozen=True, slots=True)
class SharingRule:
    owner: str
    to_kinds: frozenset[str]
    to_states: frozenset[str]
    to_agencies: frozenset[str]
    exclude_immigration_enforcement: bool
    purposes: frozenset[str]  # may contain "*"
    expires: date | None
    # Normalised (proxy.policy.declaration); None: the rule needs no declaration.
    declaration_required: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    version: str  # "sha256:" + hex digest of the exact file bytes
    settings: Settings
    agencies: Mapping[str, Agency]  # by ORI
    purposes: Mapping[str, Purpose]  # by code
    sharing: tuple[SharingRule, ...]
    sensitive_locations: tuple[SensitiveLocation, ...]
    geofence: GeofenceIndex
    terms: TermMatcher  # prohibited_terms, compiled once
    rules_by_owner: Mapping[str, tuple[SharingRule, ...]]
    # owner ORI -> its own retention in days, for owners that set one (from [[agencies]], or
    # from the owner's signed grant); proxy.policy.retention applies the shorter one.
    owner_retention_days: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    # (owner, recipients, purpose code, date) -> may every recipient see the owner's reads?
    # A memo of a pure function of this policy (proxy.policy.disclosure), filled by searches.
    # The key's last item is the search's declaration when it is one of
    # ``required_declarations``, else None, so the memo stays bounded by the policy.
    sharing_memo: dict[tuple[str, tuple[str, ...], str, date, str | None], bool] = field(
        default_factory=dict, repr=False
    )
    required_declarations: frozenset[str] = frozenset()  # every rule's declaration_required
