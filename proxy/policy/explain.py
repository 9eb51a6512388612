"""``explain``: whose reads would a search by this requester, for this purpose, return, and why?

For every agency of the policy (as an owner of reads), each recipient (the requester and, if
given, the ``on_behalf_of`` agency) is either the owner, admitted by one of the owner's sharing
rules (the first that admits, as ``disclosure.admits`` picks it, named ``sharing[i]`` by its
position in the file), or not admitted, with the reason each of the owner's rules gave:

* ``expired on DATE``                       today is after ``expires``
* ``does not list purpose CODE``            neither the code nor ``"*"`` is in ``purposes``
* ``excludes immigration-enforcement ...``  the agency is marked ``immigration_enforcement``
* ``does not admit kind K`` / ``state S``   the agency is not named and its kind / state is out
* ``does not name ORI``                     a rule of an owner's grant (recipients by ORI only)

(the first that applies, in the order disclosure checks them), or "no sharing rules" when the
owner has none. A rule with ``declaration_required`` is shown as admitting (marked ``*``): it
does so only for searches that carry its declaration, which explain cannot know in advance.
The owner's reads are disclosed only when *every* recipient is admitted.

Each owner row also gives the owner's effective retention (``proxy.policy.retention``): reads
older than that many days are withheld as ``retention`` whoever is admitted.

The owner table is only filled when a search could run at all: both agencies known and distinct,
and the purpose known and not prohibited. Otherwise ``problems`` says why not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from proxy.policy.disclosure import rule_admits, rule_applies
from proxy.policy.model import ALL_PURPOSES, Agency, Policy, Purpose, SharingRule
from proxy.policy.retention import retention_days

OWN = "own reads"


@dataclass(frozen=True, slots=True)
class RuleMiss:
    rule: str  # "sharing[3]"
    reason: str


@dataclass(frozen=True, slots=True)
class RecipientVerdict:
    ori: str
    admitted: bool
    via: str | None  # OWN, or "sharing[i]"; None when not admitted
    misses: tuple[RuleMiss, ...] = ()  # when not admitted: why each of the owner's rules failed
    declaration: bool = False  # admitted only by a search carrying the rule's declaration

    def why_not(self) -> str:
        if self.admitted:
            return ""
        if not self.misses:
            return "the owner has no sharing rules"
        return "; ".join(f"{m.rule} {m.reason}" for m in self.misses)


@dataclass(frozen=True, slots=True)
class OwnerVerdict:
    owner: Agency
    receives: bool  # every recipient is admitted
    recipients: tuple[RecipientVerdict, ...]
    retention_days: int  # effective: the shorter of the owner's own and the global one


@dataclass(frozen=True, slots=True)
class Explanation:
    requester: str
    on_behalf_of: str | None
    purpose_code: str
    today: date
    purpose_status: Literal["unknown", "prohibited", "allowed"]
    purpose: Purpose | None
    agencies: tuple[Agency | None, ...]  # the recipients' entries, None when unknown
    problems: tuple[str, ...]  # non-empty: every search would be refused
    owners: tuple[OwnerVerdict, ...]  # sorted by ORI; empty when there are problems

    @property
    def unknown(self) -> bool:
        """An agency or the purpose is not in the policy (the CLI exits 1)."""
        return self.purpose_status == "unknown" or None in self.agencies


def _reason(rule: SharingRule, agency: Agency, purpose: str, today: date) -> str:
    """Why ``rule`` does not admit ``agency``: the first failing check, in disclosure's order."""
    if rule.expires is not None and today > rule.expires:
        return f"expired on {rule.expires.isoformat()}"
    if purpose not in rule.purposes and ALL_PURPOSES not in rule.purposes:
        return f"does not list purpose {purpose}"
    if rule.exclude_immigration_enforcement and agency.immigration_enforcement:
        return "excludes immigration-enforcement agencies"
    if not rule.to_kinds:  # an owner's grant names its recipients by ORI only
        return f"does not name {agency.ori}"
    if agency.kind not in rule.to_kinds:
        return f"does not admit kind {agency.kind}"
    return f"does not admit state {agency.state}" if agency.state else "requires a state"


def _verdict(
    rules: list[tuple[str, SharingRule]], owner: str, agency: Agency, code: str, today: date
) -> RecipientVerdict:
    if agency.ori == owner:
        return RecipientVerdict(agency.ori, True, OWN)
    misses: list[RuleMiss] = []
    declared: RecipientVerdict | None = None
    for i, rule in rules:
        # The verdict comes from disclosure's own predicates, so explain cannot disagree with
        # what a search returns; _reason only words the refusal.
        if rule_applies(rule, code, today) and rule_admits(rule, agency):
            if rule.declaration_required is None:
                return RecipientVerdict(agency.ori, True, i)
            # A later rule may admit without a declaration: that is the one a search uses.
            declared = declared or RecipientVerdict(agency.ori, True, i, (), True)
        else:
            misses.append(RuleMiss(i, _reason(rule, agency, code, today)))
    return declared or RecipientVerdict(agency.ori, False, None, tuple(misses))


def explain(
    policy: Policy,
    requester: str,
    on_behalf_of: str | None,
    purpose_code: str,
    today: date,
    rule_names: Mapping[int, str] | None = None,
) -> Explanation:
    """``rule_names``: how to call ``policy.sharing[i]`` (default ``sharing[i]``); an
    effective policy names its owners' grant rules by their grant file."""
    oris = (requester,) if on_behalf_of is None else (requester, on_behalf_of)
    agencies = tuple(policy.agencies.get(o) for o in oris)
    problems: list[str] = []
    if agencies[0] is None:
        problems.append(f"requester agency {requester} is not in the policy (unknown_agency)")
    if on_behalf_of == requester:
        problems.append("on_behalf_of must name another agency (invalid_request)")
    elif on_behalf_of is not None and agencies[1] is None:
        problems.append(f"on_behalf_of agency {on_behalf_of} is not in the policy (unknown_agency)")
    purpose = policy.purposes.get(purpose_code)
    status: Literal["unknown", "prohibited", "allowed"] = "allowed"
    if purpose is None:
        status = "unknown"
        problems.append(f"purpose {purpose_code} is not in the policy (unknown_purpose)")
    elif purpose.prohibited:
        status = "prohibited"
        problems.append(f"purpose {purpose_code} is prohibited (purpose_prohibited)")
    owners: list[OwnerVerdict] = []
    if not problems:
        by_owner: dict[str, list[tuple[str, SharingRule]]] = {}
        for i, rule in enumerate(policy.sharing):
            name = (rule_names or {}).get(i, f"sharing[{i}]")
            by_owner.setdefault(rule.owner, []).append((name, rule))
        for ori in sorted(policy.agencies):
            rules = by_owner.get(ori, [])
            verdicts = tuple(
                _verdict(rules, ori, a, purpose_code, today) for a in agencies if a is not None
            )
            receives = all(v.admitted for v in verdicts)
            days = retention_days(policy, ori)
            owners.append(OwnerVerdict(policy.agencies[ori], receives, verdicts, days))
    return Explanation(
        requester=requester,
        on_behalf_of=on_behalf_of,
        purpose_code=purpose_code,
        today=today,
        purpose_status=status,
        purpose=purpose,
        agencies=agencies,
        problems=tuple(problems),
        owners=tuple(owners),
    )


def _agency_line(label: str, ori: str, agency: Agency | None) -> str:
    if agency is None:
        return f"{label:<13} {ori}  (not in the policy)"
    where = f"{agency.kind}, {agency.state}" if agency.state else agency.kind
    flag = ", immigration enforcement" if agency.immigration_enforcement else ""
    return f"{label:<13} {ori}  {agency.name} ({where}{flag})"


def describe_purpose(e: Explanation) -> str:
    p = e.purpose
    if p is None or e.purpose_status != "allowed":
        return e.purpose_status
    types = ", ".join(sorted(p.query_types))
    parts = [f"allowed: look back {p.max_lookback_days} days", f"query types {types}"]
    if "area" in p.query_types:
        parts.append(
            f"area radius <= {p.area_max_radius_m:g} m, window <= {p.area_max_window_hours:g} h"
        )
    parts.append(f"case number {p.case_number}")
    parts.append(
        "reads in sensitive locations withheld"
        if p.sensitive_locations == "withhold"
        else "reads in sensitive locations included"
    )
    if p.approval_required:  # SPEC §12
        parts.append("supervisor approval first for: " + ", ".join(sorted(p.approval_required)))
    if p.exigent:
        parts.append("exigent: runs at once, each search reviewed afterwards")
    return "; ".join(parts)


def _cell(v: RecipientVerdict) -> str:
    return (v.via or "no") + ("*" if v.declaration else "")


def render(e: Explanation) -> str:
    """A readable report: who is asking, the purpose, then one row per owning agency."""
    lines = [_agency_line("requester", e.requester, e.agencies[0])]
    if e.on_behalf_of is not None:
        lines.append(_agency_line("on behalf of", e.on_behalf_of, e.agencies[1]))
    lines.append(f"{'purpose':<13} {e.purpose_code}  {describe_purpose(e)}")
    lines.append(f"{'date':<13} {e.today.isoformat()}")
    if e.problems:
        lines += ["", "every search would be refused:"] + [f"  {p}" for p in e.problems]
        return "\n".join(lines)
    oris = [e.requester] + ([e.on_behalf_of] if e.on_behalf_of else [])
    width = max([len("OWNER")] + [len(o.owner.ori) for o in e.owners])
    col = max(len(OWN), *(len(o) for o in oris), 12)
    head = f"{'OWNER':<{width}}  READS  RETAIN  " + "".join(f"{o:<{col}}  " for o in oris) + "NAME"
    lines += ["", head]
    for o in e.owners:
        cells = "".join(f"{_cell(v):<{col}}  " for v in o.recipients)
        reads = "yes" if o.receives else "no"
        retain = f"{o.retention_days}d"
        lines.append(f"{o.owner.ori:<{width}}  {reads:<5}  {retain:<6}  {cells}{o.owner.name}")
    denied = [(o, v) for o in e.owners for v in o.recipients if not v.admitted]
    if denied:
        lines += ["", "why not (owner -> recipient):"]
        lines += [f"  {o.owner.ori} -> {v.ori}: {v.why_not()}" for o, v in denied]
    if any(v.declaration for o in e.owners for v in o.recipients):
        lines += ["", "* only for a search carrying that rule's declaration_required text"]
    shared = sum(o.receives for o in e.owners)
    lines += ["", f"reads of {shared} of {len(e.owners)} agencies would be returned"]
    return "\n".join(lines)
