"""The console's static files keep the rules its CSP and its security model rest on: no inline
script or style, data written as text (never parsed as HTML), no token kept anywhere but in
memory, and only public endpoints called."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxy.http.console import static_files

STATIC = Path(__file__).resolve().parents[2] / "proxy" / "console" / "static"
OURS = sorted(p for p in STATIC.rglob("*.js") if "vendor" not in p.parts)
# A quoted path the proxy serves: the console's API calls and links.
PATH_LITERAL = re.compile(r"""['"`](/(?:v1|transparency|console|healthz|readyz)[^'"`?#\s]*)""")


def fetched_paths() -> set[str]:
    """Every proxy path the console's own JavaScript names."""
    return {m for p in OURS for m in PATH_LITERAL.findall(p.read_text(encoding="utf-8"))}


def test_the_scan_sees_the_calls() -> None:
    assert {"/v1/console/config", "/v1/log/checkpoint", "/v1/console/demo-token"} <= (
        fetched_paths()
    )
    assert PATH_LITERAL.findall("fetch('/v1/x?y=1'); const a = \"/transparency\";") == [
        "/v1/x",
        "/transparency",
    ]


def test_every_file_is_served_and_nothing_else() -> None:
    served = static_files()
    assert "index.html" in served and "js/app.js" in served
    assert "vendor/leaflet-1.9.4/leaflet.js" in served
    assert "vendor/leaflet-1.9.4/LICENSE.txt" in served
    assert served["js/app.js"][1] == "text/javascript"


def test_no_inline_script_or_style_in_the_page() -> None:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I)
    assert scripts and all(
        'src="/console/' in attrs and not body.strip() for attrs, body in scripts
    )
    assert "<style" not in html.lower()
    assert not re.search(r"\sstyle=", html, re.I)
    assert not re.search(r"\son[a-z]+=", html, re.I)  # no inline event handlers


@pytest.mark.parametrize("path", OURS, ids=lambda p: p.name)
def test_data_is_never_parsed_as_html_and_tokens_stay_in_memory(path: Path) -> None:
    code = re.sub(r"//.*", "", path.read_text(encoding="utf-8"))  # comments may name them
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in code, f"{path.name} uses {sink}"
    assert "localStorage" not in code and "document.cookie" not in code
    if path.name != "oidc.js":  # only the PKCE verifier, state and nonce, during the redirect
        assert "sessionStorage" not in code
