"""The user documentation (README.md and docs/) stays inside the repository and complete.

Links: no link or path may leave the repository (the project carries its own reference), and
every relative link must resolve to a file, and an anchor to a heading of that file.
Registries: the lists are derived from the code (error codes and statuses, config keys, CLI
subcommands and flags, routes), so a code change that adds one without documenting it fails.
"""

from __future__ import annotations

import argparse
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from proxy.__main__ import build_parser
from proxy.app import create_app
from proxy.audit.note import generate_signer_key
from proxy.demo.policy import demo_policy_toml
from proxy.errors import STATUS
from proxy.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
# Anything that points outside the checkout: the old external SPEC (a path or a section
# citation), a parent directory, the machine the project was written on.
FORBIDDEN = ("../", "..\\", "/work/", "shared/SPEC.md", "SPEC §")

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"`+[^`\n]*`+")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
_EXTERNAL = ("http://", "https://", "mailto:")


def doc_files() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code: links there are not links."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: rendered text, lower case, punctuation dropped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link renders as its text
    text = text.replace("`", "").replace("*", "").strip().lower()
    kept = [
        c
        for c in text
        if c in " -_" or unicodedata.category(c)[0] in "LN" or unicodedata.category(c) == "Mn"
    ]
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out: set[str] = set(_HTML_ANCHOR.findall(text))
    for _, title in _HEADING.findall(text):
        base = slug(title)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> Iterator[str]:
    prose = _prose(path.read_text(encoding="utf-8"))
    yield from _LINK.findall(prose)
    yield from _REF_DEF.findall(prose)


def link_problems(path: Path, root: Path = ROOT) -> list[str]:
    """Every way `path` leaves the repository (`root`) or links to nothing."""
    text = path.read_text(encoding="utf-8")
    name = path.relative_to(root)
    problems = [f"{name}: contains {bad!r}" for bad in FORBIDDEN if bad in text]
    for target in links(path):
        if target.startswith(_EXTERNAL):
            continue
        file_part, _, anchor = target.partition("#")
        if file_part.startswith("/"):
            problems.append(f"{name}: absolute link {target!r}")
            continue
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.is_relative_to(root):
            problems.append(f"{name}: link {target!r} leaves the repository")
        elif not dest.exists():
            problems.append(f"{name}: link {target!r}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{name}: link {target!r}: no heading with anchor #{anchor}")
    return problems


def test_slug_follows_github() -> None:
    assert slug("The store contract") == "the-store-contract"
    assert slug("Oversight: audit API and reports") == "oversight-audit-api-and-reports"
    assert slug("`GET /v1/audit/entries`") == "get-v1auditentries"
    assert slug("How it is stored, and how fast it is") == "how-it-is-stored-and-how-fast-it-is"


def test_link_checker_catches_what_it_must(tmp_path: Path) -> None:
    """The checker itself: a test that cannot fail proves nothing."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n", encoding="utf-8")
    probe = tmp_path / "docs" / "page.md"
    probe.write_text(
        "# A page\n\n[spec](../shared/SPEC.md) [gone](no-such-file.md)"
        " [anchor](#no-such-heading) [ok](other.md#other-page) [self](#a-page)"
        " `[in code](nowhere.md)` [up](../../outside.md)\n",
        encoding="utf-8",
    )
    problems = link_problems(probe, tmp_path)
    text = "\n".join(problems)
    assert "contains '../'" in text and "shared/SPEC.md" in text
    assert "'no-such-file.md': no such file" in text
    assert "#no-such-heading" in text
    assert "'../../outside.md' leaves the repository" in text
    assert "other.md" not in text and "#a-page" not in text and "nowhere.md" not in text


def test_docs_exist_and_stay_inside_the_repository() -> None:
    files = doc_files()
    names = {p.name for p in files}
    assert {"README.md", "api.md", "errors.md", "configuration.md", "cli.md"} <= names
    problems = [p for f in files for p in link_problems(f)]
    assert problems == []


def test_docs_index_links_every_page() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for page in doc_files():
        if page.name != "README.md":
            assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"


def test_readme_stays_inside_the_repository_and_links_the_docs() -> None:
    """README.md: no path out of the repository, every link resolves, the reference linked."""
    assert link_problems(README) == []
    assert "](docs/README.md)" in README.read_text(encoding="utf-8")


def _table_rows(text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.lstrip().startswith("|")
    ]


def test_every_error_code_is_documented_with_its_status() -> None:
    rows = _table_rows((DOCS / "errors.md").read_text(encoding="utf-8"))
    documented = {(row[0], row[1]) for row in rows if len(row) >= 2}
    missing = [
        f"{code} {status}"
        for code, status in STATUS.items()
        if (f"`{code}`", str(status)) not in documented
    ]
    assert missing == []


def config_keys() -> list[str]:
    """Every `section.key` (nested tables dotted) of the settings, from the structs."""

    def walk(prefix: str, value: msgspec.Struct) -> Iterator[str]:
        for name in value.__struct_fields__:
            child = getattr(value, name)
            if isinstance(child, msgspec.Struct):
                yield from walk(f"{prefix}{name}.", child)
            else:
                yield f"{prefix}{name}"

    return list(walk("", Settings()))


def test_every_config_key_is_documented() -> None:
    keys = config_keys()
    assert "server.port" in keys and "log.origin" in keys  # the walk finds the real keys
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert [k for k in keys if f"`{k}`" not in text] == []


def cli_commands() -> dict[str, list[str]]:
    """`alpr-proxy <subcommand path>` -> its option strings, from the argument parser."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        flags = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
        out[prefix] = [f for f in flags if f != "--help"]
        for action in subs:
            for name, child in action.choices.items():
                walk(f"{prefix} {name}", child)

    walk("alpr-proxy", build_parser())
    return out


def test_every_cli_subcommand_and_flag_is_documented() -> None:
    commands = cli_commands()
    assert "alpr-proxy audit verify" in commands  # nested subcommands are found
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    leaves = [c for c in commands if not any(o.startswith(c + " ") for o in commands)]
    assert [c for c in leaves if c not in text] == []
    undocumented = [
        f"{command} {flag}"
        for command, flags in commands.items()
        for flag in flags
        if f"{flag}" not in _section(text, command)
    ]
    assert undocumented == []


def _section(text: str, command: str) -> str:
    """The part of cli.md under the heading naming `command` (the whole text if none)."""
    for match in _HEADING.finditer(text):
        if match.group(2).strip("` ") == command:
            rest = text[match.end() :]
            following = re.search(rf"^#{{1,{len(match.group(1))}}}[ \t]", rest, re.M)
            return rest if following is None else rest[: following.start()]
    return text


@pytest.fixture
def routes(tmp_path: Path) -> list[str]:
    """`METHOD /path` of every route create_app registers (HEAD duplicates GET)."""
    policy = tmp_path / "policy.toml"
    policy.write_text(demo_policy_toml(datetime.now(UTC)), encoding="utf-8")
    key = tmp_path / "log.key"
    key.write_text(generate_signer_key("example.org/docs-test")[0] + "\n", encoding="utf-8")
    settings = load_settings(
        None,
        env={},
        overrides={"policy": {"file": str(policy)}, "log": {"signing_key_file": str(key)}},
    )
    app = create_app(settings)
    return sorted(
        {
            f"{route.method} {route.resource.canonical}"
            for route in app.router.routes()
            if route.method != "HEAD" and route.resource is not None
        }
    )


def test_every_route_is_documented(routes: list[str]) -> None:
    assert "POST /v1/search" in routes
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    assert [r for r in routes if f"`{r}`" not in text] == []
