"""Who may review an entry (SPEC §8, §12): the rules of `POST /v1/audit/reviews`, as a pure
function of the caller and the entry reviewed.

- Auditors review entries concerning their agency, oversight any entry (as before).
- An exigent search (`"exigent": true`) is reviewed only by a supervisor of the requester's
  agency or by oversight, and a supervisor reviews those entries of their agency and nothing
  else. So every review of an exigent search is one that discharges it: the refusal of further
  exigent searches while one's own is overdue (proxy.audit.claims), the flags report and the
  overdue metric (proxy.oversight.reports.flag_exigent) agree on what "reviewed" means.
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

SUPERVISOR = "supervisor"
REVIEW_ROLES = frozenset({"auditor", "oversight", SUPERVISOR})


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


def _out_of_reach(principal: Principal, entry: Mapping[str, Any]) -> str | None:
    """Why the entry is not the caller's to review, or None."""
    if "oversight" in principal.roles:
        return None
    if is_exigent(entry):
        if SUPERVISOR in principal.roles and entry.get("agency") == principal.ori:
            return None
        return "an exigent search is reviewed by a supervisor of its agency or by oversight"
    if "auditor" in principal.roles:
        return (
            None if principal.ori in concerns(entry) else "this entry does not concern your agency"
        )
    return "a supervisor reviews only exigent searches of their own agency"


def review_refusal(principal: Principal, entry: Mapping[str, Any] | None) -> ReviewRefused | None:
    """Why ``principal`` may not review ``entry`` (None: no entry at that index), or None."""
    if entry is None:
        return ReviewRefused("not_found", "no entry at that index")
    reason = _out_of_reach(principal, entry)
    if reason is not None:
        return ReviewRefused("forbidden_role", reason)
    if same_person(principal, entry):
        return ReviewRefused("self_review", "nobody reviews their own entry")
    return None
