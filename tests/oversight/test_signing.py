"""Who wrote an owner's rules, from the live holder's statuses (proxy.oversight.signing)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from proxy.grants import PLAIN_REASONS
from proxy.oversight.signing import AGENCY, NO_GRANT, OPERATOR, signing_of
from tests.grants.grant_env import ISSUED, UNION, effective, grant_text, keys_text, make_policy
from tests.grants.note_ref import RefKey, note

CHIEF = RefKey("unioncity.example.gov/chief")


def test_a_grant_in_force_is_signed_by_the_agency() -> None:
    text = grant_text()
    statuses = effective(make_policy([CHIEF]), {f"{UNION}.grant": note(text, CHIEF)}).statuses
    s = signing_of(statuses, UNION)
    assert (s.author, s.issued, s.expires) == (AGENCY, ISSUED, ISSUED + timedelta(days=180))
    assert s.keys == (f"unioncity.example.gov/chief+{CHIEF.hash8}",)
    assert s.sha256 == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert s.label == "rules signed by the agency"


def test_keys_without_a_valid_grant_share_with_no_one_and_say_why() -> None:
    statuses = effective(make_policy([CHIEF]), {}).statuses
    s = signing_of(statuses, UNION)
    assert (s.author, s.reason, s.keys) == (NO_GRANT, PLAIN_REASONS["missing"], ())
    unsigned = {f"{UNION}.grant": note(grant_text(), RefKey("someone/else"))}
    assert (
        signing_of(effective(make_policy([CHIEF]), unsigned).statuses, UNION).reason
        == (PLAIN_REASONS["unsigned"])
    )


def test_no_keys_or_released_keys_mean_the_operators_rules() -> None:
    assert signing_of(effective(make_policy([]), {}).statuses, UNION).author == OPERATOR
    record = {o: s.record for o, s in effective(make_policy([CHIEF]), {}).statuses.items()}
    release = {f"{UNION}.keys": note(keys_text([], 0), CHIEF)}
    released = effective(make_policy([]), release, record).statuses
    assert signing_of(released, UNION).author == OPERATOR
