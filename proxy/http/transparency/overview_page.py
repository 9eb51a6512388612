"""The public index (``GET /transparency``): which agencies share their own reads and which
only receive, the federal / out-of-state / immigration answer per agency and the other
direction, searches by or for federal and immigration agencies, and refusals by severity."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from proxy.htmlkit import Markup, concat, el, table
from proxy.http.transparency.index_page import checkpoint_section, page, two_person_section
from proxy.http.transparency.sections import (
    agency_link,
    glossary,
    grant_text,
    refusals_block,
    window_nav,
)
from proxy.http.transparency.signing_section import signing_mark
from proxy.oversight.purpose_rules import TwoPersonRules
from proxy.oversight.signing import OPERATOR, Signing
from proxy.oversight.transparency import CheckpointView
from proxy.oversight.transparency_flows import Overview, OverviewActivity, OverviewRow, watched
from proxy.policy.model import Agency


def _exposure_cell(r: OverviewRow) -> Markup:
    """Never a reassuring "No" on the row of an agency the question is about, nor on one
    whose reads nobody receives: those answer in words, and the other direction below."""
    if watched(r.agency):
        kind = "an immigration-enforcement" if r.agency.immigration_enforcement else "a federal"
        return el("a", f"It is {kind} agency: whose reads it receives", href="#reverse")
    if not r.shares:
        return el("span", "Not applicable: no sharing rule of its own")
    return el("span", "Yes", class_="flag-yes") if r.exposed else el("span", "No", class_="flag-no")


def _mark(r: OverviewRow, s: Signing) -> Markup:
    """Who wrote its rules; not for an agency without keys that shares nothing (no rules)."""
    return concat() if s.author == OPERATOR and not r.shares else concat(el("br"), signing_mark(s))


def _agencies(overview: Overview, signing: Mapping[str, Signing]) -> Markup:
    head = [
        "Agency",
        "ORI",
        "Its own reads",
        "Federal, out-of-state or immigration recipients?",
        "Receives reads of",
        "Retention",
    ]
    rows = [
        el(
            "tr",
            el(
                "td",
                el("a", r.agency.name, href=f"/transparency/{r.agency.ori}"),
                data_label=head[0],
            ),
            el("td", el("code", r.agency.ori), data_label=head[1]),
            el(
                "td",
                f"Shared with {r.recipients} other agencies"
                if r.shares
                else "Not shared: no sharing rule of its own",
                _mark(r, signing[r.agency.ori]),
                data_label=head[2],
            ),
            el("td", _exposure_cell(r), data_label=head[3]),
            el("td", f"{len(r.sources)} agencies", data_label=head[4]),
            el("td", f"{r.retention_days} days", data_label=head[5]),
        )
        for r in overview.rows
    ]
    return el(
        "table",
        el(
            "caption",
            f"{len(overview.rows)} agencies in the policy in force."
            " An agency's reads reach others only through a sharing rule naming it as owner;"
            " one without such a rule keeps its reads to itself, or has none and only"
            " receives. Retention: its reads older than this are never returned.",
        ),
        el("thead", el("tr", [el("th", h, scope="col") for h in head])),
        el("tbody", rows),
        id="agencies-table",
        class_="stack",
    )


def _reverse(overview: Overview) -> Markup:
    parts = []
    for r in overview.watched_rows():
        what = "immigration enforcement" if r.agency.immigration_enforcement else r.agency.kind
        owners = (
            el(
                "ul",
                [
                    el(
                        "li",
                        s.owner.name,
                        " (",
                        el("code", s.owner.ori),
                        "): ",
                        grant_text(s.recipient),
                    )
                    for s in r.sources
                ],
            )
            if r.sources
            else el("p", "None: no agency's sharing rules admit it today.", class_="no-sources")
        )
        parts.append(
            el(
                "div",
                el("h3", r.agency.name, " (", el("code", r.agency.ori), ", ", what, ")"),
                owners,
                class_="reverse-agency",
                data_ori=r.agency.ori,
            )
        )
    return el(
        "section",
        el("h2", "Which agencies' reads can federal and immigration-enforcement agencies receive?"),
        el(
            "p",
            "The other direction, from the same sharing rules: for each federal or"
            " immigration-enforcement agency in the policy, the agencies whose reads it can"
            " receive today.",
        ),
        parts
        or el(
            "p", "The policy names no federal or immigration-enforcement agency.", class_="empty"
        ),
        id="reverse",
    )


def _watched_searches(activity: OverviewActivity, agencies: Mapping[str, Agency]) -> Markup:
    body = (
        table(
            f"{sum(w.searches for w in activity.watched)} searches",
            ["Searching agency", "On behalf of", "Decision", "Searches"],
            (
                [
                    agency_link(agencies, w.requester),
                    agency_link(agencies, w.on_behalf_of),
                    w.decision,
                    w.searches,
                ]
                for w in activity.watched
            ),
            id="watched-table",
        )
        if activity.watched
        else el("p", "None in this period.", class_="empty", id="watched-table")
    )
    return el(
        "section",
        el(
            "h2",
            f"Searches by or on behalf of federal and immigration agencies, last"
            f" {activity.days} days",
        ),
        body,
        id="watched-searches",
    )


def render_index(
    overview: Overview,
    activity: OverviewActivity,
    cp: CheckpointView | None,
    policy_version: str,
    now: datetime,
    rules: TwoPersonRules,
    signing: Mapping[str, Signing],
) -> str:
    body = concat(
        el("h1", "Who can see automated license plate reader data"),
        el(
            "p",
            "Each agency's page shows, from the sharing rules this proxy enforces right now,"
            " which other agencies can receive that agency's reads and whose reads it can"
            " receive, and, from the tamper-evident audit log, how they were used.",
            class_="meta",
        ),
        window_nav("/transparency", activity.days),
        el("section", el("h2", "Agencies"), _agencies(overview, signing), id="agencies"),
        _reverse(overview),
        _watched_searches(activity, {r.agency.ori: r.agency for r in overview.rows}),
        two_person_section(rules),
        el(
            "section",
            el("h2", f"Refused searches, all agencies, last {activity.days} days"),
            el(
                "p",
                "By severity, gravest first: a mistyped case number is not a prohibited purpose.",
            ),
            refusals_block(activity.refusals, "No search was refused in this period."),
            id="refusals",
        ),
        el(
            "section",
            el("h2", "Policy in force"),
            el(
                "p",
                "Version ",
                el("code", policy_version, id="policy-version"),
                ": the SHA-256 of the exact policy file. Every audit entry names the version it"
                " was decided under.",
            ),
            id="policy",
        ),
        checkpoint_section(cp),
        glossary(),
    )
    return page("ALPR data sharing: transparency", body, policy_version, now)
