"""What Axolotl really trains: its post-load freezing, applied to the parameters PEFT left trainable.

After `load_lora`, Axolotl 0.19's `train.py` (`setup_model_and_tokenizer`) runs, on the PeftModel:

1. `unfrozen_parameters` -> `utils/freeze.py:freeze_layers_except`: every parameter is frozen,
   LoRA's included, then the ones a pattern matches are unfrozen. A pattern is Axolotl's
   `LayerNamePattern`: every `.` not followed by `+` is a literal dot, matched with `re.match`
   (from the start, not to the end) against PeftModel names (`base_model.model.` + the model's
   name); a trailing `[start:end]` unfreezes rows `start:end` of dim 0 only, through a gradient
   hook (the whole tensor keeps gradients and optimizer state).
2. `freeze_mm_modules` -> `freeze_mm_modules`: every parameter with a dot-separated path
   component in `MM_MODULE_PREFIXES` is frozen, LoRA inside the tower included.

For DPO, IPO and KTO (without merge_lora) Axolotl's loader returns the bare model and TRL adds
the adapter after this freezing, which then leaves the adapter trainable: `applies` says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..results.parts import FreezingGroup, FreezingRecord

# axolotl 0.19.0 utils/freeze.py, _MM_MODULE_PREFIXES
MM_MODULE_PREFIXES = frozenset(
    {
        "vision_tower",
        "vision_model",
        "vision_encoder",
        "embed_vision",
        "multi_modal_projector",
        "visual",
        "audio_tower",
        "audio_model",
        "embed_audio",
    }
)
RL_WRAPPED_LATER = ("dpo", "ipo", "kto")  # loaders/model.py _load_adapters: config_only, TRL wraps later
_RANGE = re.compile(r"^(.+)\[([0-9]*)(?::([0-9]*))?\]$")  # the shape LayerNamePattern accepts at the end


@dataclass(frozen=True)
class Parameter:
    """One parameter of the PEFT-wrapped model, as `named_parameters()` names it."""

    name: str
    numel: int
    rows: int | None  # len(param): shape[0]; None for a 0-d parameter
    trainable: bool  # requires_grad after PEFT


@dataclass(frozen=True)
class Pattern:
    text: str
    regex: re.Pattern[str] | None
    start: int | None = None  # the trailing range, if any
    end: int | None = None
    error: str | None = None  # why Axolotl refuses it at start-up


@dataclass(frozen=True)
class Group:
    """Parameters of one kind (lora, modules_to_save, trainable_tokens, base), inside a tower or not."""

    kind: str
    in_tower: bool
    peft_trainable: int
    trained: int
    with_gradients: int  # whole tensors that get gradients and optimizer state (a range trains only rows)

    @property
    def name(self) -> str:
        return f"{self.kind} in tower" if self.in_tower else self.kind


@dataclass(frozen=True)
class Freezing:
    trainable: int  # what Axolotl trains: range patterns count only their rows
    with_gradients: int  # parameters whose whole tensor needs gradients and optimizer state
    peft_trainable: int
    groups: tuple[Group, ...]
    unmatched: tuple[int, ...]  # indices of unfrozen_parameters patterns that match no parameter
    errors: tuple[tuple[int | None, str], ...]  # (pattern index or None, message): Axolotl fails at start-up


def record(freezing: Freezing, unfrozen: Sequence[str] | None, freeze_mm: bool | None) -> FreezingRecord:
    """The report's account of the freezing (schemas/targets.schema.json, `freezing`)."""
    return FreezingRecord(
        unfrozen_parameters=tuple(unfrozen) if unfrozen else None,
        freeze_mm_modules=bool(freeze_mm),
        with_gradients=freezing.with_gradients,
        groups=tuple(FreezingGroup(g.name, g.peft_trainable, g.trained, g.with_gradients) for g in freezing.groups),
        unmatched_patterns=tuple(unfrozen[i] for i in freezing.unmatched) if unfrozen else (),
        errors=tuple(m for _, m in freezing.errors),
    )


def parse_pattern(text: str) -> Pattern:
    """Axolotl's LayerNamePattern: an optional trailing [start:end] range, dots literal but in '.+'."""
    start = end = None
    name = text
    found = _RANGE.match(text)
    if found:
        name = found[1]
        start = int(found[2]) if found[2] else 0
        if found[3] is None:
            end = start + 1 if found[2] else None  # [i] is one row; [] is all of them
        else:
            end = int(found[3]) if found[3] else None
        if end is not None and start >= end:
            return Pattern(text, None, error=f"Invalid range in layer name pattern: {text}")
    try:
        regex = re.compile(re.sub(r"\.(?!\+)", r"\\.", name))
    except re.error as exc:
        return Pattern(text, None, error=f"not a regular expression: {exc}")
    return Pattern(text, regex, start, end)


def in_mm_module(name: str) -> bool:
    """Axolotl's own tower test (freeze_mm_modules): a dot-separated component in MM_MODULE_PREFIXES."""
    return any(part in MM_MODULE_PREFIXES for part in name.split("."))


def group_of(name: str) -> tuple[str, bool]:
    if ".lora_" in name:
        kind = "lora"
    elif ".modules_to_save." in name:
        kind = "modules_to_save"
    elif ".token_adapter." in name or "trainable_tokens_" in name:
        kind = "trainable_tokens"
    else:
        kind = "base"
    return kind, in_mm_module(name)


def applies(unfrozen: Sequence[str] | None, freeze_mm: bool | None, rl: str | None, merge_lora: bool | None) -> bool:
    """Whether the post-load freezing runs on the PEFT-wrapped model at all."""
    return bool(unfrozen or freeze_mm) and not (rl in RL_WRAPPED_LATER and not merge_lora)


def freeze(params: Iterable[Parameter], unfrozen: Sequence[str] | None, freeze_mm: bool | None) -> Freezing:
    """Axolotl's freezing over `params`, counted: what stays trained, by group, and what Axolotl refuses."""
    params = list(params)
    patterns = [parse_pattern(p) for p in unfrozen or ()]
    errors: list[tuple[int | None, str]] = [(i, p.error) for i, p in enumerate(patterns) if p.error]
    hits = [0] * len(patterns)
    trained: dict[tuple[str, bool], int] = {}
    peft: dict[tuple[str, bool], int] = {}
    grads: dict[tuple[str, bool], int] = {}
    for param in params:
        group = group_of(param.name)
        peft[group] = peft.get(group, 0) + (param.numel if param.trainable else 0)
        share = param.numel if param.trainable else 0
        if unfrozen:
            share, errs = _unfrozen_share(param, patterns, hits)
            errors += errs
        if freeze_mm and in_mm_module(param.name):
            share = 0
        if share:
            grads[group] = grads.get(group, 0) + param.numel
        trained[group] = trained.get(group, 0) + share
    if unfrozen and any(p.rows is None for p in params):
        zero_d = next(p.name for p in params if p.rows is None)
        errors.append((None, f"freeze_layers_except fails on the 0-d parameter {zero_d} (len() of a 0-d tensor)"))
    names = sorted(set(peft) | set(trained))
    groups = tuple(Group(*g, peft.get(g, 0), trained.get(g, 0), grads.get(g, 0)) for g in names)
    return Freezing(
        trainable=sum(trained.values()),
        with_gradients=sum(grads.values()),
        peft_trainable=sum(peft.values()),
        groups=groups,
        unmatched=tuple(i for i, p in enumerate(patterns) if not p.error and not hits[i]),
        errors=tuple(dict.fromkeys(errors)),
    )


def _unfrozen_share(param: Parameter, patterns: list[Pattern], hits: list[int]) -> tuple[int, list]:
    """Elements of `param` freeze_layers_except leaves trained, and the range errors it would raise."""
    matched = False
    ranges: list[tuple[int, int]] = []
    errors: list[tuple[int | None, str]] = []
    for i, pattern in enumerate(patterns):
        if pattern.regex is None or pattern.regex.match(param.name) is None:
            continue
        matched, hits[i] = True, hits[i] + 1
        if pattern.start is not None and param.rows is not None:
            end = param.rows if pattern.end is None else pattern.end
            if end > param.rows > 0 or pattern.start >= end:
                errors.append(
                    (
                        i,
                        f"invalid unfreeze range: start={pattern.start}, end={end} for {param.name}, "
                        f"which has {param.rows} rows",
                    )
                )
                continue
            ranges.append((pattern.start, end))
    if not matched:
        return 0, errors
    if not ranges or param.rows is None:
        return param.numel, errors
    return param.numel // max(param.rows, 1) * _merged_length(ranges), errors


def _merged_length(ranges: list[tuple[int, int]]) -> int:
    total, last = 0, -1
    for start, end in sorted(ranges):
        start = max(start, last)
        if end > start:
            total, last = total + end - start, end
    return total
