"""The transparency pages' frame (CSS, header, footer, the checkpoint section) and shared
cells. The pages' HTML: semantic, one table per section, inline CSS, inline SVG charts,
no scripts. Every value from the policy or the log goes through ``htmlkit`` and is escaped."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import datetime

from proxy.htmlkit import Markup, concat, el, table
from proxy.http.transparency.sections import GLOSSARY, verify_howto
from proxy.oversight.purpose_rules import TwoPersonRules
from proxy.oversight.transparency import CheckpointView
from proxy.policy.model import Agency

CSS = Markup("""
:root{--ink:#1f2933;--muted:#52606d;--line:#d9e2ec;--bg:#f5f7fa;--accent:#1f5fbf;
--yes:#b42318;--yes-bg:#fef3f2;--no:#067647;--no-bg:#ecfdf3}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
background:var(--bg)}
.wrap{max-width:980px;margin:0 auto;padding:0 20px}
header.site{background:#102a43;color:#fff;padding:14px 0}
header.site a{color:#fff;text-decoration:none;font-weight:600}
main{padding:14px 0 32px}
nav.crumbs{margin:18px 0 0;font-size:14px;color:var(--muted)}
a{color:var(--accent)}
h1{font-size:30px;line-height:1.2;margin:26px 0 6px}
nav.crumbs+h1{margin-top:8px}
h2{font-size:21px;margin:0 0 10px}
h3{font-size:17px;margin:22px 0 8px}
p.meta{color:var(--muted);margin:0 0 20px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:20px 22px;
margin:18px 0}
table{border-collapse:collapse;width:100%;font-size:15px}
caption{text-align:left;color:var(--muted);font-size:14px;padding:0 0 6px}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top}
thead th{background:#f0f4f8;font-weight:600}
thead th.num{white-space:nowrap}
td.nowrap{white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:14px}
code{overflow-wrap:break-word}
table.severity code{overflow-wrap:anywhere}
pre{background:#f0f4f8;border-radius:6px;padding:12px;overflow-x:auto;white-space:pre-wrap;
word-break:break-all}
.answer{display:flex;align-items:center;gap:16px;margin:4px 0 14px}
.badge{font-size:28px;font-weight:700;padding:6px 22px;border-radius:8px;border:2px solid}
.yes .badge{color:var(--yes);background:var(--yes-bg);border-color:var(--yes)}
.no .badge{color:var(--no);background:var(--no-bg);border-color:var(--no)}
.neutral .badge{color:var(--ink);background:#f0f4f8;border-color:var(--muted)}
.flag-yes{color:var(--yes);font-weight:600}
.flag-no{color:var(--no);font-weight:600}
figure{margin:14px 0 20px}
figcaption{font-weight:600;margin-bottom:6px}
svg.chart{max-width:100%;height:auto;display:block}
svg .bar{fill:var(--accent)}
svg text{font:14px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;fill:var(--ink)}
svg text.value{font-weight:600}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0 0 12px}
dt{color:var(--muted)}
dd{margin:0;word-break:break-all}
.empty{color:var(--muted);font-style:italic}
footer{color:var(--muted);font-size:13px;padding:0 20px 40px}
.explain{display:block;color:var(--muted);font-size:14px;word-break:normal}
p.window a[aria-current]{font-weight:700;color:var(--ink)}
@media (max-width:700px){section{padding:16px 14px}table{display:block;overflow-x:auto}
h1{font-size:25px}.answer{align-items:flex-start}
table.stack{display:table}table.stack thead{display:none}table.stack tr{display:block;
border-bottom:1px solid var(--line);padding:6px 0}table.stack td{display:block;border:0;
padding:2px 0}table.stack td::before{content:attr(data-label) ": ";color:var(--muted)}
dl{grid-template-columns:1fr}}
""")
# The pages carry no script at all; the CSP forbids every script and allows only this style.
CSP = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
    + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


GLOSSARY_OF = dict(GLOSSARY)


def when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def page(title: str, body: Markup, policy_version: str, now: datetime) -> str:
    return "<!doctype html>\n" + el(
        "html",
        el(
            "head",
            el("meta", charset="utf-8"),
            el("meta", name="viewport", content="width=device-width, initial-scale=1"),
            el("title", title),
            el("style", CSS),
        ),
        el(
            "body",
            el(
                "header",
                el(
                    "div",
                    el("a", "ALPR data sharing: transparency", href="/transparency"),
                    class_="wrap",
                ),
                class_="site",
            ),
            el("main", body, class_="wrap"),
            el(
                "footer",
                "Generated by alpr-proxy at ",
                when(now),
                " from the policy it enforces (",
                el("code", policy_version),
                ") and its audit log. Nothing on this page is written by hand.",
                class_="wrap",
            ),
        ),
        lang="en",
    )


def agency_cells(a: Agency) -> list[object]:
    return [a.name, el("code", a.ori), a.kind, a.state or "none"]


def agency_name(oris: Mapping[str, Agency], ori: str | None) -> object:
    if ori is None:
        return "—"
    agency = oris.get(ori)
    if agency is None:
        return concat(el("code", ori), " (not in the current policy)")
    return concat(agency.name, " (", el("code", ori), ")")


def checkpoint_section(cp: CheckpointView | None) -> Markup:
    if cp is None:
        body: object = el(
            "p", "No checkpoint has been signed yet: the log is empty.", class_="empty"
        )
    else:
        body = concat(
            el(
                "dl",
                el("dt", "Tree size"),
                el(
                    "dd",
                    f"{cp.size} entries",
                    el("span", GLOSSARY_OF["Tree size"], class_="explain"),
                ),
                el("dt", "Root hash"),
                el(
                    "dd",
                    el("code", base64.b64encode(cp.root).decode()),
                    el("span", GLOSSARY_OF["Root hash"], class_="explain"),
                ),
            ),
            el("pre", cp.note, id="checkpoint-note"),
            el(
                "p",
                "Keep a copy of this signed note: ",
                el("code", "alpr-proxy audit verify --checkpoint FILE"),
                " proves the log still contains every entry it covers. The same note is served at ",
                el("a", "/v1/log/checkpoint", href="/v1/log/checkpoint"),
                ".",
            ),
            verify_howto(),
        )
    return el("section", el("h2", "Latest signed checkpoint"), body, id="checkpoint")


def two_person_section(rules: TwoPersonRules) -> Markup:
    """Which purposes need a second person's approval, and which run at once (SPEC §12)."""
    purposes = table(
        "Every purpose the policy permits. A search that needs approval runs only after a"
        f" supervisor of the requester's agency approves it (valid {rules.approval_valid_hours}"
        " hours, once); an exigent search runs at once and must be reviewed by a supervisor"
        f" or by oversight within {rules.exigent_review_hours} hours.",
        ["Purpose", "Description", "Needs a supervisor's approval for", "Exigent?"],
        (
            [
                el("code", r.code),
                r.description,
                "; ".join(r.approval_when) if r.approval_when else "never",
                "Yes: runs at once, reviewed afterwards" if r.exigent else "No",
            ]
            for r in rules.purposes
        ),
        id="purposes-table",
    )
    return el("section", el("h2", "Two people for the risky searches"), purposes, id="purposes")
