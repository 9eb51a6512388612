"""The policy document (SPEC §7): TOML bytes in, a validated, immutable ``Policy`` out.

Validation is strict and exhaustive: ``parse_policy`` reports *every* problem it finds, each with
the path of the field (``agencies[2].kind``), and rejects unknown keys everywhere, because a typo
in a security policy must neither silently widen nor silently narrow it.

Defaults for keys SPEC's example leaves out (anything not listed here is required):

* ``[settings]``: ``prohibited_terms`` defaults to ``DEFAULT_PROHIBITED_TERMS`` (SPEC §7's six
  terms, their inflections and the agencies' long names); an explicit list, even ``[]``,
  replaces it. ``extra_prohibited_terms`` (default ``[]``) adds terms to whichever list applies,
  e.g. other languages' (``["inmigración", "deportación"]``) without repeating the defaults.
* An ORI (an agency's ``ori``, a rule's ``owner``) is 9 upper-case ASCII letters and digits.
* ``[[agencies]]``: ``state`` may be omitted (e.g. federal agencies); such an agency is never
  admitted by a rule that lists ``to_states``. ``immigration_enforcement`` defaults to false.
  ``grant_keys`` (default none) and ``grant_quorum`` (default 1): proxy.policy.owner_keys.
  ``retention_days`` (optional, an integer >= 1) is the owner's own retention: the shorter of
  it and ``settings.retention_days`` applies to the owner's reads (``proxy.policy.retention``).
* ``[[purposes]]``: ``description`` defaults to ``""`` and ``prohibited`` to false. A prohibited
  purpose needs nothing else. Otherwise ``max_lookback_days`` is required, ``case_number``
  defaults to ``"required"``, ``query_types`` to ``["plate"]`` and ``sensitive_locations`` to
  ``"withhold"``; ``area_max_radius_m`` and ``area_max_window_hours`` are required when
  ``query_types`` includes ``"area"``.
* ``[[sharing]]``: ``owner`` and ``purposes`` are required (no implicit ``"*"``);
  ``to_kinds``, ``to_states`` and ``to_agencies`` default to ``[]`` but a rule must admit
  someone (``to_kinds`` or ``to_agencies``), and ``to_states`` needs ``to_kinds``;
  ``exclude_immigration_enforcement`` defaults to **true** (the safe side); no ``expires`` means
  the rule does not expire. ``declaration_required`` (optional; ``proxy.policy.declaration``)
  makes the rule admit only searches that carry that declaration; it is stored normalised.
* ``[[sensitive_locations]]``: exactly one of ``circle`` / ``polygon``; ``active_from`` and
  ``active_until`` are optional, independently.
* Two people (SPEC §12): the fields and defaults of ``proxy.policy.two_person_fields``.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Collection
from dataclasses import fields
from types import MappingProxyType
from typing import Any, Literal, cast

from proxy.policy._reader import FieldError, Reader
from proxy.policy.declaration import normalize_declaration, required_problem
from proxy.policy.geofence import LOCATION_KEYS, GeofenceIndex, parse_location
from proxy.policy.model import (
    ALL_PURPOSES,
    APPROVAL_CONDITIONS,
    KINDS,
    QUERY_TYPES,
    Agency,
    AgencyKind,
    Policy,
    PolicyError,
    Purpose,
    Settings,
    SharingRule,
)
from proxy.policy.owner_keys import grant_keys
from proxy.policy.terms import compile_terms, term_words
from proxy.policy.two_person_fields import check_home_state, purpose_fields, settings_fields

# Used when [settings] has no prohibited_terms: SPEC §7's example list, with the inflections and
# long names a justification uses instead (matching is whole-word, so each form is listed).
DEFAULT_PROHIBITED_TERMS: tuple[str, ...] = (
    "immigration", "ICE", "ERO", "deport", "deportation", "illegal alien",
    "deports", "deported", "deporting", "deportee", "deportees", "deportable", "deportations",
    "illegal aliens", "illegals",
    "Immigration and Customs Enforcement", "Enforcement and Removal Operations",
)  # fmt: skip


def parse_policy(data: bytes) -> Policy:
    """Parse and validate policy TOML; raises ``PolicyError`` listing every problem."""
    version = "sha256:" + hashlib.sha256(data).hexdigest()
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise PolicyError((FieldError("", f"not a valid UTF-8 TOML document: {e}"),)) from None
    r = Reader()
    r.keys(doc, "", _TOP_KEYS)
    settings = _settings(r, r.table(doc.get("settings"), "settings", _SETTINGS_KEYS))
    agencies = [_agency(r, t, p) for t, p in r.tables(doc, "agencies", _AGENCY_KEYS)]
    purposes = [_purpose(r, t, p) for t, p in r.tables(doc, "purposes", _PURPOSE_KEYS)]
    oris = r.unique([a.ori for a in agencies], "agencies", "ori")
    codes = r.unique([p.code for p in purposes], "purposes", "code")
    sharing = [_rule(r, t, p, oris, codes) for t, p in r.tables(doc, "sharing", _RULE_KEYS)]
    locations = [
        parse_location(r, t, p) for t, p in r.tables(doc, "sensitive_locations", LOCATION_KEYS)
    ]
    check_home_state(r, settings.home_state, [p.approval_required for p in purposes])
    if r.errors:
        raise PolicyError(tuple(r.errors))
    by_owner: dict[str, list[SharingRule]] = {}
    for rule in sharing:
        by_owner.setdefault(rule.owner, []).append(rule)
    return Policy(
        version=version,
        settings=settings,
        agencies=MappingProxyType({a.ori: a for a in agencies}),
        purposes=MappingProxyType({p.code: p for p in purposes}),
        sharing=tuple(sharing),
        sensitive_locations=tuple(locations),
        geofence=GeofenceIndex(locations),
        terms=compile_terms(settings.prohibited_terms + settings.extra_prohibited_terms),
        rules_by_owner=MappingProxyType({k: tuple(v) for k, v in by_owner.items()}),
        required_declarations=frozenset(
            r.declaration_required for r in sharing if r.declaration_required is not None
        ),
        owner_retention_days=MappingProxyType(
            {a.ori: a.retention_days for a in agencies if a.retention_days is not None}
        ),
    )


# NCIC ORI syntax (proxy.model.is_ori), and upper case: ORIs are compared exactly.
_ORI = re.compile(r"[A-Z0-9]{9}")
_ORI_HINT = "an ORI (9 upper-case ASCII letters and digits)"
_STATE = re.compile(r"[A-Z]{2}")
_CODE = re.compile(r"[A-Z0-9_]+")
# Every key a section may hold (the dataclass fields are named after them); anything else is
# reported as an unknown key.
_TOP_KEYS = frozenset({"settings", "agencies", "purposes", "sharing", "sensitive_locations"})
_SETTINGS_KEYS = frozenset(f.name for f in fields(Settings))
_AGENCY_KEYS = frozenset(f.name for f in fields(Agency))
_PURPOSE_KEYS = frozenset(f.name for f in fields(Purpose))
_RULE_KEYS = frozenset(f.name for f in fields(SharingRule))


def _member(allowed: Collection[str], what: str) -> Callable[[str], str | None]:
    return lambda v: None if v in allowed else f"{v!r} is not {what}"


def _settings(r: Reader, t: dict[str, Any]) -> Settings:
    def term(v: str) -> str | None:
        return None if term_words(v) else "must contain a word"

    return Settings(
        retention_days=r.integer(t, "settings", "retention_days"),
        max_results=r.integer(t, "settings", "max_results"),
        justification_min_chars=r.integer(t, "settings", "justification_min_chars"),
        prohibited_terms=r.strings(
            t, "settings", "prohibited_terms", term, default=DEFAULT_PROHIBITED_TERMS
        ),
        rate_limit_per_minute=r.integer(t, "settings", "rate_limit_per_minute"),
        extra_prohibited_terms=r.strings(t, "settings", "extra_prohibited_terms", term),
        **settings_fields(r, t),
    )


def _agency(r: Reader, t: dict[str, Any], p: str) -> Agency:
    keys, quorum = grant_keys(r, t, p)
    return Agency(
        ori=r.text(t, p, "ori", regex=_ORI, hint=_ORI_HINT),
        name=r.text(t, p, "name"),
        kind=cast(AgencyKind, r.choice(t, p, "kind", KINDS)),
        state=r.text(t, p, "state", required=False, regex=_STATE, hint="a two-letter state code")
        or None,
        immigration_enforcement=r.boolean(t, p, "immigration_enforcement", False),
        grant_keys=keys,
        grant_quorum=quorum,
        retention_days=r.integer(t, p, "retention_days", required=False) or None,
    )


def _purpose(r: Reader, t: dict[str, Any], p: str) -> Purpose:
    code = r.text(t, p, "code", regex=_CODE, hint="a purpose code (A-Z, 0-9, _)")
    description = r.text(t, p, "description", required=False)
    prohibited = r.boolean(t, p, "prohibited", False)
    lookback = r.integer(t, p, "max_lookback_days", required=not prohibited)
    default_types = () if prohibited else ("plate",)
    types = r.strings(
        t, p, "query_types", _member(QUERY_TYPES, "a query type"), default=default_types
    )
    if not types and not prohibited and "query_types" in t:
        r.err(f"{p}.query_types", "must not be empty (use prohibited = true instead)")
    limits: list[float | None] = []
    for key in ("area_max_radius_m", "area_max_window_hours"):
        limits.append(r.positive(t, p, key, required=False))
        if "area" in types and key not in t:
            r.err(f"{p}.{key}", 'is required when query_types includes "area"')
    approvals, exigent = purpose_fields(r, t, p, APPROVAL_CONDITIONS)
    return Purpose(
        code=code,
        description=description,
        prohibited=prohibited,
        max_lookback_days=lookback,
        case_number=cast(
            Literal["required", "optional"],
            r.choice(t, p, "case_number", ("required", "optional"), "required"),
        ),
        query_types=frozenset(types),
        area_max_radius_m=limits[0],
        area_max_window_hours=limits[1],
        sensitive_locations=cast(
            Literal["withhold", "include"],
            r.choice(t, p, "sensitive_locations", ("withhold", "include"), "withhold"),
        ),
        approval_required=approvals,
        exigent=exigent,
    )


def _rule(r: Reader, t: dict[str, Any], p: str, oris: set[str], codes: set[str]) -> SharingRule:
    owner = r.text(t, p, "owner", regex=_ORI, hint=_ORI_HINT)
    if owner and owner not in oris:
        r.err(f"{p}.owner", f"{owner!r} is not an agency in this policy")
    kinds = r.strings(t, p, "to_kinds", _member(KINDS, "an agency kind"))
    states = r.strings(
        t, p, "to_states", lambda v: None if _STATE.fullmatch(v) else f"{v!r} is not a state code"
    )
    agencies = r.strings(t, p, "to_agencies", _member(oris, "an agency in this policy"))
    if not t.get("to_kinds") and not t.get("to_agencies"):
        r.err(p, "admits no agency: set to_kinds or to_agencies")
    if t.get("to_states") and not t.get("to_kinds"):
        r.err(f"{p}.to_states", "has no effect without to_kinds")
    purposes = r.strings(
        t, p, "purposes", _member(codes | {ALL_PURPOSES}, 'a purpose code or "*"'), default=None
    )
    if "purposes" in t and t["purposes"] == []:
        r.err(f"{p}.purposes", 'must not be empty (use ["*"] for all purposes)')
    return SharingRule(
        owner=owner,
        to_kinds=frozenset(kinds),
        to_states=frozenset(states),
        to_agencies=frozenset(agencies),
        exclude_immigration_enforcement=r.boolean(t, p, "exclude_immigration_enforcement", True),
        purposes=frozenset(purposes),
        expires=r.plain_date(t, p, "expires"),
        declaration_required=_declaration(r, t, p),
    )


def _declaration(r: Reader, t: dict[str, Any], p: str) -> str | None:
    text = r.text(t, p, "declaration_required", required=False)
    if not text:
        return None
    problem = required_problem(text)
    if problem is not None:
        r.err(f"{p}.declaration_required", problem)
        return None
    return normalize_declaration(text)
