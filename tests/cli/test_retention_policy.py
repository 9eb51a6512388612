"""The retention a purge applies for owners that sign their grants (SPEC §11): the grant's, as
the log last recorded it in force, never the operator's ``retention_days``."""

from __future__ import annotations

from proxy.cli.retention_policy import with_recorded_grants
from proxy.policy import Policy, parse_policy
from proxy.policy.retention import retention_days
from tests.grants.grant_env import UNION, effective, grant_text, policy_text
from tests.grants.note_ref import RefKey, note

OAKLAND = "CA0010900"


def operator_policy(keys: list[RefKey]) -> Policy:
    """Union City with keys (or none) and an operator-written 7-day retention for it and for
    Oakland, under a global 365 days."""
    text = policy_text(keys).replace(
        f'ori = "{UNION}"\n', f'ori = "{UNION}"\nretention_days = 7\n', 1
    )
    text = text.replace(f'ori = "{OAKLAND}"\n', f'ori = "{OAKLAND}"\nretention_days = 10\n', 1)
    policy = parse_policy(text.encode())
    assert policy.settings.retention_days == 365
    return policy


def test_without_keys_the_operators_retention_applies() -> None:
    policy = with_recorded_grants(operator_policy([]), None)
    assert retention_days(policy, UNION) == 7
    assert retention_days(policy, OAKLAND) == 10


def test_keys_with_nothing_on_record_leave_only_the_global_retention() -> None:
    policy = with_recorded_grants(operator_policy([RefKey("unioncity.example.gov")]), None)
    assert retention_days(policy, UNION) == 365  # the operator's 7 days would purge its reads
    assert retention_days(policy, OAKLAND) == 10


def test_the_recorded_grants_retention_applies_not_the_operators() -> None:
    key = RefKey("unioncity.example.gov")
    policy = operator_policy([key])
    grant = note(grant_text(extra="retention_days = 30\n"), key)
    recorded = effective(policy, {f"{UNION}.grant": grant})
    assert recorded.statuses[UNION].in_force is not None
    grants = {o: s.to_json() for o, s in recorded.statuses.items()}
    assert retention_days(with_recorded_grants(policy, grants), UNION) == 30


def test_a_grant_without_retention_leaves_the_global_one() -> None:
    key = RefKey("unioncity.example.gov")
    policy = operator_policy([key])
    recorded = effective(policy, {f"{UNION}.grant": note(grant_text(), key)})
    grants = {o: s.to_json() for o, s in recorded.statuses.items()}
    assert retention_days(with_recorded_grants(policy, grants), UNION) == 365
