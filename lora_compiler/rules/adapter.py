"""Adapter key combinations that Axolotl or PEFT reject, checked from the YAML alone."""

from __future__ import annotations

from collections.abc import Iterable

from ..results.findings import Finding, Severity
from ..rulebook.registry import Docs, Stage, rule
from .context import Context

E = Severity.ERROR


QLORA_QUANTIZATION = rule(
    "qlora-quantization",
    E,
    Stage.CONFIG,
    "qlora needs load_in_4bit and no 8-bit or GPTQ base.",
    Docs(
        what="""Axolotl's validate_qlora: adapter qlora requires load_in_4bit: true, and refuses
      load_in_8bit or gptq (when merging, it refuses all three instead).""",
        why="Axolotl refuses the config at start-up, after the job was scheduled.",
        fix="For qlora set load_in_4bit: true and drop load_in_8bit and gptq; when merging, turn all three off. Use adapter: lora on a GPTQ base.",
        source="axolotl/utils/schemas/validation.py validate_qlora",
    ),
)


@QLORA_QUANTIZATION.checks
def qlora_quantization(ctx: Context) -> Iterable[Finding]:
    s = ctx.spec
    if s.adapter != "qlora":
        return
    if s.merge_lora:
        for key in ("load_in_8bit", "gptq", "load_in_4bit"):
            if getattr(s, key):
                yield QLORA_QUANTIZATION.at(
                    ctx.doc,
                    f"can't merge qlora if {key} is set",
                    key,
                    hint=f"set {key}: false when merging (merge into the full-precision base)",
                )
        return
    if s.load_in_8bit:
        yield QLORA_QUANTIZATION.at(
            ctx.doc,
            "can't load qlora in 8bit",
            "load_in_8bit",
            hint="remove load_in_8bit; qlora uses load_in_4bit",
        )
    if s.gptq:
        yield QLORA_QUANTIZATION.at(
            ctx.doc, "can't load qlora with gptq", "gptq", hint="use adapter: lora on a GPTQ base"
        )
    if not s.load_in_4bit:
        yield QLORA_QUANTIZATION.at(
            ctx.doc,
            "qlora requires load_in_4bit: true",
            "adapter",
            hint="add load_in_4bit: true, or use adapter: lora",
        )


QUANTIZED_WITHOUT_ADAPTER = rule(
    "quantized-without-adapter",
    E,
    Stage.CONFIG,
    "load_in_4bit/load_in_8bit without an adapter.",
    Docs(
        what="""Axolotl refuses 4- or 8-bit loading for full fine-tuning: quantized weights cannot be
      trained directly.""",
        why="Axolotl refuses the config at start-up: quantized weights cannot be trained without an adapter.",
        fix="Add adapter: lora or qlora, or turn load_in_4bit/load_in_8bit off for full fine-tuning.",
        source="axolotl/utils/schemas/validation.py (4/8-bit loading without an adapter)",
    ),
)


@QUANTIZED_WITHOUT_ADAPTER.checks
def quantized_without_adapter(ctx: Context) -> Iterable[Finding]:
    if not ctx.spec.adapter:
        for key in ("load_in_4bit", "load_in_8bit"):
            if getattr(ctx.spec, key):
                yield QUANTIZED_WITHOUT_ADAPTER.at(
                    ctx.doc,
                    f"{key} is not supported without an adapter",
                    key,
                    hint="add adapter: lora/qlora, or turn quantization off",
                )


LAYERS_PATTERN_WITHOUT_INDICES = rule(
    "layers-pattern-without-indices",
    E,
    Stage.CONFIG,
    "peft_layers_pattern without peft_layers_to_transform.",
    Docs(
        what="""PEFT's LoraConfig refuses layers_pattern unless layers_to_transform is given.""",
        why="PEFT raises while building the LoraConfig, at the start of training.",
        fix="Add peft_layers_to_transform with the layer indices, or drop peft_layers_pattern.",
        source="peft/tuners/lora/config.py LoraConfig.__post_init__",
    ),
)


@LAYERS_PATTERN_WITHOUT_INDICES.checks
def layers_pattern(ctx: Context) -> Iterable[Finding]:
    if ctx.spec.peft_layers_pattern and ctx.spec.peft_layers_to_transform is None:
        yield LAYERS_PATTERN_WITHOUT_INDICES.at(
            ctx.doc,
            "peft_layers_pattern is only used with peft_layers_to_transform",
            "peft_layers_pattern",
            hint="add peft_layers_to_transform",
        )


TARGET_PARAMETERS_DROPOUT = rule(
    "target-parameters-dropout",
    E,
    Stage.CONFIG,
    "lora_target_parameters with lora_dropout other than 0.",
    Docs(
        what="""Axolotl refuses it: PEFT's ParamWrapper, which wraps nn.Parameter targets, cannot apply dropout.""",
        why="Axolotl refuses the config at start-up; PEFT could not apply the dropout anyway.",
        fix="Set lora_dropout: 0, or target modules instead of parameters.",
        source="axolotl/utils/schemas/peft.py LoraConfig; peft/tuners/lora/layer.py ParamWrapper",
    ),
)


@TARGET_PARAMETERS_DROPOUT.checks
def target_parameters_dropout(ctx: Context) -> Iterable[Finding]:
    if ctx.spec.lora_target_parameters and ctx.spec.lora_dropout:
        yield TARGET_PARAMETERS_DROPOUT.at(
            ctx.doc,
            "lora_dropout must be 0 when lora_target_parameters is set",
            "lora_dropout",
            hint="set lora_dropout: 0",
        )


LOFTQ_QUANTIZED = rule(
    "loftq-quantized",
    E,
    Stage.CONFIG,
    "LoftQ on an already quantized base.",
    Docs(
        what="""LoftQ quantizes the full-precision weights itself and initialises LoRA to compensate; on a
      base loaded in 4/8 bit or from GPTQ there are no full-precision weights to start from.""",
        why="LoftQ would start from already quantized weights and its initialisation would not compensate the real quantization error.",
        fix="Load the base in full precision (drop load_in_4bit, load_in_8bit, gptq) and let LoftQ quantize it, or drop peft.loftq_config.",
        source="peft/utils/loftq_utils.py loftq_init",
    ),
)


@LOFTQ_QUANTIZED.checks
def loftq_quantized(ctx: Context) -> Iterable[Finding]:
    if ctx.spec.loftq_bits:
        for key in ("load_in_4bit", "load_in_8bit", "gptq"):
            if getattr(ctx.spec, key):
                yield LOFTQ_QUANTIZED.at(
                    ctx.doc,
                    f"LoftQ needs a full-precision base, but {key} is set",
                    key,
                    hint=f"remove {key} (LoftQ quantizes the base itself), or drop peft.loftq_config",
                )


LORA_RANK_MISSING = rule(
    "lora-rank-missing",
    E,
    Stage.CONFIG,
    "lora_r or lora_alpha is not set.",
    Docs(
        what="""Axolotl passes lora_r and lora_alpha to LoraConfig as they are, None included, and PEFT then
      fails while wrapping the first layer (None / r). Set both.""",
        why="Training fails inside PEFT on the first layer, after the model was loaded.",
        fix="Set both lora_r and lora_alpha (for example 16 and 32).",
        source="axolotl/loaders/adapter.py _build_peft_lora_config",
    ),
)


@LORA_RANK_MISSING.checks
def rank_missing(ctx: Context) -> Iterable[Finding]:
    if ctx.spec.adapter in ("lora", "qlora"):
        for key in ("lora_r", "lora_alpha"):
            if getattr(ctx.spec, key) is None:
                yield LORA_RANK_MISSING.at(
                    ctx.doc,
                    f"{key} is not set: Axolotl passes None to PEFT, which fails while wrapping the first layer",
                    "adapter",
                    hint=f"add {key} (e.g. 16)",
                )


NO_TARGETS = rule(
    "no-targets",
    E,
    Stage.CONFIG,
    "Nothing to adapt.",
    Docs(
        what="""Neither lora_target_modules, lora_target_linear nor lora_target_parameters is set, so PEFT
      finds no target modules.""",
        why="get_peft_model fails at the start of training: a LoRA adapter with no target trains nothing.",
        fix="Set lora_target_linear: true, or list module names in lora_target_modules (or parameters in lora_target_parameters).",
        source="axolotl/loaders/adapter.py load_lora; peft/tuners/tuners_utils.py BaseTuner.inject_adapter",
    ),
)


@NO_TARGETS.checks
def no_targets(ctx: Context) -> Iterable[Finding]:
    s = ctx.spec
    if s.adapter in ("lora", "qlora") and not (
        s.lora_target_modules or s.lora_target_linear or s.lora_target_parameters
    ):
        yield NO_TARGETS.at(
            ctx.doc,
            "nothing to adapt: neither lora_target_modules, lora_target_linear nor lora_target_parameters is set",
            "adapter",
            hint="add 'lora_target_linear: true' or list module names in lora_target_modules",
        )


TRUST_REMOTE_CODE = rule(
    "trust-remote-code",
    Severity.WARNING,
    Stage.MODEL,
    "trust_remote_code: true, and what it changes for this model.",
    Docs(
        what="""The YAML alone never makes lora-compiler run a model repository's code. When the model's
      config.json has no auto_map the flag changes nothing (info). When it has one and names a model
      type transformers knows, Axolotl (with trust_remote_code) loads the repository's class while this
      tool, without --trust-remote-code, builds transformers' own: a warning naming both, since their
      module names, and so the targets, can differ. A type only the repository defines stops compile
      with remote-code-required.""",
        why="The report may describe transformers' class while Axolotl trains the repository's, whose module names and targets can differ.",
        fix="Review the repository's code and pass --trust-remote-code, or drop trust_remote_code when it changes nothing.",
        source="transformers AutoModel trust_remote_code (auto_map); axolotl/loaders/model.py",
    ),
    other_levels=(Severity.INFO,),
)


@TRUST_REMOTE_CODE.checks
def trust_remote_code(ctx: Context) -> Iterable[Finding]:
    if not ctx.spec.trust_remote_code:
        return
    auto_map = getattr(ctx.skeleton.config, "auto_map", None) or {}
    if not auto_map:
        yield TRUST_REMOTE_CODE.at_level(Severity.INFO).at(
            ctx.doc,
            "trust_remote_code: true changes nothing here: the model's "
            "config.json has no auto_map, so transformers' own class is loaded either way",
            "trust_remote_code",
            hint="drop the key, or keep it knowingly",
        )
    elif not ctx.allow_remote_code:
        theirs = next((v for k, v in sorted(auto_map.items()) if k.startswith("AutoModel")), None) or "its own class"
        yield TRUST_REMOTE_CODE.at(
            ctx.doc,
            f"Axolotl would load the repository's {theirs} (auto_map); without "
            f"--trust-remote-code this report is for transformers' {ctx.skeleton.architecture}, and "
            "their module names (so the targets) can differ",
            "trust_remote_code",
            hint="review the model repository's code, then pass --trust-remote-code",
        )
