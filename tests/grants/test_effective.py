"""Deny by default (SPEC §11): every way a grant can fail leaves the owner sharing with no one,
each case a test that fails if its check were removed. Signatures come from tests/grants/
note_ref.py, written from the signed-note spec, not from the proxy's signer."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from proxy.grants import REASONS, LastGrant, OwnerRecord, OwnerStatus, text_digest
from proxy.policy import Disclosure
from tests.grants.grant_env import (
    ISSUED,
    NOW,
    UNION,
    effective,
    grant_text,
    keys_text,
    make_policy,
    shares_with,
)
from tests.grants.note_ref import RefKey, note

OAKLAND, CHP, FBI, ICE = "CA0010900", "CA0349400", "DOJFBI000", "CA0389999"
CHIEF, CLERK, STRANGER = RefKey("unioncity.example.gov/chief"), RefKey("clerk"), RefKey("x")


def refused(
    files: dict[str, bytes],
    reason: str,
    *,
    keys: list[RefKey] | None = None,
    quorum: int | None = None,
    record: dict[str, OwnerRecord] | None = None,
) -> OwnerStatus:
    eff = effective(make_policy(keys or [CHIEF], quorum), files, record)
    status = eff.statuses[UNION]
    assert (status.reason, status.in_force) == (reason, None), status.detail
    assert reason in REASONS
    # Shares with no one: not even the agencies the operator's own rule admits.
    assert not any(shares_with(eff, ori) for ori in (OAKLAND, CHP, FBI, ICE))
    assert UNION not in eff.policy.rules_by_owner
    return status


def test_a_valid_grant_replaces_the_operators_rules() -> None:
    text = grant_text(extra="retention_days = 21\n")
    eff = effective(make_policy([CHIEF]), {f"{UNION}.grant": note(text, CHIEF)})
    status = eff.statuses[UNION]
    assert status.reason is None and status.in_force is not None
    assert status.in_force.signed_by == (CHIEF.hash8,)
    assert status.in_force.sha256 == text_digest(text) and status.in_force.text == text
    assert status.record.keys == (CHIEF.vkey,)
    assert shares_with(eff, OAKLAND)
    assert not shares_with(eff, CHP) and not shares_with(eff, FBI)  # the operator's rule is gone
    assert eff.policy.owner_retention_days == {UNION: 21}
    # The owner always sees its own reads, whatever its rules.
    d = Disclosure.build(eff.policy, (UNION,), eff.policy.purposes["HOMICIDE"], NOW)
    assert d.shares(UNION)


def test_an_owner_without_keys_keeps_the_operators_rules() -> None:
    eff = effective(make_policy([]), {})
    assert eff.statuses == {} and shares_with(eff, FBI)


def test_missing() -> None:
    refused({}, "missing")


def test_unsigned_and_unknown_keys_are_ignored() -> None:
    refused({f"{UNION}.grant": note(grant_text())}, "invalid")  # no signature line at all
    refused({f"{UNION}.grant": note(grant_text(), STRANGER)}, "unsigned")


def test_altered_text_fails_the_owners_signature() -> None:
    signed = note(grant_text(to='"CA0010900"'), CHIEF)
    altered = signed.replace(b'"CA0010900"', b'"CA0010900", "DOJFBI000"')
    refused({f"{UNION}.grant": altered}, "bad_signature")


def test_a_stranger_cannot_help_reach_the_quorum() -> None:
    files = {f"{UNION}.grant": note(grant_text(), CHIEF, STRANGER)}
    refused(files, "under_signed", keys=[CHIEF, CLERK], quorum=2)
    both = effective(
        make_policy([CHIEF, CLERK], 2), {f"{UNION}.grant": note(grant_text(), CHIEF, CLERK)}
    )
    in_force = both.statuses[UNION].in_force
    assert in_force is not None
    assert in_force.signed_by == tuple(sorted((CHIEF.hash8, CLERK.hash8)))


def test_the_same_key_twice_is_one_signature() -> None:
    text = grant_text()
    twice = note(text, CHIEF) + CHIEF.line(text).encode()
    refused({f"{UNION}.grant": twice}, "under_signed", keys=[CHIEF, CLERK], quorum=2)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (grant_text(owner="CA0010900"), "wrong_owner"),
        (grant_text(deployment="other.example/audit"), "wrong_deployment"),
        (grant_text(issued=NOW + timedelta(minutes=1)), "future_dated"),
        (grant_text(issued=NOW - timedelta(days=200)), "expired"),
        (grant_text(expires=ISSUED + timedelta(days=367)), "invalid"),
        (grant_text().replace("to_agencies", "to_kinds"), "invalid"),
        (grant_text(extra='to_states = ["CA"]\n').replace("to_agencies", "to_kinds"), "invalid"),
        (grant_text().replace("+00:00", ""), "invalid"),  # no offset
    ],
    ids=[
        "mis-owned",
        "other-deployment",
        "future",
        "expired",
        "too-long",
        "kinds",
        "states",
        "no-offset",
    ],
)
def test_what_the_grant_says_must_hold(text: str, reason: str) -> None:
    refused({f"{UNION}.grant": note(text, CHIEF)}, reason)


def test_text_a_note_cannot_carry_is_refused() -> None:
    for bad in ("\t", "\r"):
        text = grant_text().replace("\n[[sharing]]", f"\n{bad}\n[[sharing]]")
        refused({f"{UNION}.grant": note(text, CHIEF)}, "invalid")


def _record(grant: str) -> dict[str, OwnerRecord]:
    last = LastGrant(ISSUED, text_digest(grant))
    return {UNION: OwnerRecord((CHIEF.vkey,), 1, last, None)}


def test_rollback_to_an_older_grant_is_refused() -> None:
    record = _record(grant_text())
    older = grant_text(issued=ISSUED - timedelta(hours=1))
    refused({f"{UNION}.grant": note(older, CHIEF)}, "rollback", record=record)


def test_same_issued_time_with_other_text_is_a_rollback() -> None:
    record = _record(grant_text())
    other = grant_text(to='"CA0349400"')
    refused({f"{UNION}.grant": note(other, CHIEF)}, "rollback", record=record)
    same = effective(make_policy([CHIEF]), {f"{UNION}.grant": note(grant_text(), CHIEF)}, record)
    assert same.statuses[UNION].in_force is not None  # the very grant on record is fine


def test_keys_replaced_without_a_key_change_are_refused() -> None:
    record = _record(grant_text())
    files = {f"{UNION}.grant": note(grant_text(issued=ISSUED + timedelta(hours=1)), STRANGER)}
    status = refused(files, "keys_changed", keys=[STRANGER], record=record)
    assert status.record == record[UNION]  # the record keeps the owner's keys


def test_keys_removed_without_a_key_change_still_withhold() -> None:
    record = _record(grant_text())
    eff = effective(make_policy([]), {}, record)
    assert eff.statuses[UNION].reason == "keys_changed"
    assert not shares_with(eff, FBI)  # the operator's rule does not come back


def test_a_key_change_signed_by_the_keys_on_record_moves_them() -> None:
    record = _record(grant_text())
    later = ISSUED + timedelta(hours=1)
    files = {
        f"{UNION}.keys": note(keys_text([CLERK], 1, later), CHIEF),
        f"{UNION}.grant": note(grant_text(issued=later), CLERK),
    }
    eff = effective(make_policy([CLERK]), files, record)
    status = eff.statuses[UNION]
    assert status.in_force is not None and status.record.keys == (CLERK.vkey,)
    assert status.record.keys_issued == later
    # Signed by the new key instead of the old one: refused.
    files[f"{UNION}.keys"] = note(keys_text([CLERK], 1, later), CLERK)
    refused(files, "keys_changed", keys=[CLERK], record=record)
    # Naming other keys than the policy does: refused.
    files[f"{UNION}.keys"] = note(keys_text([STRANGER], 1, later), CHIEF)
    refused(files, "keys_changed", keys=[CLERK], record=record)
    # Not newer than the last key change on record: refused (a replayed old change).
    files[f"{UNION}.keys"] = note(keys_text([CLERK], 1, later), CHIEF)
    replayed = {UNION: replace(record[UNION], keys_issued=later)}
    refused(files, "keys_changed", keys=[CLERK], record=replayed)


def test_released_keys_give_the_pen_back() -> None:
    record = _record(grant_text())
    files = {f"{UNION}.keys": note(keys_text([], 0), CHIEF)}
    eff = effective(make_policy([]), files, record)
    assert eff.statuses[UNION].reason is None and eff.statuses[UNION].record.keys == ()
    assert shares_with(eff, FBI)  # the operator's rule applies again


def test_a_release_cannot_be_replayed_after_the_owner_registers_again() -> None:
    record = _record(grant_text())
    release = {f"{UNION}.keys": note(keys_text([], 0), CHIEF)}
    released = effective(make_policy([]), release, record).statuses[UNION].record
    assert released.keys == () and released.keys_issued == ISSUED
    again = effective(make_policy([CHIEF]), {}, {UNION: released}).statuses[UNION].record
    assert again.keys == (CHIEF.vkey,) and again.keys_issued == ISSUED
    # The operator drops the keys again with the old release note: refused this time.
    eff = effective(make_policy([]), release, {UNION: again})
    assert eff.statuses[UNION].reason == "keys_changed"
    assert not shares_with(eff, FBI)
