"""Why no grant is in force for an owner (SPEC §11): short, stable codes, recorded per owner in
every ``policy_loaded`` entry and printed by ``alpr-proxy grant check`` (docs/policy.md lists
them). Each one means the same thing: the owner shares its reads with no one."""

from __future__ import annotations

from typing import Final

REASONS: Final[dict[str, str]] = {
    "missing": "no <ORI>.grant file in grants_dir",
    "invalid": "not a signed note, or its text is not a valid grant",
    "unsigned": "no signature by any of the owner's grant keys",
    "bad_signature": "a signature by one of the owner's keys does not verify (altered text)",
    "under_signed": "fewer distinct owner keys signed it than grant_quorum",
    "wrong_owner": "the grant names another owner",
    "wrong_deployment": "the grant names another deployment (log origin)",
    "future_dated": "issued later than now",
    "expired": "its expires time has passed",
    "rollback": "issued before, or at the same time with other text than, the last grant "
    "in force on record",
    "keys_changed": "the owner's keys on record were replaced or removed without a valid "
    "<ORI>.keys note signed by a quorum of them",
}


class GrantRefused(Exception):
    """A grant (or key change) that is not in force; ``reason`` is a key of ``REASONS``."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# The same reasons in plain words, for the public transparency pages (each completes "no valid
# grant is in force because ..."); tests/grants check that both registries name the same codes.
PLAIN_REASONS: Final[dict[str, str]] = {
    "missing": "the fusion center holds no grant from the agency",
    "invalid": "the grant file is not a readable, well-formed grant",
    "unsigned": "the grant is not signed with any of the agency's keys",
    "bad_signature": "the grant's text was changed after the agency signed it",
    "under_signed": "fewer of the agency's keys signed the grant than it requires",
    "wrong_owner": "the grant was written for another agency",
    "wrong_deployment": "the grant was written for another system",
    "future_dated": "the grant is dated in the future",
    "expired": "the agency's grant has expired",
    "rollback": "the grant is older than one the agency already put in force",
    "keys_changed": "the fusion center's policy names signing keys the agency did not authorise",
}
