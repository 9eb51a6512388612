"""Owners' signed sharing grants (SPEC §11): pure functions and immutable data, no I/O and no
clock, like proxy.policy.

``check_grant`` verifies one ``<ORI>.grant`` (a C2SP signed note) against the owner's keys;
``apply_grants`` turns the operator's policy, the grant files and the record read back from the
log (``record_from_entry``) into the effective policy and a per-owner ``OwnerStatus`` (the grant
in force, or the reason none is: ``REASONS``). ``grant_statuses`` is what a report or a
transparency page reads: the statuses of the policy in force.
"""

from __future__ import annotations

from proxy.grants.changes import grant_changes
from proxy.grants.draft import draft_grant
from proxy.grants.effective import Effective, apply_grants
from proxy.grants.grant import Grant, KeyChange, check_grant, check_key_change
from proxy.grants.reasons import PLAIN_REASONS, REASONS, GrantRefused
from proxy.grants.record import (
    InForce,
    LastGrant,
    OwnerRecord,
    OwnerStatus,
    RecordError,
    record_from_entry,
)
from proxy.grants.recorded import policy_as_recorded
from proxy.grants.signed import SignedText, open_owner_note, text_digest, text_problem

__all__ = [
    "PLAIN_REASONS",
    "REASONS",
    "Effective",
    "Grant",
    "GrantRefused",
    "InForce",
    "KeyChange",
    "LastGrant",
    "OwnerRecord",
    "OwnerStatus",
    "RecordError",
    "SignedText",
    "apply_grants",
    "check_grant",
    "check_key_change",
    "draft_grant",
    "grant_changes",
    "open_owner_note",
    "policy_as_recorded",
    "record_from_entry",
    "text_digest",
    "text_problem",
]
