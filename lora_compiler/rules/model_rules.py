"""Checks against the model skeleton: names that match nothing fail (or silently do nothing) hours later."""

from __future__ import annotations

from collections.abc import Iterable

from ..model_facts import (
    any_selected,
    conv1d_names,
    is_linear_like,
    output_layer_name,
    pattern_key_matches,
    peft_selects,
    valid_regex,
)
from ..results.findings import Finding, Severity
from ..rulebook.registry import Docs, Stage, rule
from .context import Context

E, W = Severity.ERROR, Severity.WARNING


TARGET_NOT_FOUND = rule(
    "target-not-found",
    E,
    Stage.MODEL,
    "A target name or regex matches no module of the model.",
    Docs(
        what="""PEFT matches list entries against the end of module names and a string as a full-match
      regex. When nothing matches, get_peft_model fails ("Target modules ... not found") after the
      model has been downloaded and loaded; when only some names match, the others are silently
      unused (a warning here).""",
        why="Training stops at get_peft_model once the model is downloaded and loaded (no target left), or "
        "trains fewer modules than the YAML lists.",
        fix="Use module names this model has; the message and the report list the candidates.",
        source="peft/tuners/tuners_utils.py check_target_module_exists, BaseTuner.inject_adapter",
    ),
    other_levels=(Severity.WARNING,),
)


@TARGET_NOT_FOUND.checks
def target_not_found(ctx: Context) -> Iterable[Finding]:
    targets = ctx.plan.target_modules
    names = ctx.module_names
    if isinstance(targets, str):
        if targets.lower() == "all-linear":  # PEFT's shorthand, not a regex
            return
        if not valid_regex(targets):
            yield TARGET_NOT_FOUND.at(
                ctx.doc,
                f"lora_target_modules is not a valid regex: {targets!r}",
                "lora_target_modules",
                prefer_value=True,
            )
        elif not any_selected(names, targets):
            yield TARGET_NOT_FOUND.at(
                ctx.doc,
                f"the regex {targets!r} full-matches no module of {ctx.skeleton.architecture}",
                "lora_target_modules",
                prefer_value=True,
                hint=f"module names look like '{_example(ctx)}'",
            )
        return
    missing = [t for t in ctx.plan.unmatched if t not in ctx.plan.converted]
    if not missing:
        return
    every = len(missing) == len(targets) and not ctx.plan.target_parameters
    for name in missing:
        regex_as_name = name == ctx.spec.lora_target_modules and ctx.spec.lora_target_linear
        yield TARGET_NOT_FOUND.at_level(E if every else W).at(
            ctx.doc,
            f"target '{name}' matches no module of {ctx.skeleton.architecture}"
            + ("; PEFT will refuse the config" if every else "; it will be silently unused"),
            _target_key(ctx, name),
            hint="with lora_target_linear, Axolotl adds a lora_target_modules string as one more *name*, "
            "not a regex: list the names instead"
            if regex_as_name
            else f"suffixes in this model: {', '.join(_suffixes(ctx)[:12])}",
        )


def _target_key(ctx: Context, name: str) -> tuple[object, ...]:
    listed = ctx.spec.lora_target_modules
    if isinstance(listed, list) and name in listed:
        return ("lora_target_modules", listed.index(name))
    if listed == name:
        return ("lora_target_modules",)
    return ("lora_target_linear",) if ctx.spec.lora_target_linear else ("lora_target_modules",)


def _suffixes(ctx: Context) -> list[str]:
    model = ctx.skeleton.model
    return sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if n and is_linear_like(m)})


def _example(ctx: Context) -> str:
    return next((n for n, m in ctx.skeleton.model.named_modules() if n and is_linear_like(m)), "")


TARGET_LINEAR_EMPTY = rule(
    "target-linear-empty",
    E,
    Stage.MODEL,
    "lora_target_linear finds no Linear layers.",
    Docs(
        what="""Axolotl's lora_target_linear collects torch.nn.Linear modules and classes named *Linear*.
      GPT-2 style models use transformers' Conv1D, so it finds nothing: name the modules in
      lora_target_modules and set lora_fan_in_fan_out: true.""",
        why="PEFT finds no target and training fails (an error), or, when other targets remain, only those are "
        "trained (a warning).",
        fix="Name the modules in lora_target_modules (GPT-2 style: c_attn, c_proj, c_fc) and set lora_fan_in_fan_out: true.",
        source="axolotl/loaders/adapter.py find_all_linear_names",
    ),
    other_levels=(Severity.WARNING,),
)


@TARGET_LINEAR_EMPTY.checks
def target_linear_empty(ctx: Context) -> Iterable[Finding]:
    plan = ctx.plan
    if not ctx.spec.lora_target_linear or plan.linear_names:
        return
    nothing_else = not plan.target_modules and not plan.target_parameters
    names = conv1d_names(ctx.skeleton.model)
    extra = (
        (
            f"; its projections are Conv1D layers ({', '.join(names)}): list them in lora_target_modules "
            "and set lora_fan_in_fan_out: true"
        )
        if names
        else ""
    )
    yield TARGET_LINEAR_EMPTY.at_level(E if nothing_else else W).at(
        ctx.doc,
        f"lora_target_linear finds no Linear layers in {ctx.skeleton.architecture}{extra}",
        "lora_target_linear",
        hint="name the modules in lora_target_modules instead",
    )


TARGET_LINEAR_OUTPUT_LAYER = rule(
    "target-linear-output-layer",
    W,
    Stage.MODEL,
    "lora_target_linear also targets the output layer.",
    Docs(
        what="""Axolotl removes the output embedding by name from a per-model-type table (embed_out for
      gpt_neox, lm_head otherwise). When the model's real output layer has another name (gpt_neox's
      is lm_head under transformers 5), Axolotl trains LoRA on the output layer too.""",
        why="LoRA on the output layer trains and saves a large vocabulary-sized adapter that was not meant.",
        fix="List the target modules explicitly instead of lora_target_linear, or exclude the output layer by name.",
        source="axolotl/loaders/adapter.py find_all_linear_names",
    ),
)


@TARGET_LINEAR_OUTPUT_LAYER.checks
def target_linear_output_layer(ctx: Context) -> Iterable[Finding]:
    if not ctx.plan.linear_names:
        return
    head = output_layer_name(ctx.skeleton.model)
    if head and head.rsplit(".", 1)[-1] in ctx.plan.linear_names:
        yield TARGET_LINEAR_OUTPUT_LAYER.at(
            ctx.doc,
            f"lora_target_linear also targets the output layer '{head}': Axolotl only "
            f"removes '{ctx.profile.embedding_layers(ctx.skeleton.model_type)[1]}' for model type '{ctx.skeleton.model_type}'",
            "lora_target_linear",
            hint="to leave it out, list lora_target_modules without "
            f"'{head.rsplit('.', 1)[-1]}' instead of lora_target_linear (Axolotl ignores lora_exclude_modules)",
        )


LAYERS_OUT_OF_RANGE = rule(
    "layers-out-of-range",
    E,
    Stage.MODEL,
    "peft_layers_to_transform names layers the model does not have.",
    Docs(
        what="""Indices must be between 0 and num_hidden_layers - 1; PEFT silently wraps nothing in a
      missing layer, or refuses the config when no layer is left.""",
        why="Layers that do not exist get no adapter, or PEFT refuses the config when none is left.",
        fix="Use indices from 0 to num_hidden_layers - 1.",
        source="peft/tuners/tuners_utils.py check_target_module_exists (layers_to_transform)",
    ),
)


@LAYERS_OUT_OF_RANGE.checks
def layers_out_of_range(ctx: Context) -> Iterable[Finding]:
    n = ctx.skeleton.num_hidden_layers
    for i, idx in enumerate(ctx.spec.peft_layers_to_transform or []):
        if n is not None and not 0 <= idx < n:
            yield LAYERS_OUT_OF_RANGE.at(
                ctx.doc,
                f"layer {idx} does not exist: {ctx.skeleton.architecture} has {n} layers (0-{n - 1})",
                ("peft_layers_to_transform", i),
                prefer_value=True,
            )


EXCLUDE_MODULES_IGNORED = rule(
    "exclude-modules-ignored",
    W,
    Stage.MODEL,
    "Axolotl ignores lora_exclude_modules.",
    Docs(
        what="""No field of Axolotl's schema (0.19.0 to 0.21.0) declares lora_exclude_modules, so validate_config drops it and
      load_lora builds a LoraConfig without exclude_modules: every module the key names stays a target
      (the compiled adapter_config.json mirrors that). Name what to train in lora_target_modules instead.""",
        why="Every module the key names stays a target: the run trains what the YAML meant to exclude.",
        fix="Name what to train in lora_target_modules instead, and drop lora_exclude_modules.",
        source="axolotl/loaders/adapter.py load_lora; axolotl/utils/schemas/peft.py LoraConfig",
    ),
)


@EXCLUDE_MODULES_IGNORED.checks
def exclude_modules_ignored(ctx: Context) -> Iterable[Finding]:
    ex = ctx.spec.lora_exclude_modules
    if not ex:
        return
    kept = [n for n in ctx.module_names if peft_selects(n, ctx.plan.target_modules) and peft_selects(n, ex)]
    many = len(kept) > 1
    what = (
        f"the {len(kept)} targeted module{'s' if many else ''} it names stay{'' if many else 's'} trained "
        f"(e.g. {kept[0]})"
        if kept
        else "it names no targeted module anyway"
    )
    yield EXCLUDE_MODULES_IGNORED.at(
        ctx.doc,
        f"Axolotl drops lora_exclude_modules (no schema field declares it): PEFT gets no exclude_modules and {what}",
        "lora_exclude_modules",
        hint="list the modules to train in lora_target_modules (names or one regex) instead",
    )


PATTERN_MATCHES_NOTHING = rule(
    "pattern-matches-nothing",
    W,
    Stage.REPORT,
    "A rank or alpha pattern key matches no wrapped module.",
    Docs(
        what="""PEFT applies lora_rank_pattern / lora_alpha_pattern keys as regexes anchored at a name
      boundary at the end of each wrapped module's name; a key that matches none changes nothing.""",
        why="The rank or alpha meant for those modules is not applied; they train at lora_r / lora_alpha.",
        fix="Write the key so it matches the end of a wrapped module's name (the report lists them), or drop it.",
        source="peft/tuners/lora/model.py LoraModel._create_and_replace (get_pattern_key)",
    ),
)


@PATTERN_MATCHES_NOTHING.checks
def pattern_matches_nothing(ctx: Context) -> Iterable[Finding]:
    wrapped = [m.name for m in ctx.report.modules]
    for key in ("lora_rank_pattern", "lora_alpha_pattern"):
        for pattern in getattr(ctx.spec, key) or {}:
            if not any(pattern_key_matches(pattern, n) for n in wrapped):
                yield PATTERN_MATCHES_NOTHING.at(
                    ctx.doc,
                    f"{key} key '{pattern}' matches no wrapped module",
                    (key, pattern),
                    hint="keys are matched against the end of wrapped module names",
                )


# init_lora_weights values PEFT computes from each wrapped module's .weight (SVD, QR): a fused-expert
# ParamWrapper has none. Measured with PEFT 0.20 on a tiny real Mixtral (tests/unit/pipeline/test_inject.py).
WEIGHT_INITS = ("pissa", "olora", "orthogonal")


INIT_NEEDS_MODULE_WEIGHTS = rule(
    "init-needs-module-weights",
    E,
    Stage.REPORT,
    "A data-dependent LoRA initialisation over fused MoE expert parameters.",
    Docs(
        what="""PiSSA, OLoRA and orthogonal initialisation read each wrapped module's weight; PEFT wraps fused
      expert parameters (transformers 5 MoE experts) with ParamWrapper, whose module has no .weight, so
      get_peft_model fails with "...Experts object has no attribute 'weight'" when training starts.
      CorDA needs PEFT's preprocess_corda, which Axolotl never runs, so it fails on every model.""",
        why="get_peft_model fails when training starts, after the model was loaded.",
        fix="Use the default initialisation (or gaussian) with fused expert targets, or target modules instead of parameters; drop CorDA.",
        source="peft/tuners/lora/layer.py LoraLayer.pissa_init, olora_init; peft/tuners/lora/corda.py preprocess_corda",
    ),
)


@INIT_NEEDS_MODULE_WEIGHTS.checks
def init_needs_module_weights(ctx: Context) -> Iterable[Finding]:
    init = ctx.spec.peft_init_lora_weights
    if not isinstance(init, str):
        return
    if init.startswith("corda"):
        yield INIT_NEEDS_MODULE_WEIGHTS.at(
            ctx.doc,
            "PEFT's CorDA initialisation needs preprocess_corda, which Axolotl does not run: get_peft_model fails",
            "peft_init_lora_weights",
            hint="use pissa, olora or the default initialisation",
        )
        return
    experts = [m.name for m in ctx.report.modules if m.kind == "parameter"]
    if init.startswith(WEIGHT_INITS) and experts:
        yield INIT_NEEDS_MODULE_WEIGHTS.at(
            ctx.doc,
            f"init_lora_weights {init!r} reads each wrapped module's "
            f"weight, but the {len(experts)} fused expert targets (e.g. {experts[0]}) have none: "
            "PEFT's get_peft_model fails",
            "peft_init_lora_weights",
            hint="leave the experts out of the targets, or use the default (or gaussian) initialisation",
        )
