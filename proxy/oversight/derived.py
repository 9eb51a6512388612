"""Facts derived from an entry's canonical bytes, so oversight can filter and report in SQL.

They are a convenience copy of what the bytes say: the verifier never reads them, and anything
that matters for evidence is read back from `body`. One function derives them for every event
(proxy.oversight.facts stores them in audit.entry_facts, behind the log), so listings, reports and
the access checks agree on what, say, "the agencies an entry concerns" means.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from proxy.policy.plates import normalize_pattern, normalize_plate
from proxy.policy.text import strip_format

_DIGITS = re.compile(r"\d+")


class Derived(NamedTuple):
    """An entry's facts. A named tuple rather than a frozen dataclass: the facts catch-up
    builds one per entry, and this is several times cheaper to construct."""

    event: str | None = None
    request_id: str | None = None
    agency: str | None = None  # the requester (the caller's agency for non-search events)
    decision: str | None = None
    reason: str | None = None
    at: datetime | None = None  # the entry's `time`
    subject: str | None = None
    purpose: str | None = None
    on_behalf_of: str | None = None  # the ORI only
    plate: str | None = None  # normalised exact plate, or normalised partial pattern
    reads_returned: int | None = None
    owners: tuple[str, ...] = ()  # agencies whose reads were disclosed, sorted
    owner_reads: tuple[int, ...] = ()  # reads disclosed per owner, parallel to `owners`
    concerns: tuple[str, ...] = ()  # requester, on-behalf-of agency, disclosing owners
    justification_key: bytes | None = None  # 16 bytes of SHA-256 of the normalised text
    reviewed_index: int | None = None
    disposition: str | None = None
    # Reviews: by a principal with the oversight role (oversight's disposition), else an
    # agency auditor's. None for other events.
    review_by_oversight: bool | None = None
    # SPEC §12. The approval_required request an entry refers to: an `approval` entry's
    # `request_index` (the request it decides), a search's `approval` (the request whose
    # approval it uses).
    request_index: int | None = None
    # True for a search that ran as exigent (None otherwise: the partial index holds only
    # those).
    exigent: bool | None = None
    # Reviews: whether the reviewer held the supervisor role. None for other events.
    review_by_supervisor: bool | None = None
    # `approval` entries: the verdict asked ("approve" or "deny"; decision `allowed` decides).
    verdict: str | None = None


def normalize_justification(text: str) -> str:
    """Boilerplate detection's form: NFKC without format characters, casefolded, every run of
    digits as one '#', whitespace runs collapsed to one space. "Case 26-0042, witness saw car"
    and "case 26-97,  Witness saw car" become the same text: "case #-#, witness saw car"."""
    # ASCII holds no format characters and is its own NFKC: skip the per-character pass.
    folded = (text if text.isascii() else strip_format(text)).casefold()
    return " ".join(_DIGITS.sub("#", folded).split())


def justification_key(text: str) -> bytes | None:
    norm = normalize_justification(text)
    return hashlib.sha256(norm.encode()).digest()[:16] if norm else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _plate(query: Any) -> str | None:
    if not isinstance(query, dict):
        return None
    if query.get("type") == "plate" and isinstance(query.get("plate"), str):
        return normalize_plate(query["plate"])
    if query.get("type") == "partial_plate" and isinstance(query.get("pattern"), str):
        return normalize_pattern(query["pattern"])
    return None


def _disclosed(entry: Mapping[str, Any]) -> list[tuple[str, int]]:
    outcome = entry.get("outcome")
    by_owner = outcome.get("disclosed_by_owner") if isinstance(outcome, dict) else None
    if not isinstance(by_owner, dict):
        return []
    return sorted(
        (owner, n) for owner, n in by_owner.items() if isinstance(n, int) and n > 0 and owner
    )


def on_behalf_of_ori(entry: Mapping[str, Any]) -> str | None:
    obo = entry.get("on_behalf_of")
    return _str(obo.get("ori")) if isinstance(obo, dict) else None


def concerns(entry: Mapping[str, Any]) -> frozenset[str]:
    """The agencies an entry concerns (SPEC §8): requester, on-behalf-of agency, every owner
    whose reads it disclosed. An auditor of one of these agencies may see the entry."""
    return _concerns(entry, _disclosed(entry))


def _concerns(entry: Mapping[str, Any], disclosed: list[tuple[str, int]]) -> frozenset[str]:
    named = {_str(entry.get("agency")), on_behalf_of_ori(entry)}
    named.update(owner for owner, _ in disclosed)
    return frozenset(a for a in named if a)


def _holds(entry: Mapping[str, Any], role: str) -> bool:
    roles = entry.get("roles")
    return isinstance(roles, list) and role in roles


def _request_index(entry: Mapping[str, Any]) -> int | None:
    event = entry.get("event")
    if event == "approval":
        return _int(entry.get("request_index"))
    return _int(entry.get("approval")) if event == "search" else None


def derive(entry: Mapping[str, Any]) -> Derived:
    time = _str(entry.get("time"))
    try:
        at = datetime.fromisoformat(time) if time else None
    except ValueError:
        at = None
    if at is not None and at.tzinfo is None:
        at = None  # entries always carry `Z`; a naive time is not ours to guess
    disclosed = _disclosed(entry)
    outcome = entry.get("outcome")
    justification = _str(entry.get("justification"))
    review = entry.get("event") == "review"
    search = entry.get("event") == "search"
    return Derived(
        event=_str(entry.get("event")),
        request_id=_str(entry.get("request_id")),
        agency=_str(entry.get("agency")),
        decision=_str(entry.get("decision")),
        reason=_str(entry.get("reason")),
        at=at,
        subject=_str(entry.get("subject")),
        purpose=_str(entry.get("purpose")),
        on_behalf_of=on_behalf_of_ori(entry),
        plate=_plate(entry.get("query")) if search else None,
        reads_returned=_int(outcome.get("returned")) if isinstance(outcome, dict) else None,
        owners=tuple(owner for owner, _ in disclosed),
        owner_reads=tuple(n for _, n in disclosed),
        concerns=tuple(sorted(_concerns(entry, disclosed))),
        justification_key=justification_key(justification) if justification else None,
        reviewed_index=_int(entry.get("reviewed_index")) if review else None,
        disposition=_str(entry.get("disposition")) if review else None,
        review_by_oversight=_holds(entry, "oversight") if review else None,
        request_index=_request_index(entry),
        exigent=True if search and entry.get("exigent") is True else None,
        review_by_supervisor=_holds(entry, "supervisor") if review else None,
        verdict=_str(entry.get("verdict")) if entry.get("event") == "approval" else None,
    )


def derive_body(body: bytes) -> Derived:
    """The facts of an entry as stored: its bytes parsed; anything but a JSON object is empty."""
    try:
        entry = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Derived()
    return derive(entry) if isinstance(entry, dict) else Derived()
