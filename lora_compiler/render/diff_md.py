"""`lora-compiler diff --format md`: GitHub tables to paste into a pull-request comment.

Nothing is truncated here (a PR comment scrolls sideways); `|` inside values is escaped.
"""

from __future__ import annotations

import json
from typing import Any

from ..results.diff import Change, FieldChange, MatrixDiff, PairDiff, Side, TargetCell
from ..results.findings import Finding


def render(result: MatrixDiff | PairDiff, color: bool = False) -> str:
    lines = _matrix(result) if isinstance(result, MatrixDiff) else _pair(result)
    return "\n".join(lines) + "\n"


def _matrix(d: MatrixDiff) -> list[str]:
    model = next((s.report.model.base_model for s in d.sides if s.report), None)
    what = {"model": "models", "axolotl": f"Axolotl releases on `{model}`"}.get(d.axis, f"conventions on `{model}`")
    lines = [
        f"### LoRA targets of `{d.config}` across {len(d.sides)} {what}",
        "",
        f"**{'Target sets differ.' if d.differs else 'Same targets.'}** "
        + (
            "Rows: module names with `*` for layer indices; cells: modules (layers), shape in x out, r/alpha, "
            "LoRA params."
            if d.layers
            else "Rows: module names (last component); cells: modules × shape in x out, r/alpha, LoRA params."
        )
        + " (param): fused expert parameters, PEFT target_parameters (shape experts x in x out).",
        "",
    ]
    lines += [_table_head(["module", *(f"`{_esc(s.label)}`" for s in d.sides)])]
    for r in d.rows:
        key = f"`{_esc(r.key)}`" + ("" if r.section == "modules" else f" ({r.section})")
        lines.append(_table_row([key, *(_cell(c, d.layers) for c in r.cells)]))
    totals = [s.totals for s in d.sides]
    lines.append(_table_row(["**modules**", *(f"{t.modules:,}" if t else "**failed**" for t in totals)]))
    lines.append(
        _table_row(
            ["**trainable**", *(f"{t.trainable_params:,} ({t.trainable_percent:.4f}%)" if t else "—" for t in totals)]
        )
    )
    lines.append(_table_row(["**unmatched names**", *(", ".join(f"`{n}`" for n in u) or "—" for u in d.unmatched)]))
    lines += ["", "Columns: " + "; ".join(f"`{_esc(s.label)}` {_describe(s, d.axis)}" for s in d.sides) + "."]
    found = [(f, ", ".join(f"`{_esc(d.sides[i].label)}`" for i in ix)) for f, ix in d.shared_findings()]
    return lines + _findings(found)


def _pair(d: PairDiff) -> list[str]:
    a, b = d.sides
    lines = [f"### LoRA target diff: `{_esc(a.label)}` → `{_esc(b.label)}`", ""]
    if d.compares == "modules":
        ta, tb = a.totals, b.totals
        assert ta and tb
        n = [sum(c.count for c in items) for items in (d.removed, d.added, d.changed)]
        lines += [
            f"**{n[0]} removed, {n[1]} added, {n[2]} changed modules**"
            + ("" if d.layers else " (modules with the same change grouped over their layers)."),
            "",
            _table_head(["", f"`{_esc(a.label)}`", f"`{_esc(b.label)}`", "change"], "---:"),
        ]
        for name, x, y, fmt in (
            ("wrapped modules", ta.modules, tb.modules, "{:,}"),
            ("trainable params", ta.trainable_params, tb.trainable_params, "{:,}"),
            ("trainable %", ta.trainable_percent, tb.trainable_percent, "{:.4f}"),
        ):
            delta = ("+" if y > x else "") + fmt.format(y - x) if y != x else "0"
            lines.append(_table_row([name, fmt.format(x), fmt.format(y), delta]))
        for title, items in (("Removed", d.removed), ("Added", d.added), ("Changed", d.changed)):
            if items:
                lines += [
                    "",
                    f"#### {title}",
                    "",
                    _table_head(["module", "layers", "modules", "type", "shape", "r/alpha", "params each", "Δ params"]),
                ]
                lines += [_change(c) for c in items]
    elif d.compares == "fields":
        lines.append(f"**{len(d.fields)} adapter_config.json fields differ.**")
    else:
        lines.append("**Cannot be compared** (see findings).")
    if d.fields:
        lines += [
            "",
            "#### adapter_config.json fields",
            "",
            "Fields marked * decide what is trained.",
            "",
            _table_head(["field", f"`{_esc(a.label)}`", f"`{_esc(b.label)}`"]),
        ]
        lines += [_field(c) for c in d.fields]
    if d.environment:
        lines += ["", "Versions: " + "; ".join(f"{c.field} {c.before} → {c.after}" for c in d.environment) + "."]
    found = [(f, "" if f.file == s.label else f"`{_esc(s.label)}`") for s in d.sides for f in s.findings]
    found += [(f, "") for f in d.notes]
    return lines + _findings(found)


def _change(c: Change) -> str:
    def both(attr: str, fmt: str = "{}") -> str:
        x, y = (fmt.format(getattr(f, attr)) if f else None for f in (c.before, c.after))
        return _esc(str(x if y is None else y if x is None or x == y else f"{x} → {y}"))

    name = f"`{_esc(c.name)}`" + ("" if c.section == "modules" else f" ({c.section})")
    return _table_row(
        [
            name,
            c.layers or "—",
            str(c.count),
            both("type"),
            both("shape") or "—",
            both("rank") or "—",
            both("params", "{:,}"),
            f"{c.delta:+,}",
        ]
    )


def _field(c: FieldChange) -> str:
    star = "\\*" if c.targets else ""
    name = f"{star}`{c.field}`"
    if c.items is not None:
        added, removed = c.items
        return _table_row(
            [name, ", ".join(f"~~`{v}`~~" for v in removed) or "—", ", ".join(f"`{v}`" for v in added) or "—"]
        )
    return _table_row([name, _value(c.before), _value(c.after)])


def _cell(c: TargetCell | None, layers: bool) -> str:
    if c is None:
        return "—"
    head = f"{c.count}" + (f" ({c.layers})" if layers and c.layers else "") + (" (param)" if c.parameter else "")
    if c.shapes:
        head += f" × {', '.join(c.shapes)}"
    return ", ".join(p for p in (head, ", ".join(c.ranks), f"{c.params:,}") if p)


def _describe(side: Side, axis: str) -> str:
    """Models: the class built. Conventions: the rule. Failures: why."""
    errors = ", ".join(f"`{r}`" for r in side.error_rules)
    if axis == "axolotl":
        return f"exit {side.exit_code}" + (f", refused ({errors})" if errors else ", accepted")
    if side.report is None:
        return f"failed ({errors})"
    if axis == "convention":
        return f"({_esc(side.summary or '')})"
    model = side.report.model
    return f"{model.architecture}" + (", multimodal" if model.is_multimodal else "")


def _findings(found: list[tuple[Finding, str]]) -> list[str]:
    if not found:
        return []
    lines = ["", "#### Findings", ""]
    for f, where in found:
        hint = f" — {_esc(f.hint)}" if f.hint else ""
        lines.append(
            f"- {where + ': ' if where else ''}**{f.severity.value}** [`{f.rule}`] `{_esc(f.location)}` "
            f"{_esc(f.message)}{hint}"
        )
    return lines


def _table_head(cols: list[str], align: str = "---") -> str:
    return _table_row(cols) + "\n" + _table_row(["---", *([align] * (len(cols) - 1))])


def _table_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _value(v: Any) -> str:
    return "—" if v is None else f"`{_esc(json.dumps(v, sort_keys=True))}`"


def _esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
