"""The layer grids in a DOM dump, read with the standard library's HTML parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Grid:
    section: dict[str, str]  # attributes of the enclosing <section> (data-block, data-report)
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[str, list[set[str]]]] = field(default_factory=list)  # (row label, classes of each cell)
    titles: list[str] = field(default_factory=list)  # every cell's hover text

    def cells(self, cls: str) -> int:
        return sum(cls in c for _, cells in self.rows for c in cells)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.grids: list[Grid] = []
        self.csp: list[str] = []
        self._section: dict[str, str] = {}
        self._grid: Grid | None = None
        self._in: str | None = None  # "row" while inside a row label
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "meta" and a.get("http-equiv", "").lower() == "content-security-policy":
            self.csp.append(a.get("content", ""))
        elif tag == "section":
            self._section = a
        elif tag == "table" and "grid" in a.get("class", "").split():
            self._grid = Grid(dict(self._section))
            self.grids.append(self._grid)
        elif self._grid is None:
            return
        elif tag == "th" and a.get("scope") == "col":
            self._grid.columns.append(a.get("title", ""))  # the full column key, e.g. experts.gate_up_proj
        elif tag == "th" and a.get("scope") == "row":
            self._in, self._text = "row", ""
        elif tag == "td":
            self._grid.rows[-1][1].append(set(a.get("class", "").split()))
            if "title" in a:
                self._grid.titles.append(a["title"])

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if self._grid is None:
            return
        if tag == "th" and self._in == "row":
            self._grid.rows.append((self._text, []))
            self._in = None
        elif tag == "table":
            self._grid = None


def parse(html: str) -> tuple[list[Grid], list[str]]:
    """(the grids, the Content-Security-Policy meta values)."""
    p = _Parser()
    p.feed(html)
    return p.grids, p.csp
