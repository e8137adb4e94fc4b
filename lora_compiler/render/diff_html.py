"""diff --format html: the layer maps of every compared side, side by side, aligned row by row, differences
outlined; a self-contained page built from report.html's parts (render/html.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..results import layermap as lm
from ..results.report import Report
from .html import _e, _grid, _legend, _levels, _n, _page


def render(result: Any, color: bool = False) -> str:
    failed = [(side.label, "refused: " + ", ".join(side.error_rules)) for side in result.sides if not side.report]
    # a release that refuses the run for a reason outside the adapter still has a map: say it refuses beside it
    refused = {side.label: ", ".join(side.error_rules) for side in result.sides if side.report and side.error_rules}
    return render_maps_html([(side.label, side.report) for side in result.sides if side.report], failed, refused)


Aligned = dict[str, tuple[list[lm.Column], list[str]]]  # block name -> (columns, row labels) over all maps
CellKey = tuple[str, str, str]  # (block, row label, column key)


def _align(lmaps: list[lm.LayerMap]) -> tuple[Aligned, list[dict[CellKey, lm.Cell]]]:
    """The union of blocks, columns and rows over several maps, so that their grids line up."""
    blocks: dict[str, tuple[dict[str, lm.Column], dict[str, tuple[bool, int, int]]]] = {}
    cells: list[dict[CellKey, lm.Cell]] = []
    for lmap in lmaps:
        found: dict[CellKey, lm.Cell] = {}
        for block in lmap.blocks:
            cols, rows = blocks.setdefault(block.name, ({}, {}))
            for c in block.columns:
                cols.setdefault(c.key, c)
            stacks = list(dict.fromkeys(r.stack for r in block.rows))
            for r in block.rows:  # other rows last, then by stack and layer index
                index = int(r.label.rsplit(".", 1)[-1]) if r.stack else 0
                rows.setdefault(r.label, (r.stack is None, stacks.index(r.stack), index))
            found.update({(block.name, r.label, c.key): cell for r, c, cell in block.cells()})
        cells.append(found)
    return {n: (list(cols.values()), sorted(rows, key=rows.__getitem__)) for n, (cols, rows) in blocks.items()}, cells


def _cell_of(found: dict[CellKey, lm.Cell], block: str) -> Callable[[str, str], lm.Cell | None]:
    """A grid's cell lookup for one block of one aligned map."""
    return lambda row, col: found.get((block, row, col))


def render_maps_html(
    titled_reports: list[tuple[str, Report]],
    failed: Iterable[tuple[str, str]] = (),
    refused: dict[str, str] | None = None,
) -> str:
    """N target maps side by side, aligned row by row; cells whose state or rank differs are outlined. `failed`:
    (title, why) of compared sides that have no map (an adapter the release refuses), listed, not dropped;
    `refused`: title -> the rules by which a side with a map refuses the run at start-up."""
    refused = refused or {}
    maps = [(t, r, lm.build_layer_map(r)) for t, r in titled_reports]
    levels = _levels(r for _, _, m in maps for r in m.ranks())
    aligned, cells = _align([m for _, _, m in maps])
    keys = set().union(*cells) if cells else set()
    differs = {k for k in keys if len({c[k].signature if k in c else None for c in cells}) > 1}
    body = [
        f"<header><h1>LoRA target maps: {len(maps)} reports</h1>",
        f'<div class="sub">{len(differs)} cells differ</div></header>',
        '<table class="tab"><thead><tr>'
        "<th>report</th><th>model</th><th>wrapped modules</th><th>trainable params</th></tr></thead><tbody>",
    ]
    body += [
        f"<tr><td><b>{_e(t)}</b>{f' (refused: {_e(refused[t])})' if t in refused else ''}</td>"
        f"<td>{_e(r.model.base_model or r.model.architecture)}</td>"
        f'<td class="num">{_n(len(r.modules))}</td><td class="num">{_n(r.trainable_params)} '
        f"({r.trainable_percent:.4f}%)</td></tr>"
        for t, r, _ in maps
    ]
    body += [f'<tr><td><b>{_e(t)}</b></td><td colspan="3">no map: {_e(why)}</td></tr>' for t, why in failed]
    body += ["</tbody></table>", _legend([m for _, _, m in maps], levels, diff=True)]
    for name, (cols, labels) in aligned.items():
        mine = {(r, c) for b, r, c in differs if b == name}
        body += [
            f"<h2>{_e(name if name != lm.MAIN or len(aligned) == 1 else 'language model')}</h2>",
            '<div class="side">',
        ]
        for (title, _, _), found in zip(maps, cells):
            body += [
                f'<section class="map" data-report="{_e(title)}"><h3>{_e(title)}</h3>',
                *_grid(cols, labels, _cell_of(found, name), levels, mine),
                "</section>",
            ]
        body.append("</div>")
    return _page("LoRA target maps", body)
