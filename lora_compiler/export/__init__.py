"""Adapter configs for other trainers: one module per trainer, chosen from TRAINERS by `--to`.

Each trainer module restates how one release of that trainer turns its own keys into what it trains
(core.Trainer); `export` drafts the keys for a finished compile, judges the draft on the same meta
skeleton (check.judge) and renders it only when it trains what the YAML trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..results.findings import Finding, has_errors
from . import llamafactory, peft, swift, torchtune, trl, unsloth
from .check import judge
from .core import Subject, Trainer
from .render import render

TRAINERS: dict[str, Trainer] = {
    t.name: t
    for t in (llamafactory.TRAINER, trl.TRAINER, torchtune.TRAINER, swift.TRAINER, unsloth.TRAINER, peft.TRAINER)
}


@dataclass(frozen=True)
class Export:
    """One trainer's config for one compile: the file (None when refused) and the findings that explain it."""

    trainer: Trainer
    filename: str
    text: str | None
    findings: tuple[Finding, ...]


def export(subject: Subject, trainer: str, fmt: str | None = None) -> Export:
    """Draft, judge and render `trainer`'s config; an error finding means nothing is to be written."""
    chosen = TRAINERS[trainer]
    fmt = fmt or chosen.formats[0]
    draft = chosen.draft(subject)
    findings = list(draft.findings)
    if not has_errors(findings):
        findings += judge(subject, draft)
    text = None if has_errors(findings) else render(chosen, draft, fmt, subject)
    return Export(chosen, chosen.filename(fmt), text, tuple(findings))


def formats_of(trainer: str) -> tuple[str, ...]:
    return TRAINERS[trainer].formats


def subject_of(result: Any, model: Any, doc: Any) -> Subject:
    """The Subject of a compile that succeeded (result.report set) on `model`, its meta skeleton.

    Its config is the LoraConfig Axolotl built, not the saved one: a trainer's PEFT rewrites it alike."""
    from ..pipeline.peftcfg import adapter_config_dict

    return Subject(doc, result.spec, adapter_config_dict(result.lora_config), result.report, model)
