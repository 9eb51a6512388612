"""Sections both transparency pages share: the history window, refusals by severity, the
other direction (whose reads an agency can receive), and the words a reader needs (ORI, tree
size, root hash) with how to check the log oneself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from proxy.errors import SEVERITY_LABELS, refusal_label
from proxy.htmlkit import Markup, concat, el, table
from proxy.oversight.transparency import Recipient
from proxy.oversight.transparency_flows import WINDOWS, group_by_severity
from proxy.policy.model import Agency

GLOSSARY = (
    (
        "ORI",
        "Originating Agency Identifier: the nine-character code the FBI's NCIC assigns"
        " to every law-enforcement agency.",
    ),
    (
        "Sharing rule",
        "A line of the policy saying which other agencies may receive an"
        " agency's plate reads, for which purposes, until when.",
    ),
    (
        "Audit log",
        "The append-only record of every search, written before any result is"
        " returned; entries cannot be changed or removed without it showing.",
    ),
    ("Tree size", "How many entries the audit log held when a checkpoint was signed."),
    ("Root hash", "A fingerprint of all those entries: changing any one of them changes it."),
    (
        "Checkpoint",
        "The tree size and root hash, signed by the proxy (and, where configured,"
        " countersigned by independent witnesses).",
    ),
)

# What an agency's page cannot tell a reader, said on the page.
NOT_SHOWN = (
    "Who searched, for which case, or which plates: searches are counted, never listed.",
    "Reads that were withheld (by sharing rules, retention or sensitive locations).",
    "Searches that matched its reads but returned none of them.",
    "Access outside this proxy: anyone reading the database directly is not in this log.",
    "Past sharing rules: the recipients above are today's; the audit log records every policy"
    " version that was in force.",
)


def window_nav(path: str, days: int, csv: str | None = None) -> Markup:
    """Links to the same page over each window; the one shown is marked current."""
    links: list[object] = []
    for n in WINDOWS:
        if links:
            links.append(" · ")
        current = "page" if n == days else None
        links.append(el("a", f"last {n} days", href=f"{path}?days={n}", aria_current=current))
    download = [" — ", el("a", "download as CSV", href=csv, id="csv-link")] if csv else []
    return el("p", "History: ", links, download, class_="window", id="window")


def refusals_block(refusals: tuple[tuple[str, int], ...], empty: str) -> Markup:
    """Refusals by severity, gravest first: a typo is not a prohibited purpose."""
    if not refusals:
        return el("p", empty, class_="empty", id="refusals-table")
    blocks = []
    for severity, rows in group_by_severity(refusals):
        blocks.append(
            table(
                f"{SEVERITY_LABELS[severity]}: {sum(n for _, n in rows)} refused searches",
                ["Reason", "Meaning", "Searches"],
                ([el("code", r), refusal_label(r), n] for r, n in rows),
                id=f"refusals-{severity}",
                class_="severity",
            )
        )
    return el("div", blocks, id="refusals-table")


def grant_text(r: Recipient) -> str:
    purposes = (
        "all permitted purposes"
        if r.all_purposes and len(r.grants) == 1
        else ", ".join(sorted({c for g in r.grants for c in g.purposes}))
    )
    ends = [g.until for g in r.grants]
    until = "no expiry" if None in ends else f"through {max(e for e in ends if e)}"
    return f"{purposes} ({until})"


def sources_section(agency: Agency, sources: Sequence[tuple[Agency, Recipient]]) -> Markup:
    """The other direction, on an agency's page: whose reads it can receive today."""
    body = (
        table(
            f"{len(sources)} agencies' reads",
            ["Owner agency", "ORI", "For"],
            ([o.name, el("code", o.ori), grant_text(r)] for o, r in sources),
            id="sources-table",
        )
        if sources
        else el(
            "p",
            "None: no agency's sharing rules admit it today.",
            class_="empty",
            id="sources-table",
        )
    )
    return el(
        "section",
        el("h2", f"Whose reads can {agency.name} receive today?"),
        body,
        id="sources",
    )


def glossary() -> Markup:
    return el(
        "section",
        el("h2", "Words on these pages"),
        el("dl", [(el("dt", term), el("dd", text)) for term, text in GLOSSARY]),
        id="glossary",
    )


def verify_howto() -> Markup:
    """How the log can be checked without trusting this server (docs/cli.md has the rest)."""
    return el(
        "p",
        "How to check it: keep a copy of the signed note. An oversight body, or anyone it"
        " lends a token to, runs ",
        el(
            "code", "alpr-proxy audit verify --url URL --token-file FILE --key LOG_KEY --state FILE"
        ),
        ", which recomputes the root hash from every entry and proves each new checkpoint"
        " extends the one it kept; the instructions are in alpr-proxy's reference"
        " (docs/cli.md, \u201calpr-proxy audit verify\u201d).",
        id="verify-howto",
    )


def agency_link(agencies: Mapping[str, Agency], ori: str | None) -> object:
    if ori is None:
        return "—"
    a = agencies.get(ori)
    return (
        concat(el("code", ori), " (not in the current policy)")
        if a is None
        else concat(el("a", a.name, href=f"/transparency/{ori}"), " (", el("code", ori), ")")
    )
