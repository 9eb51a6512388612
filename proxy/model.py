"""Plain data shared by every layer: who is asking, what they asked, what the store holds.

Nothing here does I/O, so the pure policy package may import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

QueryType = Literal["plate", "partial_plate", "area"]
ROLES = frozenset({"investigator", "auditor", "oversight", "admin", "supervisor"})

# An NCIC Originating Agency Identifier: exactly 9 ASCII letters and digits. Checked wherever an
# ORI comes in (tokens, on_behalf_of, the policy), so no agency can be named "*" or "" and
# collide with a report's "all agencies" scope. The policy also requires upper case.
ORI_SYNTAX = "9 ASCII letters and digits"
_ORI = re.compile(r"[A-Za-z0-9]{9}")


def is_ori(value: object) -> bool:
    return isinstance(value, str) and _ORI.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller, from a verified JWT."""

    sub: str
    ori: str
    roles: frozenset[str]
    expires_at: float  # the token's `exp`, seconds since the epoch
    # The token's `iss`: a person is (iss, sub, ori) (SPEC §12), so two identity providers'
    # "det.lee" are two people. "" only where no token was involved (tests, tools).
    iss: str = ""

    @property
    def person(self) -> tuple[str, str, str]:
        return (self.iss, self.sub, self.ori)


@dataclass(frozen=True, slots=True)
class OnBehalfOf:
    ori: str
    person: str | None = None


@dataclass(frozen=True, slots=True)
class Area:
    """A circle on the sphere: a search's area, a sensitive location's disk (policy.geo.Circle)."""

    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A parsed, normalised `POST /v1/search` body (SPEC §6)."""

    type: QueryType
    from_: datetime  # timezone-aware
    to: datetime  # timezone-aware, >= from_
    purpose: str
    case_number: str | None = None
    justification: str | None = None
    on_behalf_of: OnBehalfOf | None = None
    plate: str | None = None  # normalised; set when type == "plate"
    plate_state: str | None = None
    pattern: str | None = None  # normalised; set when type == "partial_plate"
    area: Area | None = None  # set when type == "area"
    # As asked; sharing rules compare it normalised (proxy.policy.declaration).
    declaration: str | None = None
    approval: int | None = None  # SPEC §12: the audit index of the approved request


@dataclass(frozen=True, slots=True)
class Read:
    """One row of `alpr.reads` (SPEC §4)."""

    id: int
    plate: str
    plate_state: str | None
    observed_at: datetime
    lat: float
    lon: float
    camera_id: str
    agency_ori: str
