"""audit/entry.py's BUILDERS is the one list of event types: each has its builder, its facts
(oversight/derived.py), its filter value in the audit API and its documentation (CONTRIBUTING:
adding an audit event type). A step of the recipe missed fails here."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from proxy.audit import entry
from proxy.audit.canonical import Record
from proxy.audit.entry import DECISIONS, EVENTS
from proxy.http.openapi import openapi_document
from proxy.model import Principal
from proxy.oversight.derived import derive_body

ROOT = Path(__file__).resolve().parent.parent.parent
AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
WHO = Principal("det.alvarez", "CA0010900", frozenset({"investigator"}), 0.0)
# One entry of each event type, as its builder makes it. A new event needs its sample here.
SAMPLES: dict[str, Record] = {
    "search": entry.search_entry(
        at=AT,
        request_id="r1",
        principal=WHO,
        client="10.0.0.1",
        query={"purpose": "HOMICIDE", "justification": "Case 1"},
        decision="refused",
        reason="purpose_prohibited",
        policy_version="v1",
        outcome=None,
    ),
    "auth_failure": entry.auth_failure_entry(
        at=AT, request_id="r2", client=None, method="GET", path="/x", reason="no token"
    ),
    "policy_loaded": entry.policy_loaded_entry(
        at=AT, trigger="startup", version="v1", previous_version=None, diff={}, policy_text=""
    ),
    "audit_access": entry.audit_access_entry(
        at=AT,
        request_id="r3",
        principal=WHO,
        client=None,
        endpoint="GET /v1/audit/entries",
        filters={},
        returned=0,
    ),
    "review": entry.review_entry(
        at=AT,
        request_id="r4",
        principal=WHO,
        client=None,
        reviewed_index=0,
        disposition="no_issue",
        note="",
    ),
    "purge": entry.purge_entry(
        at=AT,
        policy_version="v1",
        retention_days=365,
        owners={"CA0010900": entry.OwnerPurge(AT, 365, 2)},
    ),
    "approval": entry.approval_entry(
        at=AT,
        request_id="r5",
        principal=WHO,
        client=None,
        request_index=7,
        verdict="approve",
        note="ok",
        requester={"issuer": "idp", "subject": "det.lee", "agency": WHO.ori},
    ),
}


def test_every_event_has_a_sample_and_its_builder_makes_it() -> None:
    assert set(SAMPLES) == EVENTS
    for event, record in SAMPLES.items():
        assert orjson.loads(record.body)["event"] == event


def test_every_event_literal_in_entry_py_is_registered() -> None:
    """A builder writing an event the registry does not list would be invisible to filters."""
    tree = ast.parse((ROOT / "proxy" / "audit" / "entry.py").read_text(encoding="utf-8"))
    written = {
        value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for key, value in zip(node.keys, node.values, strict=True)
        if isinstance(key, ast.Constant) and key.value == "event"
        if isinstance(value, ast.Constant)
    }
    assert written == EVENTS


def test_every_event_has_its_facts() -> None:
    """oversight/derived.py derives each event's facts: at least its event, time and agency
    (the requester, or the caller's agency; none for an unidentified auth failure)."""
    for event, record in SAMPLES.items():
        facts: Any = derive_body(record.body)
        assert facts.event == event and facts.at == AT, event
        assert facts.agency == (
            None if event in {"auth_failure", "policy_loaded", "purge"} else WHO.ori
        )


def test_every_event_is_a_filter_and_is_documented() -> None:
    params = openapi_document()["paths"]["/v1/audit/entries"]["get"]["parameters"]
    (event,) = [p for p in params if p["name"] == "event"]
    assert set(event["schema"]["enum"]) == EVENTS
    (decision,) = [p for p in params if p["name"] == "decision"]
    assert set(decision["schema"]["enum"]) == DECISIONS
    doc = (ROOT / "docs" / "audit-log.md").read_text(encoding="utf-8")
    assert [e for e in sorted(EVENTS) if f"### `{e}`" not in doc] == []
