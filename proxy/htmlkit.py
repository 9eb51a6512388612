"""A tiny HTML builder that escapes by default, and server-side SVG bar charts.

Every string is escaped unless it is ``Markup`` (HTML this module produced), so text from the
policy file or the audit log can never become markup: ``el("td", agency.name)`` is safe
whatever the name holds. There is no way to pass raw text through except constructing
``Markup`` by hand, which only this module and the page's constant CSS do.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence


class Markup(str):
    """A string that is already safe HTML."""

    __slots__ = ()


def escape(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


def _children(items: Iterable[object]) -> Iterable[str]:
    for item in items:
        if item is None or item is False:
            continue
        if isinstance(item, Iterable) and not isinstance(item, str):
            yield from _children(item)
        else:
            yield escape(item)


def concat(*items: object) -> Markup:
    return Markup("".join(_children(items)))


def _attrs(attrs: dict[str, object]) -> str:
    out = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        name = key.rstrip("_").replace("_", "-")  # class_ -> class, aria_label -> aria-label
        out.append(f" {name}" if value is True else f' {name}="{escape(value)}"')
    return "".join(out)


_VOID = frozenset({"meta", "link", "br", "hr", "rect", "line"})


def el(tag: str, *children: object, **attrs: object) -> Markup:
    """``<tag attrs>children</tag>``; ``tag`` and attribute names are code, never data."""
    if tag in _VOID and not children:
        return Markup(f"<{tag}{_attrs(attrs)}" + ("/>" if tag in ("rect", "line") else ">"))
    return Markup(f"<{tag}{_attrs(attrs)}>{concat(*children)}</{tag}>")


def table(
    caption: str, head: Sequence[str], rows: Iterable[Sequence[object]], **attrs: object
) -> Markup:
    """A captioned table; integer cells (and their column headings) are right-aligned."""
    body = [list(r) for r in rows]
    numeric = {i for i, c in enumerate(body[0]) if isinstance(c, int)} if body else set()

    def num(i: int, cell: object = 0) -> str | None:
        return "num" if i in numeric and isinstance(cell, int) else None

    return el(
        "table",
        el("caption", caption),
        el(
            "thead", el("tr", [el("th", h, scope="col", class_=num(i)) for i, h in enumerate(head)])
        ),
        el(
            "tbody",
            [el("tr", [el("td", c, class_=num(i, c)) for i, c in enumerate(r)]) for r in body],
        ),
        **attrs,
    )


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bar_chart(chart_id: str, title: str, rows: Sequence[tuple[str, int]], unit: str) -> Markup:
    """A horizontal bar chart as inline SVG: one labelled bar per row, value at its end.

    Renders without scripts or external resources; the title and every label are escaped.
    """
    width, label_w, bar_x, row_h, pad = 900, 280, 290, 30, 8
    bar_max = width - bar_x - 70
    top = max((v for _, v in rows), default=0) or 1
    height = pad * 2 + row_h * len(rows)
    parts: list[Markup] = [el("title", title, id=f"{chart_id}-title")]
    for n, (label, value) in enumerate(rows):
        y = pad + n * row_h
        w = 0 if value <= 0 else max(2, round(bar_max * value / top))
        parts.append(
            el(
                "g",
                el("title", f"{label}: {value} {unit}"),
                el(
                    "text",
                    _shorten(label, 32),
                    x=label_w,
                    y=y + row_h / 2 + 5,
                    text_anchor="end",
                    class_="label",
                ),
                el("rect", x=bar_x, y=y + 5, width=w, height=row_h - 10, rx=3, class_="bar"),
                el("text", value, x=bar_x + w + 6, y=y + row_h / 2 + 5, class_="value"),
                class_="bar-row",
            )
        )
    return el(
        "svg",
        parts,
        id=chart_id,
        class_="chart",
        viewBox=f"0 0 {width} {height}",
        width=width,
        height=height,
        role="img",
        aria_labelledby=f"{chart_id}-title",
        xmlns="http://www.w3.org/2000/svg",
    )
