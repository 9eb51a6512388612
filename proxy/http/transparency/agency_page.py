"""One agency's transparency page (``GET /transparency/{ori}``), from an ``AgencyPage``."""

from __future__ import annotations

from proxy.htmlkit import Markup, bar_chart, concat, el, table
from proxy.http.transparency.index_page import (
    agency_cells,
    agency_name,
    checkpoint_section,
    page,
    when,
)
from proxy.http.transparency.sections import (
    NOT_SHOWN,
    refusals_block,
    sources_section,
    window_nav,
)
from proxy.http.transparency.signing_section import signing_section
from proxy.oversight.signing import Signing
from proxy.oversight.transparency import AgencyPage, Recipient
from proxy.oversight.transparency_flows import watched
from proxy.policy.model import Agency


def _yes_no(agencies: tuple[Agency, ...]) -> Markup:
    return el("span", "Yes", class_="flag-yes") if agencies else el("span", "No", class_="flag-no")


def _list(agencies: tuple[Agency, ...]) -> str:
    return ", ".join(f"{a.name} ({a.ori})" for a in agencies) or "—"


def _exposure(p: AgencyPage) -> Markup:
    e = p.exposure
    answer = "Yes" if e.any else "No"
    explain = (
        "At least one federal, out-of-state or immigration-enforcement agency is admitted by"
        " this agency's sharing rules today."
        if e.any
        else "None of the agencies admitted by this agency's sharing rules today is federal,"
        " outside " + (p.agency.state or "its state") + ", or an immigration-enforcement agency."
    )
    tone = "yes" if e.any else "no"
    if watched(p.agency):  # never a reassuring "No" on such an agency's own page
        answer, tone = "See below", "neutral"
        explain = "It is itself federal or immigration enforcement: whose reads can it receive?"
    outside = f"Agencies outside {p.agency.state or 'its state'}"
    rows = [
        [label, _yes_no(group), _list(group)]
        for label, group in (
            ("Federal agencies", e.federal),
            (outside, e.out_of_state),
            ("Immigration-enforcement agencies", e.immigration),
        )
    ]
    return el(
        "section",
        el(
            "h2", "Can federal, out-of-state or immigration-enforcement agencies receive its reads?"
        ),
        el(
            "div",
            el("span", answer, class_="badge", id="exposure-answer"),
            el("p", explain),
            class_="answer",
        ),
        el("p", el("a", "Whose reads it can receive", href="#sources"))
        if tone == "neutral"
        else table(
            "By category", ["Category", "Can receive", "Agencies"], rows, id="exposure-table"
        ),
        id="exposure",
        class_=tone,
    )


def _recipient_rows(r: Recipient) -> list[Markup]:
    rows = []
    single = len(r.grants) == 1
    for n, g in enumerate(r.grants):
        purposes = "All permitted purposes" if single and r.all_purposes else ", ".join(g.purposes)
        until = "no expiry" if g.until is None else f"through {g.until.isoformat()}"
        lead: list[Markup] = []
        if n == 0:
            span = None if single else len(r.grants)
            lead = [el("td", c, rowspan=span) for c in agency_cells(r.agency)]
        rows.append(el("tr", lead, el("td", purposes), el("td", until, class_="nowrap")))
    return rows


def _recipients(p: AgencyPage) -> Markup:
    total = len(p.agencies)
    if p.recipients:
        admitted: Markup = el(
            "table",
            el("caption", f"{len(p.recipients)} of the {total - 1} other agencies in the policy"),
            el(
                "thead",
                el(
                    "tr",
                    [
                        el("th", h, scope="col")
                        for h in ("Agency", "ORI", "Kind", "State", "Purposes", "Until")
                    ],
                ),
            ),
            el("tbody", [_recipient_rows(r) for r in p.recipients]),
            id="recipients-table",
        )
    else:
        admitted = el(
            "p", "No other agency can receive its reads.", class_="empty", id="recipients-table"
        )
    expired = [
        el("p", f"Its rule sharing[{i}] expired on {d.isoformat()} and admits no one.")
        for i, d in p.expired
    ]
    others = (
        table(
            f"{len(p.not_admitted)} agencies",
            ["Agency", "ORI", "Kind", "State"],
            (agency_cells(a) for a in p.not_admitted),
            id="not-admitted-table",
        )
        if p.not_admitted
        else el("p", "None.", class_="empty")
    )
    return el(
        "section",
        el("h2", "Who can receive its reads today"),
        el(
            "p",
            f"Derived on {p.now.date().isoformat()} from the sharing rules in force, by checking"
            f" each of the {total} agencies in the policy against this agency's rules for every"
            " permitted purpose, with the same code that filters search results. A search's"
            " reads are returned only if every recipient (the searching agency and any agency"
            " the search is run on behalf of) is admitted. The agency always sees its own reads.",
        ),
        admitted,
        expired,
        el("h3", "Agencies in the policy that cannot receive its reads"),
        others,
        id="recipients",
    )


def _prohibited(p: AgencyPage) -> Markup:
    body = (
        table(
            "Searches for these purposes are refused and the refusal is logged",
            ["Purpose code", "Description"],
            ([el("code", x.code), x.description] for x in p.prohibited),
            id="prohibited-table",
        )
        if p.prohibited
        else el("p", "The policy prohibits no purpose.", class_="empty")
    )
    return el("section", el("h2", "Prohibited purposes"), body, id="prohibited")


def _charts(p: AgencyPage) -> Markup:
    by_recipient = [
        (p.agencies[o].name if o in p.agencies else o, n) for o, n in p.searches_by_recipient()
    ]
    return concat(
        el(
            "figure",
            el("figcaption", "Searches by recipient agency"),
            bar_chart("chart-recipients", "Searches by recipient agency", by_recipient, "searches"),
        ),
        el(
            "figure",
            el("figcaption", "Reads disclosed by purpose"),
            bar_chart(
                "chart-purposes", "Reads disclosed by purpose", p.reads_by_purpose(), "reads"
            ),
        ),
    )


def _activity(p: AgencyPage) -> Markup:
    usage = p.activity.usage
    searches = sum(u.searches for u in usage)
    reads = sum(u.reads for u in usage)
    intro = el(
        "p",
        f"From {when(p.since)} to {when(p.now)}, {searches} searches disclosed {reads} of its"
        " reads.",
        " A search run on behalf of another agency counts for both agencies in the first chart."
        if usage
        else None,
    )
    if not usage:
        return el(
            "section",
            el("h2", f"Searches of its data, last {p.days} days"),
            intro,
            el(
                "p",
                "No search disclosed its reads in this period.",
                class_="empty",
                id="searches-table",
            ),
            id="searches",
        )
    rows = table(
        "Searches that disclosed its reads",
        ["Requesting agency", "On behalf of", "Purpose", "Searches", "Reads disclosed"],
        (
            [
                agency_name(p.agencies, u.requester),
                agency_name(p.agencies, u.on_behalf_of),
                el("code", u.purpose),
                u.searches,
                u.reads,
            ]
            for u in usage
        ),
        id="searches-table",
    )
    return el(
        "section",
        el("h2", f"Searches of its data, last {p.days} days"),
        intro,
        _charts(p),
        rows,
        id="searches",
    )


def _refusals(p: AgencyPage) -> Markup:
    return el(
        "section",
        el("h2", f"Its refused searches, last {p.days} days"),
        el(
            "p",
            "Searches made by this agency's users that the policy refused, by severity"
            " (gravest first) and reason.",
        ),
        refusals_block(p.activity.refusals, "None of its searches was refused in this period."),
        id="refusals",
    )


def _retention(p: AgencyPage) -> Markup:
    days = el("strong", f"{p.retention_days} days", id="retention-days")
    own = p.retention_days < p.global_retention_days
    text = (
        f" This agency set its own retention, shorter than the {p.global_retention_days} days"
        " that apply to other agencies' reads."
    )
    why = el("p", "Reads older than ", days, " are never returned to anyone, whatever the purpose.")
    return el("section", el("h2", "Retention"), why, el("p", text) if own else "", id="retention")


def render_agency(p: AgencyPage, signing: Signing) -> str:
    a = p.agency
    where = f"{a.kind} agency" + (f", {a.state}" if a.state else "")
    body = concat(
        el(
            "nav",
            el("a", "All agencies", href="/transparency"),
            " \u203a ",
            a.name,
            class_="crumbs",
            aria_label="Breadcrumb",
        ),
        el("h1", a.name),
        el(
            "p",
            el("abbr", "ORI", title="Originating Agency Identifier (FBI NCIC)"),
            " ",
            el("code", a.ori),
            " · ",
            where,
            " · immigration enforcement" if a.immigration_enforcement else "",
            class_="meta",
        ),
        window_nav(
            f"/transparency/{a.ori}", p.days, f"/transparency/{a.ori}/activity.csv?days={p.days}"
        ),
        _exposure(p),
        signing_section(signing),
        _recipients(p),
        sources_section(a, p.sources),
        _prohibited(p),
        _retention(p),
        _activity(p),
        _refusals(p),
        checkpoint_section(p.checkpoint),
        el(
            "section",
            el("h2", "What this page does not show"),
            el("ul", [el("li", x) for x in NOT_SHOWN]),
            id="limits",
        ),
    )
    return page(f"{a.name}: who can see its plate reads", body, p.policy_version, p.now)
