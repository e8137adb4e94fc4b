"""The layer map: which module of which layer LoRA trains, as data (report.html and report.md draw it).

Built from a Report alone (Report.from_dict reads a saved targets.json), so it also works in `diff`. Rows are
layers, columns module names; a vision or audio tower is its own block. Wrapped modules come from
`modules`; modules that exist but were not wrapped need the optional `candidates` list (every
LoRA-able module of the skeleton, `excluded` when lora_exclude_modules matched it): without it the
map shows only what was trained.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..model_facts import tower_component
from .report import Report

LIST_NAMES = ("layers", "h", "blocks", "block", "layer")  # containers of numbered decoder/encoder layers
STATES = ("targeted", "saved", "excluded", "off")  # a cell shows the first of these its modules have
SYMBOLS = {"targeted": "#", "saved": "S", "excluded": "x", "off": ".", None: " "}
OTHER = "other"  # the row of modules outside any numbered layer (lm_head, projectors)
MAIN = "model"


@dataclass(frozen=True)
class Member:
    """One module (or fused expert parameter) in a cell, with what LoRA does to it."""

    name: str
    state: str
    type: str
    in_features: int | None
    out_features: int | None
    num_experts: int | None = None
    r: int | None = None
    alpha: float | None = None
    params: int = 0

    @property
    def shape(self) -> str:
        shape = f"{self.in_features}x{self.out_features}" if self.in_features and self.out_features else "?"
        return f"{self.num_experts}x{shape}" if self.num_experts else shape


@dataclass(frozen=True)
class Cell:
    members: tuple[Member, ...]

    @property
    def state(self) -> str:
        return next(s for s in STATES if any(m.state == s for m in self.members))

    @property
    def ranks(self) -> tuple[int, ...]:
        return tuple(sorted({m.r for m in self.members if m.r is not None}))

    @property
    def params(self) -> int:
        return sum(m.params for m in self.members)

    @property
    def signature(self) -> tuple[str, tuple[int, ...]]:
        """What a diff compares: the state and the ranks."""
        return self.state, self.ranks


@dataclass(frozen=True)
class Column:
    key: str  # the module's last name; "experts.<name>" for MoE expert weights
    num_experts: int | None = None  # known for fused expert parameters

    @property
    def experts(self) -> bool:
        return self.key.startswith("experts.")


@dataclass(frozen=True)
class Row:
    label: str  # layer index, "<stack>.<index>" when a block has several stacks, or OTHER
    stack: str | None  # the layer list's path (model.layers), None for OTHER
    cells: tuple[Cell | None, ...]  # aligned with Block.columns; None: no such module in this row


@dataclass(frozen=True)
class Block:
    name: str  # MAIN or a tower (vision_tower, audio_tower, multi_modal_projector, ...)
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]

    @property
    def is_tower(self) -> bool:
        return self.name != MAIN

    def cells(self) -> Iterable[tuple[Row, Column, Cell]]:
        for row in self.rows:
            for col, cell in zip(self.columns, row.cells):
                if cell is not None:
                    yield row, col, cell


@dataclass(frozen=True)
class LayerMap:
    blocks: tuple[Block, ...]
    has_candidates: bool  # False: "not targeted" and "excluded" are unknown, only trained modules are shown

    def counts(self) -> dict[str, int]:
        """Modules (not cells) per state."""
        out = dict.fromkeys(STATES, 0)
        for block in self.blocks:
            for _, _, cell in block.cells():
                for m in cell.members:
                    out[m.state] += 1
        return out

    def ranks(self) -> tuple[int, ...]:
        return tuple(sorted({r for b in self.blocks for _, _, c in b.cells() for r in c.ranks}))


def layer_of(name: str) -> tuple[str | None, int | None]:
    """(stack, index): the path through the first numbered segment after a list name, and that number.

    model.layers.3.self_attn.q_proj -> ("model.layers", 3); lm_head -> (None, None).
    """
    parts = name.split(".")
    for i in range(1, len(parts) - 1):
        if parts[i - 1] in LIST_NAMES and parts[i].isdigit():
            return ".".join(parts[:i]), int(parts[i])
    return None, None


def column_of(name: str) -> str:
    """The column key: the last name, prefixed "experts." below an `experts` container (MoE); a module's own
    weight adapted as a parameter is labelled by its owner (a router's `gate.weight`, not `weight`)."""
    parts = name.split(".")
    if "experts" in parts[:-1]:
        return f"experts.{parts[-1]}"
    return ".".join(parts[-2:]) if parts[-1] in ("weight", "bias") and len(parts) > 1 else parts[-1]


def _members(report: Report) -> list[Member]:
    """Every module the map knows of, each once, with the most specific state it has."""
    found: dict[str, Member] = {}
    for c in report.candidates:
        state = "excluded" if c.excluded else "off"
        found[c.name] = Member(c.name, state, c.type, c.in_features, c.out_features, c.num_experts)
    for m in report.modules:
        found[m.name] = Member(
            m.name, "targeted", m.type, m.in_features, m.out_features, m.num_experts, m.r, m.alpha, m.params
        )
    for s in (*report.modules_to_save, *report.trainable_tokens):
        old = found.get(s.name)
        found[s.name] = Member(
            s.name,
            "saved",
            s.type,
            old.in_features if old else None,
            old.out_features if old else None,
            params=s.params,
        )
    return list(found.values())


def build_layer_map(report: Report) -> LayerMap:
    """The map of one report: main model block first, then towers in model order."""
    grouped: dict[str, dict[tuple[str | None, int | None], dict[str, list[Member]]]] = {}
    columns: dict[str, dict[str, Column]] = {}
    for m in _members(report):
        block = tower_component(m.name) or MAIN
        key = column_of(m.name)
        known = columns.setdefault(block, {})
        experts = m.num_experts if (m.num_experts or 0) > 1 else None  # a router's own weight is not experts
        if key not in known or (experts and not known[key].num_experts):
            known[key] = Column(key, experts)
        grouped.setdefault(block, {}).setdefault(layer_of(m.name), {}).setdefault(key, []).append(m)
    blocks: list[Block] = []
    for name in sorted(grouped, key=lambda b: b != MAIN):  # stable: towers keep their model order
        rows = grouped[name]
        stacks = list(dict.fromkeys(s for s, _ in rows if s is not None))
        cols = tuple(columns[name].values())

        def order(key: tuple[str | None, int | None]) -> tuple[int, int]:
            stack, index = key
            return (len(stacks), 0) if stack is None else (stacks.index(stack), index or 0)

        blocks.append(
            Block(
                name,
                cols,
                tuple(
                    Row(
                        _label(key, stacks),
                        key[0],
                        tuple(Cell(tuple(rows[key][c.key])) if c.key in rows[key] else None for c in cols),
                    )
                    for key in sorted(rows, key=order)
                ),
            )
        )
    return LayerMap(tuple(blocks), bool(report.candidates))


def _label(key: tuple[str | None, int | None], stacks: list[str]) -> str:
    stack, index = key
    if stack is None:
        return OTHER
    if len(stacks) == 1:
        return str(index)
    short = stack.split(".")
    return f"{short[-2] if len(short) > 1 else short[-1]}.{index}"


def block_title(lmap: LayerMap, block: Block) -> str:
    """A block's heading; the main block is "language model" when a tower sits beside it."""
    layers = sum(r.stack is not None for r in block.rows)
    name = "language model" if block.name == MAIN and len(lmap.blocks) > 1 else block.name
    return f"{name} ({layers} layers)" if layers else name


def text_grid(lmap: LayerMap) -> list[str]:
    """The map as lines of characters for a fenced code block: one line per column, one char per row.

    Transposed from the HTML grid so that 32-80 layers fit across a pull-request comment; a gap
    separates layer stacks (encoder/decoder) and the modules outside the layers (o).
    """
    lines: list[str] = []
    for block in lmap.blocks:
        width = max(len(_col_label(c)) for c in block.columns) + 2
        groups = [
            [i for i, r in enumerate(block.rows) if r.stack == s] for s in dict.fromkeys(r.stack for r in block.rows)
        ]
        lines += ["", block_title(lmap, block)]
        if any(r.stack for r in block.rows):
            tens = "  ".join("".join(_tens(block.rows[i]) for i in g) for g in groups).rstrip()
            lines += [" " * width + tens] if tens else []
            lines.append(" " * width + "  ".join("".join(_unit(block.rows[i]) for i in g) for g in groups))
        for c, col in enumerate(block.columns):
            chars = "  ".join("".join(SYMBOLS[_state(block.rows[i].cells[c])] for i in g) for g in groups)
            lines.append((_col_label(col).ljust(width) + chars).rstrip())
    return lines[1:]


def legend(lmap: LayerMap) -> list[tuple[str, str]]:
    """(symbol, meaning) for the text grid, naming only the symbols this map can show."""
    pairs = [("#", "LoRA"), ("S", "modules_to_save / trainable tokens")]
    if lmap.has_candidates:
        pairs += [("x", "excluded by lora_exclude_modules"), (".", "not targeted")]
    pairs.append(("blank", "no such module" if lmap.has_candidates else "not targeted or no such module"))
    if any(r.stack is None for b in lmap.blocks for r in b.rows):
        pairs.append(("o", "column of the modules outside the numbered layers"))
    return pairs


def _state(cell: Cell | None) -> str | None:
    return cell.state if cell else None


def _col_label(col: Column) -> str:
    return f"{col.key} ({col.num_experts} experts)" if col.num_experts else col.key


def _unit(row: Row) -> str:
    return "o" if row.stack is None else row.label[-1]


def _tens(row: Row) -> str:
    """Tens digit above every tenth layer (1 above 10, 2 above 20), as on a ruler."""
    digits = row.label.rsplit(".", 1)[-1]
    return digits[-2] if row.stack is not None and len(digits) > 1 and digits.endswith("0") else " "
