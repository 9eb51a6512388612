"""Shared bits of the law-pack tests: load a pack from policies/, run one search's decision and
ask what it would do with one owner's read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from proxy.model import OnBehalfOf, Principal, SearchQuery
from proxy.policy import Allowed, Policy, Refused, decide, parse_policy

ROOT = Path(__file__).resolve().parents[2]
PACKS = ROOT / "policies"
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
DAY = NOW.date().isoformat()
WHERE = (41.0, -90.0)  # no pack has a sensitive location here
JUSTIFICATION = "Vehicle seen leaving the scene, witness statement on file"


def pack_text(name: str) -> str:
    return (PACKS / f"{name}.toml").read_text(encoding="utf-8")


def pack(name: str, text: str | None = None) -> Policy:
    """The pack as shipped, or ``text`` (an edited copy of it)."""
    source = pack_text(name) if text is None else text
    return parse_policy(source.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Ask:
    """One search: who asks, for whom, why, and with which declaration."""

    ori: str
    purpose: str
    on_behalf_of: str | None = None
    justification: str = JUSTIFICATION
    declaration: str | None = None
    days_back: int = 7

    def query(self) -> SearchQuery:
        obo = OnBehalfOf(self.on_behalf_of, "Det. J. Smith") if self.on_behalf_of else None
        return SearchQuery(
            type="plate",
            from_=NOW - timedelta(days=self.days_back),
            to=NOW,
            purpose=self.purpose,
            case_number="26-000123",
            justification=self.justification,
            on_behalf_of=obo,
            plate="7ABC123",
            declaration=self.declaration,
        )


def decision(policy: Policy, ask: Ask) -> Allowed | Refused:
    principal = Principal("officer-1", ask.ori, frozenset({"investigator"}), 0.0)
    return decide(principal, ask.query(), policy, NOW)


def refused(policy: Policy, ask: Ask) -> str:
    """The refusal code of a search that must be refused."""
    d = decision(policy, ask)
    assert isinstance(d, Refused), f"expected a refusal, got {d}"
    return d.code


def verdict(policy: Policy, ask: Ask, owner: str, age: timedelta = timedelta(days=1)) -> str:
    """What an allowed search does with a read of ``owner`` taken ``age`` ago: "disclosed" or
    the withholding reason."""
    d = decision(policy, ask)
    assert isinstance(d, Allowed), f"expected the search to be allowed, got {d}"
    reason = d.disclosure.withhold_reason(owner, NOW - age, *WHERE)
    return reason or "disclosed"
