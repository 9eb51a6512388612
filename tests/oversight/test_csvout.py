"""The audit entries CSV's `detail` column: what a person reads, never Python's `None`."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson

from proxy.audit.entry import auth_failure_entry, policy_loaded_entry
from proxy.oversight.csvout import ENTRY_COLUMNS, entries_csv

AT = datetime(2026, 3, 1, tzinfo=UTC)


def detail_of(body: bytes) -> str:
    text = entries_csv([{**orjson.loads(body), "index": 0}])
    (row,) = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    assert list(row) == list(ENTRY_COLUMNS)
    return row["detail"]


def test_first_policy_load_says_there_was_no_previous_policy() -> None:
    first = policy_loaded_entry(
        at=AT,
        trigger="startup",
        version="sha256:aa",
        previous_version=None,
        diff={},
        policy_text="",
    )
    assert detail_of(first.body) == "trigger startup, no previous policy"
    later = policy_loaded_entry(
        at=AT,
        trigger="reload",
        version="sha256:bb",
        previous_version="sha256:aa",
        diff={},
        policy_text="",
    )
    assert detail_of(later.body) == "trigger reload, previous sha256:aa"


def test_auth_failure_detail_names_the_request() -> None:
    failure = auth_failure_entry(
        at=AT, request_id="r", client=None, method="POST", path="/v1/search", reason="expired"
    )
    assert detail_of(failure.body) == "POST /v1/search: expired"
    assert "None" not in detail_of(orjson.dumps({"event": "auth_failure"}))
