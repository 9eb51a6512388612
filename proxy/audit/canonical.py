"""The canonical bytes of an audit entry (SPEC §8) and the record the writer appends.

Canonical form: UTF-8, keys sorted at every level, no insignificant whitespace. The bytes are
what gets hashed into the Merkle tree and stored, so they are produced exactly once, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from proxy.audit.claims import Claim
from proxy.model import Principal

_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def canonical(entry: Mapping[str, Any]) -> bytes:
    return orjson.dumps(entry, option=_OPTS)


def timestamp(at: datetime) -> str:
    """RFC 3339, UTC, microseconds, `Z`: one spelling, so equal times give equal bytes."""
    # isoformat is C and several times faster than strftime; same digits, same padding.
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True, slots=True)
class Record:
    """One entry ready to append: its canonical bytes, which are all the log stores. What
    oversight queries is derived from them later, off the request path (proxy.oversight.facts)."""

    body: bytes
    # Set on the few entries that must hold a single-use key at commit (proxy.audit.claims).
    claim: Claim | None = None


def principal_fields(p: Principal) -> dict[str, Any]:
    # `issuer` (the token's iss) makes "the same person" (iss, sub, ori) decidable from the
    # log; entries made without a token (tools, older entries) have none.
    fields = {"subject": p.sub, "agency": p.ori, "roles": sorted(p.roles)}
    return {**fields, "issuer": p.iss} if p.iss else fields
