"""Adapter key combinations that Axolotl or PEFT reject, checked from the YAML alone."""

from __future__ import annotations

from collections.abc import Iterable

from ..results.findings import Finding, Severity
from .context import Context
from .registry import rule

E = Severity.ERROR


@rule(
    "qlora-quantization",
    E,
    "qlora needs load_in_4bit and no 8-bit or GPTQ base.",
    """Axolotl's validate_qlora: adapter qlora requires load_in_4bit: true, and refuses
      load_in_8bit or gptq (when merging, it refuses all three instead).""",
    stage="config",
)
def qlora_quantization(ctx: Context) -> Iterable[Finding]:
    s = ctx.spec
    if s.adapter != "qlora":
        return
    if s.merge_lora:
        for key in ("load_in_8bit", "gptq", "load_in_4bit"):
            if getattr(s, key):
                yield ctx.finding(
                    "qlora-quantization",
                    f"can't merge qlora if {key} is set",
                    key,
                    hint=f"set {key}: false when merging (merge into the full-precision base)",
                )
        return
    if s.load_in_8bit:
        yield ctx.finding(
            "qlora-quantization",
            "can't load qlora in 8bit",
            "load_in_8bit",
            hint="remove load_in_8bit; qlora uses load_in_4bit",
        )
    if s.gptq:
        yield ctx.finding(
            "qlora-quantization", "can't load qlora with gptq", "gptq", hint="use adapter: lora on a GPTQ base"
        )
    if not s.load_in_4bit:
        yield ctx.finding(
            "qlora-quantization",
            "qlora requires load_in_4bit: true",
            "adapter",
            hint="add load_in_4bit: true, or use adapter: lora",
        )


@rule(
    "quantized-without-adapter",
    E,
    "load_in_4bit/load_in_8bit without an adapter.",
    """Axolotl refuses 4- or 8-bit loading for full fine-tuning: quantized weights cannot be
      trained directly.""",
    stage="config",
)
def quantized_without_adapter(ctx: Context) -> Iterable[Finding]:
    if not ctx.spec.adapter:
        for key in ("load_in_4bit", "load_in_8bit"):
            if getattr(ctx.spec, key):
                yield ctx.finding(
                    "quantized-without-adapter",
                    f"{key} is not supported without an adapter",
                    key,
                    hint="add adapter: lora/qlora, or turn quantization off",
                )


@rule(
    "layers-pattern-without-indices",
    E,
    "peft_layers_pattern without peft_layers_to_transform.",
    """PEFT's LoraConfig refuses layers_pattern unless layers_to_transform is given.""",
    stage="config",
)
def layers_pattern(ctx: Context) -> Iterable[Finding]:
    if ctx.spec.peft_layers_pattern and ctx.spec.peft_layers_to_transform is None:
        yield ctx.finding(
            "layers-pattern-without-indices",
            "peft_layers_pattern is only used with peft_layers_to_transform",
            "peft_layers_pattern",
            hint="add peft_layers_to_transform",
        )


@rule(
    "target-parameters-dropout",
    E,
    "lora_target_parameters with lora_dropout other than 0.",
    """Axolotl refuses it: PEFT's ParamWrapper, which wraps nn.Parameter targets, cannot apply dropout.""",
    stage="config",
)
def target_parameters_dropout(ctx: Context) -> Iterable[Finding]:
    if ctx.spec.lora_target_parameters and ctx.spec.lora_dropout:
        yield ctx.finding(
            "target-parameters-dropout",
            "lora_dropout must be 0 when lora_target_parameters is set",
            "lora_dropout",
            hint="set lora_dropout: 0",
        )


@rule(
    "loftq-quantized",
    E,
    "LoftQ on an already quantized base.",
    """LoftQ quantizes the full-precision weights itself and initialises LoRA to compensate; on a
      base loaded in 4/8 bit or from GPTQ there are no full-precision weights to start from.""",
    stage="config",
)
def loftq_quantized(ctx: Context) -> Iterable[Finding]:
    if ctx.spec.loftq_bits:
        for key in ("load_in_4bit", "load_in_8bit", "gptq"):
            if getattr(ctx.spec, key):
                yield ctx.finding(
                    "loftq-quantized",
                    f"LoftQ needs a full-precision base, but {key} is set",
                    key,
                    hint=f"remove {key} (LoftQ quantizes the base itself), or drop peft.loftq_config",
                )


@rule(
    "lora-rank-missing",
    E,
    "lora_r or lora_alpha is not set.",
    """Axolotl passes lora_r and lora_alpha to LoraConfig as they are, None included, and PEFT then
      fails while wrapping the first layer (None / r). Set both.""",
    stage="config",
)
def rank_missing(ctx: Context) -> Iterable[Finding]:
    if ctx.spec.adapter in ("lora", "qlora"):
        for key in ("lora_r", "lora_alpha"):
            if getattr(ctx.spec, key) is None:
                yield ctx.finding(
                    "lora-rank-missing",
                    f"{key} is not set: Axolotl passes None to PEFT, which fails while wrapping the first layer",
                    "adapter",
                    hint=f"add {key} (e.g. 16)",
                )


@rule(
    "no-targets",
    E,
    "Nothing to adapt.",
    """Neither lora_target_modules, lora_target_linear nor lora_target_parameters is set, so PEFT
      finds no target modules.""",
    stage="config",
)
def no_targets(ctx: Context) -> Iterable[Finding]:
    s = ctx.spec
    if s.adapter in ("lora", "qlora") and not (
        s.lora_target_modules or s.lora_target_linear or s.lora_target_parameters
    ):
        yield ctx.finding(
            "no-targets",
            "nothing to adapt: neither lora_target_modules, lora_target_linear nor lora_target_parameters is set",
            "adapter",
            hint="add 'lora_target_linear: true' or list module names in lora_target_modules",
        )


@rule(
    "trust-remote-code",
    Severity.WARNING,
    "trust_remote_code: true, and what it changes for this model.",
    """The YAML alone never makes lora-compiler run a model repository's code. When the model's
      config.json has no auto_map the flag changes nothing (info). When it has one and names a model
      type transformers knows, Axolotl (with trust_remote_code) loads the repository's class while this
      tool, without --trust-remote-code, builds transformers' own: a warning naming both, since their
      module names, and so the targets, can differ. A type only the repository defines stops compile
      with remote-code-required.""",
    stage="model",
)
def trust_remote_code(ctx: Context) -> Iterable[Finding]:
    if not ctx.spec.trust_remote_code:
        return
    auto_map = getattr(ctx.skeleton.config, "auto_map", None) or {}
    if not auto_map:
        yield ctx.finding(
            "trust-remote-code",
            "trust_remote_code: true changes nothing here: the model's "
            "config.json has no auto_map, so transformers' own class is loaded either way",
            "trust_remote_code",
            severity=Severity.INFO,
            hint="drop the key, or keep it knowingly",
        )
    elif not ctx.allow_remote_code:
        theirs = next((v for k, v in sorted(auto_map.items()) if k.startswith("AutoModel")), None) or "its own class"
        yield ctx.finding(
            "trust-remote-code",
            f"Axolotl would load the repository's {theirs} (auto_map); without "
            f"--trust-remote-code this report is for transformers' {ctx.skeleton.architecture}, and "
            "their module names (so the targets) can differ",
            "trust_remote_code",
            hint="review the model repository's code, then pass --trust-remote-code",
        )
