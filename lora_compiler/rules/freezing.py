"""Axolotl's post-load freezing (unfrozen_parameters, freeze_mm_modules): what it leaves trained.

The counts come from `pipeline.freezing` run on every parameter of the PEFT-wrapped skeleton; these
rules say where the YAML makes Axolotl train nothing, less of the adapter, or base weights.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..results.findings import Finding, Severity
from ..rulebook.registry import Docs, Stage, rule
from .context import Context

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741
ADAPTER_GROUPS = ("lora", "modules_to_save", "trainable_tokens")
_HINT = (
    "patterns are matched with re.match from the start of PeftModel names such as "
    "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight; '.' is a literal dot "
    "(use '.+' for any text)"
)


def _cause(ctx: Context) -> str:
    return "unfrozen_parameters" if ctx.spec.unfrozen_parameters else "freeze_mm_modules"


def _groups(ctx: Context, kinds: tuple[str, ...]) -> list[Any]:
    return [g for g in ctx.freezing.groups if g.kind in kinds]


FREEZING_TRAINS_NOTHING = rule(
    "freezing-trains-nothing",
    E,
    Stage.REPORT,
    "Axolotl's post-load freezing leaves no parameter trainable.",
    Docs(
        what="""axolotl/train.py runs freeze_layers_except (utils/freeze.py) on the PEFT-wrapped model when
      unfrozen_parameters is set: every parameter is frozen, LoRA's included, and only names a pattern
      matches are unfrozen. Names begin base_model.model., patterns match from the start and '.' is a
      literal dot, so a pattern written for the bare model (^model.language_model.*) matches nothing and
      the run trains nothing (Axolotl only logs a warning). freeze_mm_modules can freeze the rest.""",
        why="The run trains nothing and saves an untrained adapter; Axolotl only logs a warning.",
        fix="Write unfrozen_parameters patterns for the PEFT-wrapped names (base_model.model. prefix, lora_ parts), or drop the key.",
        source="axolotl/utils/freeze.py freeze_layers_except; axolotl/train.py",
    ),
)


@FREEZING_TRAINS_NOTHING.checks
def trains_nothing(ctx: Context) -> Iterable[Finding]:
    f = ctx.freezing
    if f is not None and not f.errors and f.trainable == 0 and f.peft_trainable:
        yield FREEZING_TRAINS_NOTHING.at(
            ctx.doc,
            f"Axolotl's post-load freezing leaves 0 of the {f.peft_trainable:,} parameters "
            f"PEFT made trainable: {_cause(ctx)} freezes them all and the run trains nothing",
            _cause(ctx),
            hint=_HINT if ctx.spec.unfrozen_parameters else "drop freeze_mm_modules or target the language model",
        )


UNFROZEN_PATTERN_INVALID = rule(
    "unfrozen-pattern-invalid",
    E,
    Stage.REPORT,
    "Axolotl refuses an unfrozen_parameters pattern at start-up.",
    Docs(
        what="""LayerNamePattern raises on an empty range ([5:5], [9:3]), freeze_layers_except on a range past a
      parameter's rows, and on any 0-d parameter of the model once unfrozen_parameters is set.""",
        why="Axolotl raises at start-up, after the model was loaded.",
        fix="Give the pattern a non-empty range within the parameter's rows, or drop unfrozen_parameters on a model with 0-d parameters.",
        source="axolotl/utils/freeze.py LayerNamePattern, freeze_layers_except",
    ),
)


@UNFROZEN_PATTERN_INVALID.checks
def pattern_invalid(ctx: Context) -> Iterable[Finding]:
    for index, message in ctx.freezing.errors if ctx.freezing is not None else ():
        at = ("unfrozen_parameters", index) if index is not None else ("unfrozen_parameters",)
        yield UNFROZEN_PATTERN_INVALID.at(
            ctx.doc, f"Axolotl stops at start-up: {message}", at, hint="fix or drop the pattern"
        )


UNFROZEN_PATTERN_UNMATCHED = rule(
    "unfrozen-pattern-unmatched",
    W,
    Stage.REPORT,
    "An unfrozen_parameters pattern matches no parameter.",
    Docs(
        what="""Each pattern is matched against the PEFT-wrapped model's parameter names; one that matches
      none unfreezes nothing (often a pattern written for the bare model's names).""",
        why="A pattern that matches nothing unfreezes nothing, so what it was meant to train stays frozen.",
        fix="Write the pattern for the PEFT-wrapped model's parameter names (base_model.model. prefix), or drop it.",
        source="axolotl/utils/freeze.py freeze_layers_except",
    ),
)


@UNFROZEN_PATTERN_UNMATCHED.checks
def pattern_unmatched(ctx: Context) -> Iterable[Finding]:
    if ctx.freezing is None:
        return
    for index in ctx.freezing.unmatched:
        text = (ctx.spec.unfrozen_parameters or [])[index]
        yield UNFROZEN_PATTERN_UNMATCHED.at(
            ctx.doc,
            f"unfrozen_parameters '{text}' matches no parameter of the PEFT-wrapped model",
            ("unfrozen_parameters", index),
            hint=_HINT,
            prefer_value=True,
        )


FREEZING_DROPS_ADAPTER = rule(
    "freezing-drops-adapter",
    W,
    Stage.REPORT,
    "Axolotl's post-load freezing freezes part of the adapter.",
    Docs(
        what="""unfrozen_parameters freezes every adapter parameter no pattern matches, and freeze_mm_modules
      every one inside a vision/audio tower or projector: those LoRA layers are created and saved but
      never trained.""",
        why="Those LoRA layers are created and saved but never trained.",
        fix="Add a pattern for the adapter's lora_ parameters to unfrozen_parameters, or stop targeting the frozen modules.",
        source="axolotl/utils/freeze.py freeze_layers_except, _MM_MODULE_PREFIXES",
    ),
)


@FREEZING_DROPS_ADAPTER.checks
def drops_adapter(ctx: Context) -> Iterable[Finding]:
    f = ctx.freezing
    if f is None or f.errors or f.trainable == 0:
        return
    adapter = _groups(ctx, ADAPTER_GROUPS)
    lost = [g for g in adapter if g.trained < g.peft_trainable]
    if lost:
        kept, total = sum(g.trained for g in adapter), sum(g.peft_trainable for g in adapter)
        detail = ", ".join(f"{g.name} {g.trained:,} of {g.peft_trainable:,}" for g in lost)
        yield FREEZING_DROPS_ADAPTER.at(
            ctx.doc,
            f"Axolotl's post-load freezing trains {kept:,} of the {total:,} adapter parameters ({detail})",
            _cause(ctx),
            hint="the frozen LoRA layers are saved untrained; target only what is trained",
        )


FREEZING_UNFREEZES_BASE = rule(
    "freezing-unfreezes-base",
    W,
    Stage.REPORT,
    "unfrozen_parameters trains base-model weights beside the adapter.",
    Docs(
        what="""A pattern that matches base weights (not lora_*, modules_to_save or trainable tokens) makes them
      trainable: full gradients and optimizer state for each matched tensor (a [start:end] range still
      allocates both for the whole tensor; Axolotl zeroes the other rows' gradients).""",
        why="Base weights train beside the adapter: full gradients and optimizer state, and a saved adapter that does not hold them.",
        fix="Narrow the patterns to lora_ parameters, or add the base modules to lora_modules_to_save so they are saved.",
        source="axolotl/utils/freeze.py freeze_layers_except",
    ),
)


@FREEZING_UNFREEZES_BASE.checks
def unfreezes_base(ctx: Context) -> Iterable[Finding]:
    f = ctx.freezing
    if f is None or f.errors:
        return
    base = [g for g in _groups(ctx, ("base",)) if g.with_gradients]
    if base:
        numel = sum(g.with_gradients for g in base)
        grad = 2 if ctx.spec.bf16 or ctx.spec.fp16 else 4
        gib = numel * (grad + 8) / 2**30
        trained = sum(g.trained for g in base)
        yield FREEZING_UNFREEZES_BASE.at(
            ctx.doc,
            f"unfrozen_parameters trains {trained:,} base-model parameters "
            f"({numel:,} with gradients): about {gib:.2f} GiB more for their gradients "
            f"({grad}-byte) and AdamW's two fp32 states",
            "unfrozen_parameters",
            hint="Axolotl's maintainers call unfreezing beside LoRA unsupported; drop the base "
            "patterns or list them in lora_modules_to_save",
        )


FREEZING_BEFORE_ADAPTER = rule(
    "freezing-before-adapter",
    I,
    Stage.CONFIG,
    "For DPO/IPO/KTO Axolotl freezes before TRL adds the adapter.",
    Docs(
        what="""With rl: dpo, ipo or kto (and no merge_lora) Axolotl's loader returns the bare model and TRL
      wraps it later: unfrozen_parameters and freeze_mm_modules act on the bare model's names, and the
      adapter TRL adds stays trainable.""",
        why="Freezing acts on the bare model's names, so it does not limit what the adapter TRL adds trains.",
        fix="Nothing to fix in most runs; write patterns for the bare model's names and expect the adapter to stay trainable.",
        source="axolotl/loaders/model.py _load_adapters (config only for rl: dpo, ipo, kto; TRL wraps later)",
    ),
)


@FREEZING_BEFORE_ADAPTER.checks
def before_adapter(ctx: Context) -> Iterable[Finding]:
    s = ctx.spec
    if (s.unfrozen_parameters or s.freeze_mm_modules) and s.rl in ("dpo", "ipo", "kto") and not s.merge_lora:
        yield FREEZING_BEFORE_ADAPTER.at(
            ctx.doc,
            f"rl: {s.rl}: Axolotl freezes the bare model before TRL adds the adapter, so the adapter's count is PEFT's",
            "unfrozen_parameters" if s.unfrozen_parameters else "freeze_mm_modules",
        )
