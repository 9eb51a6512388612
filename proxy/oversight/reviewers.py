"""Who may review an entry (SPEC §8, §12): the rules of `POST /v1/audit/reviews`, as a pure
function of the caller and the entry reviewed.

- Auditors review entries concerning their agency, oversight any entry (as before).
- An exigent search (`"exigent": true`) must be reviewed by a supervisor of the requester's
  agency or by oversight: a supervisor may review those, and only those, entries of their
  agency. An auditor may still record their agency's disposition of one, which does not count
  as its exigent review (proxy.oversight.reports.flag_exigent).
- Nobody reviews their own entry (`self_review`): a token holding `investigator` and `auditor`
  could otherwise search, mark its own entry `no_issue`, and take it off the review queue. The
  same person is the same (issuer, subject, agency); an entry from before issuers were
  recorded is taken as the caller's when subject and agency match (the safe side).

Checked in this order: not found, out of the caller's reach (`forbidden_role`), self.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxy.errors import ErrorCode
from proxy.model import Principal
from proxy.oversight.derived import concerns

AUDIT_ROLES = frozenset({"auditor", "oversight"})
SUPERVISOR = "supervisor"
REVIEW_ROLES = AUDIT_ROLES | {SUPERVISOR}


@dataclass(frozen=True, slots=True)
class ReviewRefused:
    code: ErrorCode
    message: str


def is_exigent(entry: Mapping[str, Any]) -> bool:
    return entry.get("event") == "search" and entry.get("exigent") is True


def same_person(principal: Principal, entry: Mapping[str, Any]) -> bool:
    """Whether ``entry`` was made by ``principal``: (issuer, subject, agency), SPEC §12."""
    issuer = entry.get("issuer")
    return (
        entry.get("subject") == principal.sub
        and entry.get("agency") == principal.ori
        and (issuer is None or issuer == principal.iss)
    )


def _in_reach(principal: Principal, entry: Mapping[str, Any]) -> bool:
    if "oversight" in principal.roles:
        return True
    if SUPERVISOR in principal.roles and is_exigent(entry) and entry.get("agency") == principal.ori:
        return True
    return "auditor" in principal.roles and principal.ori in concerns(entry)


def review_refusal(principal: Principal, entry: Mapping[str, Any] | None) -> ReviewRefused | None:
    """Why ``principal`` may not review ``entry`` (None: no entry at that index), or None."""
    if entry is None:
        return ReviewRefused("not_found", "no entry at that index")
    if not _in_reach(principal, entry):
        if principal.roles & AUDIT_ROLES:
            return ReviewRefused("forbidden_role", "this entry does not concern your agency")
        return ReviewRefused(
            "forbidden_role", "a supervisor reviews only exigent searches of their own agency"
        )
    if same_person(principal, entry):
        return ReviewRefused("self_review", "nobody reviews their own entry")
    return None
