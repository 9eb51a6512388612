"""The record a policy_loaded entry carries: it reads back as it was written, rebuilds the
enforced policy, and each reason is documented."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from proxy.grants import REASONS, RecordError, grant_changes, policy_as_recorded, record_from_entry
from tests.grants.grant_env import UNION, effective, grant_text, make_policy, shares_with
from tests.grants.note_ref import RefKey, note

CHIEF = RefKey("unioncity.example.gov/chief")
DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_record_reads_back_as_written() -> None:
    eff = effective(make_policy([CHIEF]), {f"{UNION}.grant": note(grant_text(), CHIEF)})
    entry = orjson.loads(orjson.dumps({"grants": eff.to_json()}))  # as the log stores it
    assert record_from_entry(entry) == {o: s.record for o, s in eff.statuses.items()}
    assert record_from_entry(None) == {} and record_from_entry({"policy": ""}) == {}
    with pytest.raises(RecordError):
        record_from_entry({"grants": {UNION: {"keys": "not a list", "quorum": 1}}})


def test_the_recorded_policy_is_the_enforced_one() -> None:
    policy = make_policy([CHIEF])
    eff = effective(policy, {f"{UNION}.grant": note(grant_text(), CHIEF)})
    rebuilt = policy_as_recorded(policy, orjson.loads(orjson.dumps(eff.to_json())))
    assert rebuilt.sharing == eff.policy.sharing
    missing = effective(policy, {})
    assert policy_as_recorded(policy, missing.to_json()).sharing == missing.policy.sharing
    assert not shares_with(missing, "CA0010900")


def test_changes_name_each_owner_whose_grant_state_moved() -> None:
    policy = make_policy([CHIEF])
    before = effective(policy, {}).to_json()
    after = effective(policy, {f"{UNION}.grant": note(grant_text(), CHIEF)}).to_json()
    changes = grant_changes(before, after)
    assert changes[UNION]["before"]["reason"] == "missing"
    assert changes[UNION]["after"]["in_force"] == after[UNION]["in_force"]["sha256"]
    assert grant_changes(after, after) == {}


def test_every_reason_is_documented() -> None:
    policy_md = (DOCS / "policy.md").read_text(encoding="utf-8")
    audit_md = (DOCS / "audit-log.md").read_text(encoding="utf-8")
    assert [r for r in REASONS if f"| `{r}` |" not in policy_md] == []
    assert [r for r in REASONS if f"`{r}`" not in audit_md] == []
