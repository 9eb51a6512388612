"""The body of an owner's sharing grant (SPEC §11) in the policy's own language: the parsed
TOML of a grant text in, a validated ``GrantBody`` out (``PolicyError`` lists every problem).

A grant names its owner, the deployment (the log origin), when it was issued and when it
expires (TOML date-times with an offset, at most ``MAX_GRANT_DAYS`` apart), an optional
``retention_days``, and ``[[sharing]]`` rules in the §7 form without ``owner``. Recipients are
named by ORI only (``to_agencies``, required): ``to_kinds`` and ``to_states`` are refused,
because the operator's policy decides an agency's kind and state and could re-label one.
ORIs and purpose codes are checked for syntax only: a recipient or purpose the operator's
policy does not know admits no one. ``exclude_immigration_enforcement`` defaults to true.

A key-change text (``<ORI>.keys``) names ``owner``, ``deployment``, ``issued``, ``next_keys``
(vkeys, possibly empty: the pen goes back to the operator) and ``next_quorum``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from proxy.policy._reader import FieldError, Reader
from proxy.policy.model import ALL_PURPOSES, PolicyError, SharingRule
from proxy.policy.owner_keys import grant_keys

MAX_GRANT_DAYS = 366
_ORI = re.compile(r"[A-Z0-9]{9}")
_ORI_HINT = "an ORI (9 upper-case ASCII letters and digits)"
_CODE = re.compile(r"[A-Z0-9_]+")
_GRANT_KEYS = frozenset({"owner", "deployment", "issued", "expires", "retention_days", "sharing"})
_KEYS_KEYS = frozenset({"owner", "deployment", "issued", "next_keys", "next_quorum"})
_RULE_KEYS = frozenset({"to_agencies", "exclude_immigration_enforcement", "purposes", "expires"})
_REFUSED = {
    "owner": "is implied by the grant's owner",
    "to_kinds": "is refused in a grant: name recipients by ORI (to_agencies)",
    "to_states": "is refused in a grant: name recipients by ORI (to_agencies)",
}


@dataclass(frozen=True, slots=True)
class GrantBody:
    owner: str
    deployment: str
    issued: datetime
    expires: datetime
    retention_days: int | None
    rules: tuple[SharingRule, ...]


@dataclass(frozen=True, slots=True)
class KeyChangeBody:
    owner: str
    deployment: str
    issued: datetime
    next_keys: tuple[str, ...]
    next_quorum: int


def _head(r: Reader, doc: dict[str, Any], allowed: frozenset[str]) -> tuple[str, str, datetime]:
    r.keys(doc, "", allowed)
    owner = r.text(doc, "", "owner", regex=_ORI, hint=_ORI_HINT)
    deployment = r.text(doc, "", "deployment")
    issued = r.aware_datetime(doc, "", "issued")
    if issued is None and "issued" not in doc:
        r.err("issued", "is required")
    return owner, deployment, issued or datetime.min


def parse_grant_body(doc: dict[str, Any]) -> GrantBody:
    r = Reader()
    owner, deployment, issued = _head(r, doc, _GRANT_KEYS)
    expires = r.aware_datetime(doc, "", "expires")
    if expires is None and "expires" not in doc:
        r.err("expires", "is required")
    if expires is not None and not r.errors:
        if expires <= issued:
            r.err("expires", "must be after issued")
        elif expires - issued > timedelta(days=MAX_GRANT_DAYS):
            r.err("expires", f"must be at most {MAX_GRANT_DAYS} days after issued")
    retention = r.integer(doc, "", "retention_days", required=False) or None
    # The refused keys are let through the unknown-key check to be refused with a reason.
    tables = r.tables(doc, "sharing", _RULE_KEYS | _REFUSED.keys())
    rules = tuple(_rule(r, t, p, owner) for t, p in tables)
    if r.errors:
        raise PolicyError(tuple(r.errors))
    return GrantBody(owner, deployment, issued, expires or issued, retention, rules)


def _rule(r: Reader, t: dict[str, Any], p: str, owner: str) -> SharingRule:
    for key in sorted(_REFUSED.keys() & t.keys()):
        r.err(f"{p}.{key}", _REFUSED[key])
    agencies = r.strings(
        t, p, "to_agencies", lambda v: None if _ORI.fullmatch(v) else f"{v!r} is not {_ORI_HINT}"
    )
    if not t.get("to_agencies"):
        r.err(f"{p}.to_agencies", "is required and must name at least one agency by ORI")
    purposes = r.strings(
        t,
        p,
        "purposes",
        lambda v: None if v == ALL_PURPOSES or _CODE.fullmatch(v) else f"{v!r} is not a code",
        default=None,
    )
    if "purposes" in t and t["purposes"] == []:
        r.err(f"{p}.purposes", 'must not be empty (use ["*"] for all purposes)')
    return SharingRule(
        owner=owner,
        to_kinds=frozenset(),
        to_states=frozenset(),
        to_agencies=frozenset(agencies),
        exclude_immigration_enforcement=r.boolean(t, p, "exclude_immigration_enforcement", True),
        purposes=frozenset(purposes),
        expires=r.plain_date(t, p, "expires"),
    )


def parse_key_change_body(doc: dict[str, Any]) -> KeyChangeBody:
    r = Reader()
    owner, deployment, issued = _head(r, doc, _KEYS_KEYS)
    fields = {"grant_keys": doc.get("next_keys", []), "grant_quorum": doc.get("next_quorum", 0)}
    if "next_keys" not in doc or "next_quorum" not in doc:
        r.err("", "next_keys and next_quorum are required")
    keys: tuple[str, ...] = ()
    quorum = 0
    if fields["grant_keys"]:
        sub = Reader()
        keys, quorum = grant_keys(sub, fields, "")
        r.errors += [FieldError(e.path.replace("grant_", "next_"), e.message) for e in sub.errors]
    elif fields["grant_quorum"] != 0:
        r.err("next_quorum", "must be 0 when next_keys is empty")
    if r.errors:
        raise PolicyError(tuple(r.errors))
    return KeyChangeBody(owner, deployment, issued, keys, quorum)
