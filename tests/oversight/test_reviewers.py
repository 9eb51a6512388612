"""Who may review which entry (proxy.oversight.reviewers): auditors their agency's, oversight
all, exigent searches only a supervisor of their agency or oversight, supervisors nothing
else, and nobody their own."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.model import Principal
from proxy.oversight.reviewers import review_refusal, same_person

IDP = "https://idp.test.example"
OAK, BRK = "CA0010900", "CA0010800"


def who(sub: str, ori: str, *roles: str, iss: str = IDP) -> Principal:
    return Principal(sub, ori, frozenset(roles), 0, iss=iss)


def search(sub: str = "det.lee", ori: str = OAK, **extra: Any) -> dict[str, Any]:
    return {"event": "search", "subject": sub, "agency": ori, "issuer": IDP, **extra}


def code(principal: Principal, entry: dict[str, Any] | None) -> str | None:
    refused = review_refusal(principal, entry)
    return None if refused is None else refused.code


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        (who("aud", OAK, "auditor"), None),
        (who("ig", "CA9999999", "oversight"), None),
        (who("aud", BRK, "auditor"), "forbidden_role"),  # not their agency's entry
        (who("sgt", OAK, "supervisor"), "forbidden_role"),  # not exigent
        (who("det.lee", OAK, "investigator", "auditor"), "self_review"),  # the red team
        (who("det.lee", OAK, "oversight"), "self_review"),  # oversight too
    ],
)
def test_ordinary_entries(principal: Principal, expected: str | None):
    assert code(principal, search()) == expected


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        (who("sgt", OAK, "supervisor"), None),  # a supervisor of the requester's agency
        (who("ig", "CA9999999", "oversight"), None),
        (who("sgt", BRK, "supervisor"), "forbidden_role"),  # another agency's supervisor
        (who("det.lee", OAK, "supervisor", "investigator"), "self_review"),
        (who("aud", OAK, "auditor"), "forbidden_role"),  # only a supervisor or oversight
        (who("aud", OAK, "auditor", "supervisor"), None),
    ],
)
def test_exigent_searches(principal: Principal, expected: str | None):
    assert code(principal, search(exigent=True)) == expected


def test_missing_entries_and_other_events():
    assert code(who("aud", OAK, "auditor"), None) == "not_found"
    # `exigent` counts only on a search: a review entry carrying it is no exigent search.
    review = {"event": "review", "subject": "x", "agency": OAK, "exigent": True}
    assert code(who("sgt", OAK, "supervisor"), review) == "forbidden_role"


def test_a_person_is_issuer_subject_and_agency():
    lee = who("det.lee", OAK, "auditor")
    assert same_person(lee, search())
    assert not same_person(who("det.lee", OAK, "auditor", iss="https://other.idp"), search())
    assert not same_person(who("det.lee", BRK, "auditor"), search(ori=OAK))
    assert not same_person(who("det.kim", OAK, "auditor"), search())
    # An entry without an issuer (written before issuers were recorded): the safe side.
    old = {"event": "search", "subject": "det.lee", "agency": OAK}
    assert same_person(who("det.lee", OAK, "auditor", iss="https://other.idp"), old)
