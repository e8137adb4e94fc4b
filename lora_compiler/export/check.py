"""Faithful or loud: apply a draft the way its trainer would, on the same skeleton, and compare with the compile.

For a PEFT-based trainer the draft's LoraConfig keywords are injected by PEFT itself (pipeline.inject),
so what is compared is what PEFT would wrap for that trainer. Compared per LoRA layer: the name, the
rank, the scaling PEFT applies (alpha / r, or alpha / sqrt(r) with rsLoRA) and, where PEFT ran, the
trainable parameters (so DoRA magnitudes and lora_bias count); then the modules_to_save copies and
the trainable-token layers. Dropout and initialisation never change that inventory; exporters report
them as findings of their own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..results.findings import Finding
from ..results.parts import WrappedModule
from ..rulebook.export import EXPORT_NOT_FAITHFUL
from .core import Draft, Subject

_SHOWN = 5  # differences named in a finding


def judge(subject: Subject, draft: Draft) -> list[Finding]:
    """No findings when the trainer would train what the compile says; else one error naming the differences."""
    ours = _layers(subject.wrapped, bool(subject.config.get("use_rslora")), with_params=draft.peft is not None)
    saved = ({m.name for m in subject.report.modules_to_save}, {m.name for m in subject.report.trainable_tokens})
    if draft.peft is None:
        theirs: dict[str, tuple[int, float, int | None]] = {
            name: (r, _scale(r, alpha, rs), None) for name, (r, alpha, rs) in (draft.wrapped or {}).items()
        }
        their_saved = saved  # not PEFT: the exporter refuses what it cannot carry, these stay empty
    else:
        try:
            inj = _inject(subject, draft.peft)
        except Exception as exc:  # PEFT refusing the trainer's config is itself a difference
            return [_unfaithful(subject, f"PEFT refuses the LoraConfig the trainer would build: {exc}")]
        theirs = _layers(inj.modules, bool(draft.peft.get("use_rslora")), with_params=True)
        their_saved = ({m.name for m in inj.modules_to_save}, {m.name for m in inj.trainable_tokens})
    problems = _differences(ours, theirs)
    for label, a, b in (("modules_to_save", saved[0], their_saved[0]), ("trainable tokens", saved[1], their_saved[1])):
        problems += [f"{label} {n}: only in the compile" for n in sorted(a - b)]
        problems += [f"{label} {n}: only in the export" for n in sorted(b - a)]
    if not problems:
        return []
    shown = "; ".join(problems[:_SHOWN]) + (f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else "")
    return [_unfaithful(subject, f"{len(problems)} difference(s): {shown}")]


def _layers(
    modules: Sequence[WrappedModule], rslora: bool, with_params: bool
) -> dict[str, tuple[int, float, int | None]]:
    return {m.name: (m.r, _scale(m.r, m.alpha, rslora), m.params if with_params else None) for m in modules}


def _scale(r: int, alpha: float, rslora: bool) -> float:
    return round(alpha / (math.sqrt(r) if rslora else r), 9)


def _differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    out = [f"{n}: wrapped by the compile, not by the export" for n in sorted(ours.keys() - theirs.keys())]
    out += [f"{n}: wrapped by the export, not by the compile" for n in sorted(theirs.keys() - ours.keys())]
    for name in sorted(ours.keys() & theirs.keys()):
        (r1, s1, p1), (r2, s2, p2) = ours[name], theirs[name]
        if r1 != r2:
            out.append(f"{name}: rank {r1} in the compile, {r2} in the export")
        elif s1 != s2:
            out.append(f"{name}: scaling {s1:g} in the compile, {s2:g} in the export")
        elif p1 is not None and p2 is not None and p1 != p2:
            out.append(f"{name}: {p1:,} trainable parameters in the compile, {p2:,} in the export")
    return out


def _inject(subject: Subject, kwargs: dict[str, Any]) -> Any:
    from peft import LoraConfig

    from ..pipeline.inject import inject

    config = LoraConfig(**{"task_type": subject.config.get("task_type"), **kwargs})
    return inject(subject.model, config)


def _unfaithful(subject: Subject, detail: str) -> Finding:
    return subject.finding(
        EXPORT_NOT_FAITHFUL,
        f"the exported config would not train what this YAML trains: {detail}",
        None,
        "report this: the exporter chose a form its trainer reads differently; nothing was written",
    )
