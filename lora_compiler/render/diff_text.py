"""`lora-compiler diff` for a terminal: every line fits 100 columns.

Matrices print at most three sides per block (more sides continue in further blocks) with fixed
26-column cells: a cell keeps its first shape and counts the others ('+1'); labels and names too
long for their column keep their end ('...' in front), where the distinguishing part is. --layers
rows, too long for the name column, get a line of their own above their cells.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from typing import Any

from ..results.diff import Change, FieldChange, MatrixDiff, PairDiff, Side, TargetCell
from ..results.findings import Finding
from .text import render_finding

WIDTH = 100
_KEY = 18  # name column of a matrix: 18 + 3 x (1 + 26) = 99
_CELL = 26  # count (5) + shape (13) + params (6), single-space separated
_PER_BLOCK = 3
_RED, _GREEN, _RESET = "\033[31m", "\033[32m", "\033[0m"


def render(result: MatrixDiff | PairDiff, color: bool = False) -> str:
    lines = _matrix(result, color) if isinstance(result, MatrixDiff) else _pair(result, color)
    return "\n".join(lines) + "\n"


def _matrix(d: MatrixDiff, color: bool) -> list[str]:
    what = {"model": "models", "axolotl": f"Axolotl releases on {_model_of(d.sides)}"}.get(
        d.axis, f"conventions on {_model_of(d.sides)}"
    )
    unit = "layer indices" if d.layers else "shape (in x out)"
    lines = [
        _fit(f"{d.config} across {len(d.sides)} {what}: " + ("differ" if d.differs else "same targets")),
        f"cells: modules, {unit}, LoRA params; * fused expert parameters (experts x in x out)",
        "       a shape+N: the most common shape, and N other shapes (--format json lists them all)",
    ]
    lines += [_fit(f" [{i + 1}] {_cut(s.label, 30):<30} {_describe(s, d.axis)}") for i, s in enumerate(d.sides)]
    for start in range(0, len(d.sides), _PER_BLOCK):
        cols = range(start, min(start + _PER_BLOCK, len(d.sides)))
        lines += ["", _row("module", [f"[{i + 1}]" for i in cols])]
        for r in d.rows:
            cells = [_cell(r.cells[i], d.layers) for i in cols]
            key = r.key if r.section == "modules" else f"{r.key} ({r.section})"
            if len(key) > _KEY:
                lines += [_fit(key), _row("", cells)]
            else:
                lines.append(_row(key, cells))
        totals = [d.sides[i].totals for i in cols]
        lines.append(_row("modules", [f"{t.modules:,}" if t else "failed" for t in totals]))
        lines.append(
            _row("trainable", [f"{t.trainable_params:,} ({t.trainable_percent:.4f}%)" if t else "-" for t in totals])
        )
        lines.append(_row("unmatched names", [", ".join(d.unmatched[i]) or "-" for i in cols]))
    counts = Counter(r for row in d.rows for c in row.cells if c for r in c.ranks)
    common = max(sorted(counts), key=lambda r: counts[r]) if counts else ""  # stated once, the others noted
    odd = [
        f"[{i + 1}] {r.key} {', '.join(c.ranks)}"
        for r in d.rows
        for i, c in enumerate(r.cells)
        if c and c.ranks and c.ranks != (common,)
    ]
    if common:
        lines.append("")
        lines += textwrap.wrap(
            f"r/alpha: {common}" + (f" except {'; '.join(odd)}" if odd else ""), WIDTH, subsequent_indent="  "
        )
    return lines + _findings([(f, ", ".join(f"[{i + 1}]" for i in ix)) for f, ix in d.shared_findings()], color)


def _pair(d: PairDiff, color: bool) -> list[str]:
    a, b = d.sides
    head = f"{a.label} -> {b.label}: "
    if d.compares == "modules":
        head += f"{_n(d.removed)} removed, {_n(d.added)} added, {_n(d.changed)} changed modules" + (
            "" if d.layers else " (grouped by layer)"
        )
    elif d.compares == "fields":
        head += f"{len(d.fields)} adapter_config.json fields differ"
    else:
        head += "cannot be compared (see findings)"
    lines = [_fit(head)]
    if d.compares == "modules":
        ta, tb = a.totals, b.totals
        assert ta and tb
        lines += ["", f"{'':<20}{_cut(a.label, 20):>20}  {_cut(b.label, 20):>20}  {'change':>20}"]
        for name, x, y, fmt in (
            ("wrapped modules", ta.modules, tb.modules, "{:,}"),
            ("trainable params", ta.trainable_params, tb.trainable_params, "{:,}"),
            ("trainable %", ta.trainable_percent, tb.trainable_percent, "{:.4f}"),
        ):
            delta = ("+" if y > x else "") + fmt.format(y - x) if y != x else "0"
            lines.append(f"{name:<20}{fmt.format(x):>20}  {fmt.format(y):>20}  {delta:>20}")
        for title, sign, items in (("removed", "-", d.removed), ("added", "+", d.added), ("changed", "~", d.changed)):
            if items:
                lines += ["", f"{title}:"] + [_paint(line, sign, color) for c in items for line in _change(c, sign)]
    if d.fields:
        what = "recorded fields" if a.kind == "lock" else "adapter_config.json fields"
        lines += ["", f"{what} (* decides what is trained):"]
        lines += [_field(c) for c in d.fields]
    if d.environment:
        lines += ["", _fit("versions: " + "; ".join(f"{c.field} {c.before} -> {c.after}" for c in d.environment))]
    found = [(f, "" if f.file == s.label else f"[{s.label}]") for s in d.sides for f in s.findings]
    found += [(f, "") for f in d.notes]
    return lines + _findings(found, color)


def _change(c: Change, sign: str) -> list[str]:
    name = c.name + (f" [{c.layers}]" if c.layers else "")
    section = "" if c.section == "modules" else f" ({c.section})"
    if c.before and c.after:
        parts = [
            f"{k} {getattr(c.before, k)} -> {getattr(c.after, k)}"
            for k in ("type", "shape", "rank")
            if getattr(c.before, k) != getattr(c.after, k)
        ]
        parts.append(f"params {c.before.params:,} -> {c.after.params:,} each ({c.delta:+,})")
        detail = f"{c.count} x " + "; ".join(parts)
    else:
        f = c.after or c.before
        assert f is not None
        detail = f"{c.count} x " + " ".join(v for v in (f.type, f.shape, f.rank) if v) + f"  {c.delta:+,}"
    head = f"  {sign} {name}{section}"
    if len(head) + 2 + len(detail) <= WIDTH:
        return [f"{head}  {detail}"]
    return [_fit(head), _fit(f"      {detail}")]


def _field(c: FieldChange) -> str:
    mark = "*" if c.targets else " "
    if c.items is not None:
        added, removed = c.items
        text = "; ".join(
            p for p in (("+ " + ", ".join(added)) if added else "", ("- " + ", ".join(removed)) if removed else "") if p
        )
    else:
        text = f"{_value(c.before)} -> {_value(c.after)}"
    return _fit(f"  {mark} {c.field}: {text}")


def _findings(found: list[tuple[Finding, str]], color: bool) -> list[str]:
    if not found:
        return []
    lines = ["", "findings:"]
    for f, where in found:
        first, *rest = render_finding(f, color).split("\n")
        lines += textwrap.wrap(f"{where} {first}".lstrip(), WIDTH, subsequent_indent="    ", break_on_hyphens=False)
        lines += [ln for r in rest for ln in textwrap.wrap(r, WIDTH, subsequent_indent="      ")]
    return lines


def _cell(c: TargetCell | None, layers: bool) -> str:
    if c is None:
        return "-"
    what = (
        c.layers
        if layers
        else (c.shapes[0] + (f"+{len(c.shapes) - 1}" if len(c.shapes) > 1 else "") if c.shapes else "")
    )
    count = f"{c.count}{'*' if c.parameter else ''}"
    return f"{count:>5} {_cut(what, 13):<13} {_human(c.params):>6}"


def _row(key: str, cells: list[str]) -> str:
    return f"{_cut(key, _KEY):<{_KEY}} " + " ".join(f"{_cut(c, _CELL):<{_CELL}}" for c in cells).rstrip()


def _describe(side: Side, axis: str) -> str:
    """Models: the class built. Conventions: the rule (the model is in the title). Failures: why."""
    errors = ", ".join(side.error_rules)
    if axis == "axolotl":
        return f"exit {side.exit_code}" + (f", refused: {errors}" if errors else ", accepted")
    if side.report is None:
        return "failed: " + errors
    if axis == "convention":
        return side.summary or ""
    model = side.report.model
    return model.architecture + (", multimodal" if model.is_multimodal else "")


def _model_of(sides: tuple[Side, ...]) -> str:
    return str(next((s.report.model.base_model for s in sides if s.report), "its model"))


def _human(n: int) -> str:
    for size, unit in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def _value(v: Any) -> str:
    return _cut(json.dumps(v, sort_keys=True), 40)


def _n(items: tuple[Change, ...]) -> int:
    return sum(c.count for c in items)


def _cut(text: str, width: int) -> str:
    """Keep the end: module names and model ids differ in their last part."""
    return text if len(text) <= width else "..." + text[-(width - 3) :]


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 3] + "..."


def _paint(line: str, sign: str, color: bool) -> str:
    if not color or sign == "~":
        return line
    return f"{_RED if sign == '-' else _GREEN}{line}{_RESET}"
