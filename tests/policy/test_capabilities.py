"""usable_purposes (SPEC §13): what a user may search under, decided as the search decision's
first checks are: the investigator role, an agency in the policy, no prohibited purpose."""

from __future__ import annotations

import pytest

from proxy.model import Principal
from proxy.policy.capabilities import usable_purposes
from proxy.policy.document import parse_policy
from tests.http.conftest import policy_text

POLICY = parse_policy(policy_text().encode())
PERMITTED = ["HOMICIDE", "ROBBERY", "AMBER_ALERT", "CANVASS", "KIDNAPPING"]


def codes(roles: tuple[str, ...], ori: str = "CA0010900") -> list[str]:
    return [p.code for p in usable_purposes(Principal("u", ori, frozenset(roles), 0), POLICY)]


def test_an_investigator_may_use_every_purpose_not_prohibited():
    assert codes(("investigator",)) == PERMITTED
    assert "CIVIL_IMMIGRATION" in POLICY.purposes  # present, prohibited, never offered
    assert codes(("investigator", "auditor")) == PERMITTED


@pytest.mark.parametrize("roles", [(), ("auditor",), ("oversight",), ("supervisor",), ("admin",)])
def test_without_the_investigator_role_nothing(roles: tuple[str, ...]):
    assert codes(roles) == []


def test_an_agency_outside_the_policy_may_use_nothing():
    assert codes(("investigator",), ori="TX0000000") == []
