"""Read an HTML page the way the tests need it, with the stdlib parser (no regexes): tables by
id as rows of cell texts, an element's text by id, and every start tag seen."""

from __future__ import annotations

from html.parser import HTMLParser

_VOID = {"meta", "link", "br", "hr", "img", "input", "rect", "line", "path", "circle"}


class Page(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, list[list[str]]] = {}  # id -> body rows (th/td texts)
        self.heads: dict[str, list[str]] = {}  # id -> header cells
        self._texts: dict[str, list[str]] = {}  # id -> text inside that element
        self._open: list[tuple[str, str | None]] = []  # (tag, id) of open elements
        self._table: list[str] = []  # ids of open tables
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_head = False
        self.text_parts: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag in _VOID:
            return
        self._open.append((tag, a.get("id")))
        if a.get("id"):
            self._texts.setdefault(a["id"] or "", [])
        if tag == "table":
            tid = a.get("id") or f"table{len(self.tables)}"
            self._table.append(tid)
            self.tables.setdefault(tid, [])
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        while self._open:
            t, _ = self._open.pop()
            if t == tag:
                break
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            if self._in_head:
                self.heads[self._table[-1]] = self._row
            else:
                self.tables[self._table[-1]].append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "table" and self._table:
            self._table.pop()

    def handle_data(self, data: str) -> None:
        if any(t in ("style", "title") and i is None for t, i in self._open[-1:]):
            return
        self.text_parts.append(data)
        if self._cell is not None:
            self._cell.append(data)
        for _, i in self._open:
            if i:
                self._texts[i].append(data)

    def text(self, element_id: str) -> str:
        assert element_id in self._texts, f"no element with id {element_id!r}"
        return " ".join("".join(self._texts[element_id]).split())

    def all_text(self) -> str:
        return " ".join("".join(self.text_parts).split())

    def column(self, table_id: str, n: int) -> list[str]:
        return [row[n] for row in self.tables[table_id]]

    def links(self) -> list[str]:
        return [a.get("href") or "" for t, a in self.tags if t == "a"]
