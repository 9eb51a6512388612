"""Shared bits of the two-person tests (SPEC §12): a policy with approvals and an exigent
purpose, a settable clock, and the calls."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from tests.http.conftest import NOW, policy_text
from tests.http.search_helpers import bearer, body

OAKLAND, BERKELEY, CHP = "CA0010900", "CA0010800", "CA0349400"
FBI, RENO = "CA0389900", "NV0160200"


def _with(text: str, anchor: str, extra: str) -> str:
    assert text.count(anchor) == 1, anchor
    return text.replace(anchor, anchor + extra)


POLICY = _with(
    _with(
        _with(policy_text(), "rate_limit_per_minute = 1000\n", 'home_state = "CA"\n'),
        "area_max_window_hours = 6\n",  # KIDNAPPING
        'approval_required = ["area", "partial_plate", "federal_recipient",'
        ' "out_of_state_recipient"]\n',
    ),
    'sensitive_locations = "include"\n',  # AMBER_ALERT
    "exigent = true\n",
)
PARTIAL: dict[str, Any] = {
    "type": "partial_plate",
    "plate": None,
    "pattern": "7AB*23",
    "purpose": "KIDNAPPING",
}
AMBER: dict[str, Any] = {"purpose": "AMBER_ALERT", "from": (NOW - timedelta(days=10)).isoformat()}
_names = itertools.count()


def fresh(prefix: str) -> str:
    """A subject no other test used: the audit database is shared by the session."""
    return f"{prefix}.{next(_names)}.{id(object())}"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def search(client: Any, token: str, **changes: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/v1/search", json=body(**changes), headers=bearer(token))
    return resp.status, await resp.json()


async def decide(
    client: Any, token: str, index: int, decision: str = "approve", note: str = "ok"
) -> tuple[int, dict[str, Any]]:
    payload = {"index": index, "decision": decision, "note": note}
    resp = await client.post("/v1/approvals", json=payload, headers=bearer(token))
    return resp.status, await resp.json()


def code(answer: dict[str, Any]) -> str:
    return str(answer["error"]["code"])


def index_of(answer: dict[str, Any]) -> int:
    return int(answer.get("audit_index", answer.get("error", {}).get("audit_index", -1)))
