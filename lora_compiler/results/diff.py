"""What a diff finds, as data: the sides compared, rows, changes and field changes.

diff.py computes these; the renderers (render/diff_*.py) only lay them out. The per-module facts
a change compares live here too, since a matrix decides with them whether its sides differ.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from . import findings as fmod
from .findings import Finding
from .parts import SavedModule, WrappedModule
from .report import Report

SECTIONS = ("modules", "modules_to_save", "trainable_tokens")  # LoRA-wrapped, trained in full, token rows


@dataclass(frozen=True)
class Side:
    """One compared thing: a matrix column or one end of a pair."""

    label: str
    kind: str  # config (compiled here) | targets | adapter_config | lock | unreadable
    report: Report | None = None  # compiled here, or read from a targets.json
    adapter_config: dict[str, Any] | None = None
    findings: tuple[Finding, ...] = ()
    summary: str | None = None  # a convention column's rule, for legends
    counts: Totals | None = None  # the totals of a side with no report (a lock entry, features/lock.py)

    @property
    def failed(self) -> bool:
        return self.report is None and self.adapter_config is None and self.counts is None

    @property
    def exit_code(self) -> int:
        return fmod.exit_code(self.findings)

    @property
    def error_rules(self) -> list[str]:
        """The rules of its error findings, sorted: why a column failed or a release refuses."""
        return sorted({f.rule for f in self.findings if f.severity is fmod.Severity.ERROR})

    @property
    def totals(self) -> Totals | None:
        return Totals.of(self.report) if self.report else self.counts


@dataclass(frozen=True)
class Totals:
    modules: int
    lora_params: int
    trainable_params: int
    all_params: int
    trainable_percent: float

    @classmethod
    def of(cls, report: Report) -> Totals:
        return cls(
            len(report.modules),
            sum(m.params for m in report.modules),
            report.trainable_params,
            report.all_params,
            report.trainable_percent,
        )


@dataclass(frozen=True)
class TargetCell:
    """What one side trains under one row: how many modules, their shapes, r/alpha and LoRA parameters."""

    count: int
    parameter: bool  # fused expert parameters (PEFT target_parameters), not modules
    shapes: tuple[str, ...]
    ranks: tuple[str, ...]
    params: int
    layers: str = ""  # with --layers: the layer indices the row covers


@dataclass(frozen=True)
class TargetRow:
    section: str
    key: str  # module suffix, or with --layers its name with '*' for layer indices
    cells: tuple[TargetCell | None, ...]  # None: not trained by that side


@dataclass(frozen=True)
class Facts:
    """The compared attributes of one module: changing any of them is a 'changed' entry."""

    type: str
    shape: str
    rank: str
    params: int


@dataclass(frozen=True)
class Change:
    section: str
    name: str  # module name, or a template with '*' for the indices in `layers`
    layers: str
    count: int
    before: Facts | None
    after: Facts | None

    @property
    def delta(self) -> int:
        """Change in trainable parameters over the whole group."""
        return self.count * ((self.after.params if self.after else 0) - (self.before.params if self.before else 0))


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any
    targets: bool  # the field decides what is trained (TARGET_FIELDS)

    @property
    def items(self) -> tuple[list[str], list[str]] | None:
        """(added, removed) elements when both values are name lists (PEFT stores them as sets)."""
        a, b = self.before, self.after
        if not (isinstance(a, (list, type(None))) and isinstance(b, (list, type(None))) and (a or b)):
            return None
        old, new = {str(v) for v in a or []}, {str(v) for v in b or []}
        return sorted(new - old), sorted(old - new)


@dataclass(frozen=True)
class MatrixDiff:
    """One config compiled per model (axis 'model') or per convention on one model (axis 'convention')."""

    axis: str
    config: str
    sides: tuple[Side, ...]
    rows: tuple[TargetRow, ...]
    unmatched: tuple[tuple[str, ...], ...]  # per side: target_modules names that wrapped nothing
    layers: bool

    @property
    def differs(self) -> bool:
        """Models: the trained suffixes differ. Conventions: any module, shape, r or alpha differs. Releases: that,
        or the verdict, a finding or the trained count."""
        sigs: set[Hashable]
        if self.axis == "model":
            sigs = {
                None if s.failed else frozenset((r.section, r.key) for r in self.rows if r.cells[i])
                for i, s in enumerate(self.sides)
            }
        elif self.axis == "axolotl":  # releases: the verdict, the findings and every module fact
            sigs = {
                (
                    s.exit_code,
                    frozenset((f.rule, f.line, f.column, f.message) for f in s.findings),
                    None if s.report is None else frozenset(report_entries(s.report).items()),
                    None if s.report is None else s.report.trainable_params,
                )
                for s in self.sides
            }
        else:
            sigs = {None if s.report is None else frozenset(report_entries(s.report).items()) for s in self.sides}
        return len(sigs) > 1

    def exit_code(self, check: bool = False) -> int:
        return exit_code_of(self.sides, (), check, self.differs)

    def shared_findings(self) -> list[tuple[Finding, tuple[int, ...]]]:
        """Each distinct finding once, with the 0-based sides that reported it, in column order."""
        seen: dict[Finding, list[int]] = {}
        for i, side in enumerate(self.sides):
            for f in side.findings:
                seen.setdefault(f, []).append(i)
        order = {f: n for n, f in enumerate(fmod.sort_findings(seen))}
        return [(f, tuple(ix)) for f, ix in sorted(seen.items(), key=lambda kv: (kv[1][0], order[kv[0]]))]


@dataclass(frozen=True)
class PairDiff:
    """Two inputs: modules removed, added and changed (when both have reports), config fields, versions."""

    sides: tuple[Side, Side]
    removed: tuple[Change, ...]
    added: tuple[Change, ...]
    changed: tuple[Change, ...]
    fields: tuple[FieldChange, ...]
    environment: tuple[FieldChange, ...]
    layers: bool
    notes: tuple[Finding, ...] = ()  # problems of the comparison itself (nothing comparable)

    @property
    def compares(self) -> str:
        """'modules' when both sides have reports, else 'fields' (adapter configs), else 'nothing'."""
        a, b = self.sides
        if a.totals and b.totals:
            return "modules"
        return "fields" if a.adapter_config and b.adapter_config else "nothing"

    @property
    def differs(self) -> bool:
        if self.compares == "modules":
            return bool(self.removed or self.added or self.changed)
        if self.compares == "fields":
            return any(c.targets for c in self.fields)
        return True  # a side failed: equality cannot be shown

    def exit_code(self, check: bool = False) -> int:
        return exit_code_of(self.sides, self.notes, check, self.differs)


_INDEX = re.compile(r"^\d+$")


def name_template(name: str) -> tuple[str, tuple[int, ...]]:
    parts = name.split(".")
    return ".".join("*" if _INDEX.match(p) else p for p in parts), tuple(int(p) for p in parts if _INDEX.match(p))


def module_facts(m: WrappedModule | SavedModule) -> Facts:
    if isinstance(m, SavedModule):
        return Facts(m.type, "", "", m.params)
    shape = f"{m.in_features}x{m.out_features}"
    return Facts(m.type, f"{m.num_experts}x{shape}" if m.num_experts else shape, f"r={m.r}/a={m.alpha:g}", m.params)


def section_of(report: Report, section: str) -> tuple[WrappedModule, ...] | tuple[SavedModule, ...]:
    """The report's modules of one of SECTIONS."""
    parts: dict[str, tuple[WrappedModule, ...] | tuple[SavedModule, ...]] = {
        "modules": report.modules,
        "modules_to_save": report.modules_to_save,
        "trainable_tokens": report.trainable_tokens,
    }
    return parts[section]


def report_entries(report: Report) -> dict[tuple[str, str], Facts]:
    return {(s, m.name): module_facts(m) for s in SECTIONS for m in section_of(report, s)}


def exit_code_of(sides: Iterable[Side], notes: Iterable[Finding], check: bool, differs: bool) -> int:
    if any(s.exit_code == fmod.EXIT_UNUSABLE for s in sides) or fmod.has_errors(notes):
        return fmod.EXIT_UNUSABLE
    return fmod.EXIT_FINDINGS if check and differs else fmod.EXIT_OK
