"""The middle of the pipeline, written once: regex guard -> target plan -> model rules -> PEFT LoraConfig.

compile (and lint, diff, survey, which go through it) and the runtime `load_lora` both reach their
LoraConfig here, so the LoraConfig a training run gets is the one compile reported, refused for the
same reasons in the same words. What differs between them stays with the caller: which model the
context carries (a meta skeleton or the live model), which model-rule findings still hold, and what
the caller does with the LoraConfig afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..results import findings as fmod
from ..results.findings import Finding


@dataclass
class Middle:
    """The target plan (None: a pattern would hang PEFT), the LoraConfig (None: a finding stops it), and why."""

    plan: Any = None  # pipeline.targets.TargetPlan
    lora_config: Any = None  # peft.LoraConfig, base model identity set from the YAML
    findings: list[Finding] = field(default_factory=list)


def lora_config_for(
    ctx: Any,
    earlier: Sequence[Finding] = (),
    *,
    model_rules: bool = True,
    keep: Callable[[Finding], bool] | None = None,
) -> Middle:
    """Plan the targets on `ctx.skeleton.model`, run the model rules, and build the LoraConfig.

    `ctx` is a rules.context.Context with its skeleton set (ctx.plan is set here). `earlier`: the
    findings already made for this file; with an error among them (or among the model rules'),
    no LoraConfig is built, since PEFT would only restate the error less clearly. `model_rules`
    False skips the model rules (an adapter loaded from a directory brings its own targets);
    `keep` drops model-rule findings that do not hold for the caller.
    """
    from ..model_facts import REGEX_BUDGET_SECONDS, slow_pattern
    from ..pipeline.peftcfg import PeftConfigError, build_lora_config
    from ..pipeline.targets import plan_targets, regex_patterns
    from ..rulebook.pipeline import PEFT_CONFIG, REGEX_TOO_SLOW
    from ..rules import run_stage
    from ..rules.axolotl.validator import blocks_adapter

    doc, spec, skel = ctx.doc, ctx.spec, ctx.skeleton
    slow = slow_pattern(regex_patterns(spec), ctx.module_names)
    if slow:  # PEFT (and every matcher after it) would run this pattern over every module name
        return Middle(
            findings=[
                REGEX_TOO_SLOW.at(
                    doc,
                    f"{slow[0]}: the regex {slow[1][:80]!r} takes more than {REGEX_BUDGET_SECONDS:g} s "
                    f"to match {skel.architecture}'s module names (catastrophic backtracking); PEFT would hang on it",
                    (slow[0],),
                    prefer_value=True,
                    hint="simplify the pattern (no nested or overlapping repeats such "
                    "as (.|.)* or (a+)+), or list the module names",
                )
            ]
        )
    ctx.plan = plan = plan_targets(
        spec.lora_target_modules, spec.lora_target_linear, spec.lora_target_parameters, skel.model, ctx.profile
    )
    found = run_stage("model", ctx) if model_rules else []
    found = [f for f in found if keep(f)] if keep else found
    if fmod.has_errors(f for f in [*earlier, *found] if blocks_adapter(f)):
        return Middle(plan, None, found)
    try:
        lora_config = build_lora_config(spec, plan, skel.architecture)
    except PeftConfigError as exc:
        refused = PEFT_CONFIG.at(doc, str(exc), (exc.key or "adapter",), hint="change the named key so PEFT accepts it")
        return Middle(plan, None, [*found, refused])
    return Middle(plan, lora_config, found)
