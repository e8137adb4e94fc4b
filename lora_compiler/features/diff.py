"""Diffs of LoRA target sets, as data: one config across models or conventions, or two inputs.

A matrix compares one YAML compiled several ways (module suffix rows x model or convention columns);
a pair compares two YAMLs, compile outputs, targets.json or adapter_config.json files, module by
module. Compile problems stay findings of the side they belong to, so a model on which a config
fails is a column that says why. Renderers (render/diff_*.py) only lay this out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..engine.compiler import CompileResult, Options, compile_document
from ..engine.session import Session
from ..pipeline.document import Document, load_file
from ..pipeline.fields import TARGET_FIELDS
from ..results import findings as fmod
from ..results.diff import (
    SECTIONS,
    Change,
    Facts,
    FieldChange,
    MatrixDiff,
    PairDiff,
    Side,
    TargetCell,
    TargetRow,
    module_facts,
    name_template,
    report_entries,
    section_of,
)
from ..results.findings import Finding
from ..results.parts import SavedModule, WrappedModule
from ..results.report import Report
from ..results.serialize import ReportFormatError
from ..rulebook.pipeline import DIFF_INCOMPARABLE, INPUT_UNREADABLE
from ..rules import restore


class DiffUsageError(ValueError):
    """Arguments that make none of the diffs; the command line reports it as a usage error."""


def diff(
    inputs: Sequence[str | Path],
    *,
    models: Sequence[str] = (),
    conventions: Sequence[str] = (),
    options: Options = Options(),
    layers: bool = False,
    releases: Sequence[str] = (),
) -> MatrixDiff | PairDiff:
    """The diff the command line asks for: one YAML with --model, --convention or --axolotl (two or more), or
    two inputs. A single --axolotl applies that release to whatever else is compared."""
    if len(releases) == 1:
        options = replace(options, axolotl=releases[0])
    elif releases:
        if len(inputs) != 1 or models or conventions:
            raise DiffUsageError(
                "--axolotl twice or more compares one config across releases (no --model or --convention)"
            )
        return diff_releases(inputs[0], releases, options, layers)
    if conventions:
        if len(inputs) != 1 or len(models) > 1:
            raise DiffUsageError("--convention compares one config, on its own model or one --model")
        return diff_conventions(inputs[0], conventions, replace(options, model=models[0] if models else None), layers)
    if models and len(inputs) == 1:
        return diff_models(inputs[0], models, options, layers)
    if len(inputs) == 2 and len(models) <= 1:
        return diff_pair(inputs[0], inputs[1], replace(options, model=models[0] if models else None), layers)
    raise DiffUsageError("give one config with --model or --convention, or two inputs (with at most one --model)")


def diff_models(
    config: str | Path, models: Sequence[str], options: Options = Options(), layers: bool = False
) -> MatrixDiff:
    """Compile `config` once per model, in the order given; columns follow that order."""
    doc = _config_document(config)
    sides = [_compiled(m, compile_document(doc, replace(options, model=m))) for m in models]
    return _matrix("model", str(config), sides, layers)


def diff_releases(
    config: str | Path, releases: Sequence[str], options: Options = Options(), layers: bool = False
) -> MatrixDiff:
    """The upgrade view: `config` compiled under each Axolotl release's profile, on the libraries installed here
    (one skeleton for all). Columns show the verdict, findings that appear or vanish, targets and trained counts."""
    from ..profiles import ProfileError, find

    try:
        names = [find(r).version for r in releases]
    except ProfileError as exc:
        raise DiffUsageError(str(exc)) from None
    doc = _config_document(config)
    session = Session()
    # each column is a release on this machine's libraries: its stack verdict says which columns that changes
    sides = [
        _compiled(f"Axolotl {v}", compile_document(doc, replace(options, axolotl=v), session, verdict=True))
        for v in names
    ]
    return _matrix("axolotl", str(config), sides, layers)


def diff_conventions(
    config: str | Path, conventions: Sequence[str], options: Options = Options(), layers: bool = False
) -> MatrixDiff:
    """Compile `config` with each convention's target selection (conventions.CONVENTIONS), in the order given."""
    from .conventions import CONVENTIONS

    unknown = [c for c in conventions if c not in CONVENTIONS]
    if unknown:
        raise DiffUsageError(f"unknown convention {', '.join(unknown)}; known: {', '.join(CONVENTIONS)}")
    doc = _config_document(config)
    session = Session()  # one model: its skeleton is built once for every convention
    sides = []
    for name in conventions:
        rewritten, notes = CONVENTIONS[name].apply(doc, options, session)
        sides.append(_compiled(name, compile_document(rewritten, options, session), notes, CONVENTIONS[name].summary))
    return _matrix("convention", str(config), sides, layers)


def diff_pair(a: str | Path, b: str | Path, options: Options = Options(), layers: bool = False) -> PairDiff:
    """Compare two inputs; YAMLs are compiled with `options` (options.model compiles both on that model)."""
    session = Session()  # two YAMLs on one model build it once
    sides = (load_side(a, options, session), load_side(b, options, session))
    removed: list[Change] = []
    added: list[Change] = []
    changed: list[Change] = []
    ra, rb = sides[0].report, sides[1].report
    if ra and rb:
        before, after = report_entries(ra), report_entries(rb)
        removed = group_changes([(k, before[k], None) for k in before.keys() - after.keys()], layers)
        added = group_changes([(k, None, after[k]) for k in after.keys() - before.keys()], layers)
        changed = group_changes(
            [(k, before[k], after[k]) for k in before.keys() & after.keys() if before[k] != after[k]], layers
        )
    ca, cb = sides[0].adapter_config, sides[1].adapter_config
    fields = _field_changes(ca, cb, TARGET_FIELDS) if ca and cb else []
    environment = _field_changes(dict(ra.environment), dict(rb.environment), frozenset()) if ra and rb else []
    notes = []
    if not (ra and rb) and not (ca and cb) and not any(s.failed for s in sides):
        notes.append(
            DIFF_INCOMPARABLE.finding(
                f"{sides[0].label} ({sides[0].kind}) and "
                f"{sides[1].label} ({sides[1].kind}) share neither a targets report nor an adapter config",
                hint="compare two YAMLs, two compile outputs or two adapter_config.json files",
            )
        )
    return PairDiff(
        sides, tuple(removed), tuple(added), tuple(changed), tuple(fields), tuple(environment), layers, tuple(notes)
    )


def load_side(path: str | Path, options: Options = Options(), session: Session | None = None) -> Side:
    """A YAML (compiled), a compile output directory, a targets.json or an adapter_config.json."""
    p, label = Path(path), str(path)
    if p.is_dir():
        files = [f for f in (p / "targets.json", p / "adapter_config.json") if f.is_file()]
        if not files:
            return _unreadable(label, "the directory holds neither targets.json nor adapter_config.json")
    elif p.suffix == ".json":
        files = [p]
    else:
        return _compiled(label, compile_document(p, options, session))
    report: Report | None = None
    config = None
    for file in files:
        data = _read_json(file)
        if isinstance(data, str):
            return _unreadable(label, data)
        if isinstance(data.get("modules"), list) and "schema_version" in data:
            try:
                report = Report.from_dict(data)
            except ReportFormatError as exc:
                return _unreadable(label, f"{file.name} is not a targets.json this version reads: {exc}")
        elif "target_modules" in data or "peft_type" in data:
            config = data
        else:
            return _unreadable(label, f"{file.name} is neither a lora-compiler targets.json nor a PEFT adapter config")
    if report:  # the exit class of each finding is its rule's, which targets.json does not record
        report = replace(report, findings=tuple(restore(f.to_dict()) for f in report.findings))
    return Side(label, "targets" if report else "adapter_config", report, config, report.findings if report else ())


def unmatched_names(report: Report) -> list[str]:
    """target_modules names that wrapped no module: ignored by PEFT as long as another name matches.

    Names PEFT moved to fused expert parameters (transformers 5 MoE) are not counted; a regex matches
    as a whole and is not split into names.
    """
    asked = report.target_modules
    if isinstance(asked, str):
        return []
    effective = report.effective_target_modules
    converted = bool(report.effective_target_parameters) and not report.target_parameters
    names = [m.name for m in report.modules if m.kind == "module"]
    return sorted(
        t
        for t in asked
        if not any(n == t or n.endswith("." + t) for n in names)
        and not (converted and isinstance(effective, tuple) and t not in effective)
    )


def ranges(indices: Iterable[tuple[int, ...]]) -> str:
    """Layer indices as runs ('0-31', '0-2,5'); nested indices (experts in layers) as 'layer.expert' runs."""
    runs: list[list[tuple[int, ...]]] = []
    for t in sorted(set(indices)):
        if runs and t[:-1] == runs[-1][-1][:-1] and t[-1] == runs[-1][-1][-1] + 1:
            runs[-1].append(t)
        else:
            runs.append([t])
    name = lambda t: ".".join(map(str, t))  # noqa: E731
    return ",".join(name(r[0]) if len(r) == 1 else f"{name(r[0])}-{r[-1][-1]}" for r in runs if r[0])


def group_changes(items: list[tuple[tuple[str, str], Facts | None, Facts | None]], layers: bool) -> list[Change]:
    """Entries with the same template and the same before/after facts become one change over their layers (the
    lock records its modules so too, features/lock.py)."""
    groups: dict[tuple[Any, ...], list[tuple[int, ...]]] = {}
    for (section, name), before, after in items:
        template, index = (name, ()) if layers else name_template(name)
        groups.setdefault((section, template, before, after), []).append(index)
    changes = [Change(s, t, ranges(ix), len(ix), b, a) for (s, t, b, a), ix in groups.items()]
    return sorted(changes, key=lambda c: (SECTIONS.index(c.section), c.name, c.layers, repr(c.before), repr(c.after)))


def _matrix(axis: str, config: str, sides: list[Side], layers: bool) -> MatrixDiff:
    by_row: dict[tuple[str, str], dict[int, list[tuple[WrappedModule | SavedModule, tuple[int, ...], bool]]]] = {}
    for i, side in enumerate(sides):
        if not side.report:
            continue
        params = sorted(side.report.effective_target_parameters or [], key=len, reverse=True)
        for section in SECTIONS:
            for m in section_of(side.report, section):
                key, index = name_template(m.name) if layers else (_row_key(m, params), ())
                parameter = isinstance(m, WrappedModule) and m.kind == "parameter"
                by_row.setdefault((section, key), {}).setdefault(i, []).append((m, index, parameter))
    rows = [
        TargetRow(section, key, tuple(_cell(found[i]) if i in found else None for i in range(len(sides))))
        for (section, key), found in sorted(by_row.items(), key=lambda kv: (SECTIONS.index(kv[0][0]), kv[0][1]))
    ]
    unmatched = tuple(tuple(unmatched_names(s.report)) if s.report else () for s in sides)
    return MatrixDiff(axis, config, tuple(sides), tuple(rows), unmatched, layers)


def _row_key(m: WrappedModule | SavedModule, parameters: list[str]) -> str:
    """A module's last name; a parameter target's PEFT name ('gate.weight' rather than 'weight')."""
    if isinstance(m, WrappedModule) and m.kind == "parameter":
        for p in parameters:
            if m.name == p or m.name.endswith("." + p):
                return p
    return m.name.rsplit(".", 1)[-1]


def _cell(found: list[tuple[WrappedModule | SavedModule, tuple[int, ...], bool]]) -> TargetCell:
    facts = [module_facts(m) for m, _, _ in found]
    return TargetCell(
        count=len(found),
        parameter=any(p for _, _, p in found),
        shapes=_most_common_first([f.shape for f in facts if f.shape]),
        ranks=tuple(sorted({f.rank for f in facts if f.rank})),
        params=sum(f.params for f in facts),
        layers=ranges(ix for _, ix, _ in found),
    )


def _most_common_first(values: list[str]) -> tuple[str, ...]:
    """Distinct values, the most frequent first (gemma-3's q_proj: the language model's, then the tower's)."""
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return tuple(sorted(counts, key=lambda v: (-counts[v], v)))


def _field_changes(a: dict[str, Any], b: dict[str, Any], targets: frozenset[str]) -> list[FieldChange]:
    return [
        FieldChange(k, a.get(k), b.get(k), k in targets)
        for k in sorted(a.keys() | b.keys())
        if _canonical(a.get(k)) != _canonical(b.get(k))
    ]


def _canonical(value: Any) -> str:
    """Lists PEFT stores as sets compare as sets."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = sorted(set(value))
    return json.dumps(value, sort_keys=True)


def _config_document(config: str | Path) -> Document:
    p = Path(config)
    if p.is_dir() or p.suffix == ".json":
        raise DiffUsageError(f"{config}: --model and --convention take an Axolotl YAML config, not a compile output")
    return load_file(p)


def _compiled(label: str, result: CompileResult, notes: Iterable[Finding] = (), summary: str | None = None) -> Side:
    adapter = result.adapter_config if result.report is not None else None
    return Side(label, "config", result.report, adapter, tuple(fmod.sort_findings([*result.findings, *notes])), summary)


def _unreadable(label: str, why: str) -> Side:
    return Side(
        label,
        "unreadable",
        findings=(
            INPUT_UNREADABLE.finding(
                f"cannot diff: {why}",
                label,
                hint="pass a YAML, a compile output directory, a targets.json or an adapter_config.json",
            ),
        ),
    )


def _read_json(path: Path) -> dict[str, Any] | str:
    """The JSON object in `path`, or why it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{path}: {getattr(exc, 'strerror', None) or exc}"
    return data if isinstance(data, dict) else f"{path}: not a JSON object"
