"""What the public transparency pages show, derived from the enforced policy and the audit log.

Nothing here is typed by hand. *Who can receive an agency's reads* is computed by asking
``disclosure.admits`` (the very function the live read filter uses) about **every** agency of
the policy and every permitted purpose (and every declaration a rule requires, since any search
may carry one), so the list cannot leave out an agency that a search could in fact serve;
*until when* comes from the expiry of the rules that admit it (``rule_applies`` /
``rule_admits``, disclosure's own predicates). Agencies that are not in
the policy cannot search at all (``unknown_agency``), so they are never recipients.

Activity comes from the audit log, over the days before ``now`` the reader picks (``WINDOW_DAYS``
by default; the choices are transparency_flows.WINDOWS), by each entry's own ``time`` (the
proxy's clock when the search was made, not when it was stored):

* searches that disclosed this agency's reads (it is a key of ``outcome.disclosed_by_owner``),
  by requesting agency, on-behalf-of agency and purpose, with the reads disclosed;
* refused searches *made by* this agency (the requester), by refusal code.

``build_page`` is pure; ``fetch_activity`` is the SQL (one aggregate query each).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import asyncpg

from proxy.policy.disclosure import admits, rule_admits, rule_applies
from proxy.policy.model import Agency, Policy, Purpose
from proxy.policy.retention import retention_days

WINDOW_DAYS = 30  # the default history window


@dataclass(frozen=True, slots=True)
class Grant:
    """Purposes for which a recipient is admitted, through the same last day."""

    purposes: tuple[str, ...]  # purpose codes, sorted
    until: date | None  # the last day the admitting rules apply; None: no expiry


@dataclass(frozen=True, slots=True)
class Recipient:
    agency: Agency
    grants: tuple[Grant, ...]  # no expiry first, then latest first
    all_purposes: bool  # admitted for every permitted (non-prohibited) purpose
    rules: tuple[int, ...]  # positions of the admitting rules in the policy file (sharing[i])


@dataclass(frozen=True, slots=True)
class Exposure:
    """Recipients outside the owner's own circle: the page's prominent yes/no."""

    federal: tuple[Agency, ...]
    out_of_state: tuple[Agency, ...]
    immigration: tuple[Agency, ...]

    @property
    def any(self) -> bool:
        return bool(self.federal or self.out_of_state or self.immigration)


@dataclass(frozen=True, slots=True)
class UsageRow:
    requester: str
    on_behalf_of: str | None
    purpose: str
    searches: int
    reads: int  # this agency's reads disclosed by those searches


@dataclass(frozen=True, slots=True)
class Activity:
    usage: tuple[UsageRow, ...]
    refusals: tuple[tuple[str, int], ...]  # (reason code, searches), most first


@dataclass(frozen=True, slots=True)
class CheckpointView:
    size: int
    root: bytes
    note: str


@dataclass(frozen=True, slots=True)
class AgencyPage:
    agency: Agency
    agencies: Mapping[str, Agency]  # the policy's, to name the agencies the log mentions
    policy_version: str
    now: datetime
    since: datetime
    recipients: tuple[Recipient, ...]
    not_admitted: tuple[Agency, ...]
    expired: tuple[tuple[int, date], ...]  # (sharing[i], expiry) of its rules that have ended
    exposure: Exposure
    prohibited: tuple[Purpose, ...]
    retention_days: int  # effective for this owner (proxy.policy.retention)
    global_retention_days: int  # settings.retention_days; longer when the owner set its own
    activity: Activity
    checkpoint: CheckpointView | None
    days: int = WINDOW_DAYS  # the activity's window, chosen by the reader
    # The other direction: owners whose reads this agency can receive today, with their grant.
    sources: tuple[tuple[Agency, Recipient], ...] = ()

    def searches_by_recipient(self) -> list[tuple[str, int]]:
        """Searches per recipient agency: the requester and, if any, the on-behalf-of agency
        (a search run on behalf of another agency counts for both)."""
        counts: Counter[str] = Counter()
        for row in self.activity.usage:
            counts[row.requester] += row.searches
            if row.on_behalf_of is not None and row.on_behalf_of != row.requester:
                counts[row.on_behalf_of] += row.searches
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    def reads_by_purpose(self) -> list[tuple[str, int]]:
        counts: Counter[str] = Counter()
        for row in self.activity.usage:
            counts[row.purpose] += row.reads
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def today_of(now: datetime) -> date:
    """The date sharing-rule expiry is compared with (as ``Disclosure.build`` computes it)."""
    return now.astimezone(UTC).date()


def permitted_purposes(policy: Policy) -> list[str]:
    """Purposes a search may use at all; prohibited ones are refused before any disclosure."""
    return sorted(code for code, p in policy.purposes.items() if not p.prohibited)


def recipients(policy: Policy, owner: str, today: date) -> tuple[Recipient, ...]:
    """Every agency of the policy (other than the owner) admitted to the owner's reads today,
    for at least one permitted purpose, sorted by name."""
    codes = permitted_purposes(policy)
    rules = [(i, r) for i, r in enumerate(policy.sharing) if r.owner == owner]
    declarations = (None, *sorted(policy.required_declarations))
    out: list[Recipient] = []
    for ori, agency in policy.agencies.items():
        if ori == owner:
            continue
        # The source of truth: the function the read filter calls, per purpose, for a search
        # carrying no declaration or any one a rule requires (anyone may send its text).
        admitted = [
            c
            for c in codes
            if any(admits(policy, owner, ori, c, today, d) is not None for d in declarations)
        ]
        if not admitted:
            continue
        until: dict[str, date | None] = {}
        used: set[int] = set()
        for code in admitted:
            ends: list[date | None] = []
            for i, rule in rules:
                if rule_applies(rule, code, today) and rule_admits(rule, agency):
                    used.add(i)
                    ends.append(rule.expires)
            until[code] = None if None in ends else max(e for e in ends if e is not None)
        by_end: dict[date | None, list[str]] = {}
        for code, end in until.items():
            by_end.setdefault(end, []).append(code)
        grants = tuple(
            Grant(tuple(sorted(cs)), end) for end, cs in sorted(by_end.items(), key=_latest_first)
        )
        out.append(Recipient(agency, grants, len(admitted) == len(codes), tuple(sorted(used))))
    return tuple(sorted(out, key=lambda r: (r.agency.name, r.agency.ori)))


def _latest_first(kv: tuple[date | None, list[str]]) -> tuple[bool, int]:
    """No expiry first, then the latest last day first."""
    return (kv[0] is not None, -(kv[0] or date.max).toordinal())


def exposure(owner: Agency, admitted: tuple[Recipient, ...]) -> Exposure:
    agencies = [r.agency for r in admitted]
    return Exposure(
        federal=tuple(a for a in agencies if a.kind == "federal"),
        # An agency without a state, or with another one, is out of the owner's state.
        out_of_state=tuple(a for a in agencies if a.state != owner.state),
        immigration=tuple(a for a in agencies if a.immigration_enforcement),
    )


def received_from(policy: Policy, ori: str, today: date) -> tuple[tuple[Agency, Recipient], ...]:
    """Owners whose reads ``ori`` can receive today: ``recipients`` of every owner, inverted."""
    found = []
    for owner, agency in policy.agencies.items():
        grant = next((r for r in recipients(policy, owner, today) if r.agency.ori == ori), None)
        if owner != ori and grant is not None:
            found.append((agency, grant))
    return tuple(sorted(found, key=lambda pair: (pair[0].name, pair[0].ori)))


def build_page(
    policy: Policy,
    ori: str,
    now: datetime,
    activity: Activity,
    checkpoint: CheckpointView | None,
    days: int = WINDOW_DAYS,
) -> AgencyPage:
    """The page for ``ori`` (an agency of ``policy``), its activity over ``days``."""
    owner = policy.agencies[ori]
    admitted = recipients(policy, ori, today_of(now))
    names = {r.agency.ori for r in admitted}
    return AgencyPage(
        agency=owner,
        agencies=policy.agencies,
        policy_version=policy.version,
        now=now,
        since=now - timedelta(days=days),
        recipients=admitted,
        not_admitted=tuple(
            sorted(
                (a for o, a in policy.agencies.items() if o != ori and o not in names),
                key=lambda a: (a.name, a.ori),
            )
        ),
        expired=tuple(
            (i, r.expires)
            for i, r in enumerate(policy.sharing)
            if r.owner == ori and r.expires is not None and r.expires < today_of(now)
        ),
        exposure=exposure(owner, admitted),
        prohibited=tuple(
            sorted((p for p in policy.purposes.values() if p.prohibited), key=lambda p: p.code)
        ),
        retention_days=retention_days(policy, ori),
        global_retention_days=policy.settings.retention_days,
        activity=activity,
        checkpoint=checkpoint,
        days=days,
        sources=received_from(policy, ori, today_of(now)),
    )


# --- the log ------------------------------------------------------------------------------
# Both read the facts derived from each entry (audit.entry_facts, proxy.oversight.facts: `at` is the
# entry's `time`; `owners`/`owner_reads` its `outcome.disclosed_by_owner`), never the rollups,
# so the window ends exactly at `since`. Each is one query on an index: the GIN index on
# `owners` (with the btree on `at`) for disclosures, `(agency, at)` for refusals. The caller
# catches the facts up first.

_DISCLOSED_SQL = """
SELECT e.agency AS requester,
       e.on_behalf_of,
       coalesce(e.purpose, '') AS purpose,
       count(*) AS searches,
       sum(e.owner_reads[array_position(e.owners, $1::text)]) AS reads
FROM audit.entry_facts e
WHERE e.owners @> ARRAY[$1::text] AND e.at >= $2
  AND e.event = 'search' AND e.decision = 'allowed'
GROUP BY 1, 2, 3
ORDER BY 4 DESC, 1, 2, 3
"""

_REFUSALS_SQL = """
SELECT coalesce(e.reason, '') AS reason, count(*) AS searches
FROM audit.entry_facts e
WHERE e.agency = $1 AND e.at >= $2 AND e.event = 'search' AND e.decision = 'refused'
GROUP BY 1
ORDER BY 2 DESC, 1
"""


async def fetch_activity(conn: asyncpg.Connection, ori: str, since: datetime) -> Activity:
    usage = await conn.fetch(_DISCLOSED_SQL, ori, since)
    refusals = await conn.fetch(_REFUSALS_SQL, ori, since)
    return Activity(
        usage=tuple(
            UsageRow(
                requester=r["requester"] or "",
                on_behalf_of=r["on_behalf_of"],
                purpose=r["purpose"],
                searches=int(r["searches"]),
                reads=int(r["reads"] or 0),
            )
            for r in usage
        ),
        refusals=tuple((r["reason"], int(r["searches"])) for r in refusals),
    )
