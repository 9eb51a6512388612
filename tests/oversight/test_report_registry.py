"""The reports registry is the one list: a report registered there has its route, its OpenAPI
path and schema, its CLI choice, its tables and its documentation; nothing names a report the
registry does not hold (CONTRIBUTING: adding a report)."""

from __future__ import annotations

import inspect
from pathlib import Path

from proxy.http import routes
from proxy.http.openapi import openapi_document
from proxy.oversight.reports import REPORTS
from proxy.oversight.schemas import SCHEMAS

ROOT = Path(__file__).resolve().parent.parent.parent


def test_every_report_has_a_route_and_nothing_else_does() -> None:
    routed = {
        p.rsplit("/", 1)[1] for m, p, _ in routes.ROUTES if p.startswith("/v1/audit/reports/")
    }
    assert routed == set(REPORTS)


def test_every_report_is_in_the_openapi_document_with_its_schema() -> None:
    doc = openapi_document()
    paths = {p.rsplit("/", 1)[1] for p in doc["paths"] if p.startswith("/v1/audit/reports/")}
    assert paths == set(REPORTS)
    for kind in REPORTS.values():
        assert kind.shape in SCHEMAS, kind.name
        assert kind.shape.__name__ in doc["components"]["schemas"], kind.name


def test_every_report_is_documented() -> None:
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    cli = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name in REPORTS:
        assert f"/v1/audit/reports/{name}" in api, name
        assert name in cli, name


def test_each_report_module_registers_exactly_one_kind() -> None:
    """A report module whose kind was never added to REPORTS would be dead code."""
    import proxy.oversight.reports as package

    modules = sorted(p.stem for p in Path(package.__file__).parent.glob("*.py"))
    # The flags report's parts (its lists, approvals, exigent searches) are flag_* modules.
    helpers = {"__init__", "kind"} | {m for m in modules if m.startswith("flag_")}
    registered = {
        inspect.getmodule(kind.run).__name__.rsplit(".", 1)[1] for kind in REPORTS.values()
    }  # type: ignore[union-attr]
    assert set(modules) - helpers == registered


def test_the_cli_offers_every_report() -> None:
    """`__main__.py` stays argparse-only (no asyncpg at start), so it spells the choices out."""
    main = (ROOT / "proxy" / "__main__.py").read_text(encoding="utf-8")
    choices = f"choices=({', '.join(repr(n) for n in REPORTS)}, 'all')".replace("'", '"')
    assert choices in main


def test_each_flag_part_is_a_field_of_the_flags_report_and_documented() -> None:
    """proxy.oversight.reports.flag_parts.PARTS is the one list of the flags report's parts in
    their own modules: each is a FlagsReport field, in report order, and in docs/api.md."""
    from proxy.oversight.reports.flag_parts import PARTS
    from proxy.oversight.schemas import FlagsReport

    fields = list(FlagsReport.__struct_fields__)
    names = [part.name for part in PARTS]
    assert fields[-len(names) :] == names
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert [n for n in names if f"`{n}`" not in api] == []
