"""Axolotl's start-up validators that refuse a LoRA/QLoRA config: checked from the YAML alone.

Each entry mirrors one pydantic validator (`axolotl/utils/schemas/`), named in its doc, with the
condition written in YAML keys (the longer ones in startup_conditions.py and startup_releases.py);
which entries a release runs is its profile's `validators` (profiles/), and a rule id whose
condition changed between releases has one entry per form. They run in `lint --no-model`: none needs
a model or hardware. Validators that depend on the GPU (bf16 support, compute capability, WORLD_SIZE) are
listed as out of scope in docs/rules.md; those defined on `AxolotlConfigWCapabilities` run under
Axolotl's CLI on any GPU machine, so they are mirrored as if one GPU were present.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..results.findings import Finding, Severity
from ..rulebook.registry import Docs, Stage, rule
from . import startup_conditions as condition
from . import startup_releases as release
from .context import Context

Values = Mapping[str, Any]


@dataclass(frozen=True)
class Validator:
    id: str  # the rule id (stable across releases, so the upgrade view can match findings)
    summary: str
    source: str  # Axolotl file and validator
    check: Callable[[Values], tuple[str, Any] | None]  # (message, YAML key or key path) when Axolotl refuses
    entry: str = ""  # the name profiles list, when a rule has one form per release (default: the id)

    @property
    def name(self) -> str:
        return self.entry or self.id


def _when(cond: Callable[[Values], Any], message: str, key: str | Callable[[Values], str]) -> Callable:
    def check(v: Values) -> tuple[str, str] | None:
        return (message, key(v) if callable(key) else key) if cond(v) else None

    return check


VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-lr-groups-loraplus",
        "lr_groups and loraplus_lr_ratio together.",
        "schemas/validation.py LoRAValidationMixin.check_lr_groups",
        _when(
            lambda v: v.get("lr_groups") and v.get("loraplus_lr_ratio"),
            "lr_groups and loraplus_lr_ratio cannot be used together.",
            "loraplus_lr_ratio",
        ),
    ),
    Validator(
        "axolotl-unfrozen-with-layers",
        "unfrozen_parameters with peft_layers_to_transform.",
        "schemas/validation.py LoRAValidationMixin.check_frozen",
        _when(
            lambda v: v.get("adapter") and v.get("peft_layers_to_transform") and v.get("unfrozen_parameters"),
            "`unfrozen_parameters` used with `peft_layers_to_transform` can have unexpected behavior.",
            "unfrozen_parameters",
        ),
    ),
    Validator(
        "axolotl-fused-mlp-lora",
        "flash_attn_fuse_mlp with LoRA/QLoRA.",
        "schemas/validation.py LoRAValidationMixin.check_fused_lora",
        _when(
            lambda v: v.get("adapter") in condition.LORA and v.get("flash_attn_fuse_mlp"),
            "Fused modules are not supported with LoRA/QLoRA",
            "flash_attn_fuse_mlp",
        ),
    ),
    Validator(
        "axolotl-onebitllms-lora",
        "use_onebitllms with LoRA/QLoRA.",
        "schemas/validation.py LoRAValidationMixin.check_onebitllms_lora",
        _when(
            lambda v: v.get("adapter") in condition.LORA and v.get("use_onebitllms"),
            "LoRA/QLoRA is not supported with use_onebitllms",
            "use_onebitllms",
        ),
    ),
    Validator(
        "axolotl-lora-kernels-8bit",
        "LoRA kernels with 8-bit LoRA.",
        "schemas/validation.py LoRAValidationMixin.check_lora_kernels_8bit",
        _when(
            lambda v: condition.kernel(v) and v.get("adapter") == "lora" and v.get("load_in_8bit"),
            "lora_mlp_kernel, lora_qkv_kernel, and lora_o_kernel are not compatible with 8-bit LoRA a the moment.",
            lambda v: condition.kernel(v) or "load_in_8bit",
        ),
    ),
    Validator(
        "axolotl-lora-kernels-remote-code",
        "LoRA kernels with trust_remote_code.",
        "schemas/validation.py LoRAValidationMixin.check_lora_kernels_trust_remote_code",
        _when(
            lambda v: condition.kernel(v) and v.get("trust_remote_code"),
            "lora_mlp_kernel, lora_qkv_kernel, and lora_o_kernel are not compatible with trust_remote_code.",
            lambda v: condition.kernel(v) or "trust_remote_code",
        ),
    ),
    Validator(
        "axolotl-quantize-moe-experts",
        "quantize_moe_experts with lora_target_linear, no LoRA or no 4/8-bit.",
        "schemas/config.py AxolotlConfigWCapabilities.check_quantize_moe_experts",
        condition.quantize_moe,
    ),
    Validator(
        "axolotl-reentrant-unfrozen",
        "unfrozen_parameters with reentrant gradient checkpointing.",
        "schemas/validation.py TrainingValidationMixin.check_use_reentrant_mismatch",
        _when(
            lambda v: (
                v.get("unfrozen_parameters")
                and isinstance(v.get("gradient_checkpointing_kwargs"), dict)
                and v["gradient_checkpointing_kwargs"].get("use_reentrant") is True
            ),
            "`use_reentrant` must be false when used with partially frozen model.",
            "unfrozen_parameters",
        ),
    ),
    Validator(
        "axolotl-ple-cpu-offload",
        "ple_cpu_offload without qlora+4-bit or lora+8-bit, or with FSDP/DeepSpeed.",
        "schemas/config.py AxolotlInputConfig.check_ple_cpu_offload",
        condition.ple,
    ),
    Validator(
        "axolotl-quantization-config-bnb",
        "model_quantization_config with load_in_8bit/load_in_4bit.",
        "schemas/validation.py SystemValidationMixin.check_model_quantization_config_vs_bnb",
        _when(
            lambda v: v.get("model_quantization_config") and (v.get("load_in_8bit") or v.get("load_in_4bit")),
            "model_quantization_config and load_in_8bit or load_in_4bit cannot be used together.",
            "model_quantization_config",
        ),
    ),
    Validator(
        "axolotl-qat-peft",
        "QAT with a peft block or 4/8-bit loading.",
        "schemas/config.py AxolotlConfigWCapabilities.check_qat_config",
        condition.qat,
    ),
    Validator(
        "axolotl-relora",
        "ReLoRA without jagged_restart_steps or LoRA, or with FSDP, DeepSpeed, one_cycle or a fused MLP.",
        "schemas/validation.py ComplexValidationMixin.check_relora",
        condition.relora,
    ),
    Validator(
        "axolotl-fsdp-deepspeed",
        "deepspeed with FSDP (0.19: the fsdp list; 0.20+: fsdp_config).",
        "schemas/validation.py SystemValidationMixin.check_fsdp_deepspeed",
        _when(lambda v: v.get("deepspeed") and v.get("fsdp"), "deepspeed and fsdp cannot be used together.", "fsdp"),
        entry="axolotl-fsdp-deepspeed-list",
    ),
    Validator(
        "axolotl-fsdp-deepspeed",
        "deepspeed with FSDP (0.19: the fsdp list; 0.20+: fsdp_config).",
        "schemas/validation.py SystemValidationMixin.check_fsdp_deepspeed",
        _when(
            lambda v: v.get("deepspeed") and v.get("fsdp_config"),
            "deepspeed and fsdp cannot be used together.",
            "fsdp_config",
        ),
    ),
    Validator(
        "axolotl-fsdp1-removed",
        "FSDP1 settings: the fsdp list, fsdp_version other than 2, sharding_strategy.",
        "schemas/validation.py SystemValidationMixin.check_fsdp_version",
        release.fsdp1_removed,
    ),
    Validator(
        "axolotl-target-parameters-init",
        "lora_target_parameters with a value-dependent init or LoftQ.",
        "schemas/peft.py LoraConfig.validate_lora_target_parameters_init",
        release.target_parameters_init,
    ),
    Validator(
        "axolotl-staged-nf4",
        "4-bit loading with FSDP2's cpu_ram_efficient_loading, or CPU-staged NF4 with a setting it does not support.",
        "schemas/validation.py check_fsdp2_cpu_ram_efficient_loading_w_4bit",
        release.ram_efficient_4bit_fsdp2,
        entry="axolotl-staged-nf4-0.19",
    ),
    Validator(
        "axolotl-staged-nf4",
        "4-bit loading with FSDP2's cpu_ram_efficient_loading, or CPU-staged NF4 with a setting it does not support.",
        "schemas/validation.py check_fsdp2_cpu_ram_efficient_loading_w_4bit, check_bnb_blocksize, check_staged_nf4",
        release.staged_nf4,
    ),
    Validator(
        "axolotl-ebft-torch-compile",
        "EBFT strided mode with torch_compile and gradient checkpointing.",
        "schemas/validation.py check_ebft_torch_compile",
        release.ebft_torch_compile,
    ),
    Validator(
        "axolotl-expert-parallel",
        "expert_parallel_size > 1 without FSDP2 and full state dicts.",
        "integrations/expert_parallel/args.py validate_expert_parallel_topology (plugin listed)",
        release.expert_parallel_plugin,
        entry="axolotl-expert-parallel-plugin",
    ),
    Validator(
        "axolotl-expert-parallel",
        "expert_parallel_size > 1 without FSDP2 and full state dicts.",
        "integrations/expert_parallel/args.py validate_expert_parallel_topology (a built-in plugin)",
        release.expert_parallel_builtin,
    ),
    Validator(
        "axolotl-mixlora",
        "The mixlora adapter with a setting it refuses.",
        "schemas/peft.py validate_mixlora, validation.py check_fused_lora, loaders/adapter.py "
        "_validate_mixlora_lora_target_modules",
        release.mixlora,
    ),
    Validator(
        "axolotl-target-modules-regex",
        "A lora_target_modules entry that is not a valid regex.",
        "schemas/config.py AxolotlInputConfig.check_lora_target_modules_regex",
        condition.target_regex,
    ),
    Validator(
        "axolotl-early-stopping",
        "early_stopping_patience without save_steps and eval_steps that divide it.",
        "schemas/validation.py check_early_stopping",
        condition.early_stopping,
    ),
    Validator(
        "axolotl-deprecated-unsloth",
        "unsloth_lora_* / unsloth_* keys Axolotl removed.",
        "schemas/validation.py check_deprecated_unsloth_fields",
        condition.unsloth,
    ),
)

# How to make each start-up refusal go away, by rule id (the docs' "fix" section).
FIXES = {
    "axolotl-lr-groups-loraplus": "Use either lr_groups or loraplus_lr_ratio, not both.",
    "axolotl-unfrozen-with-layers": "Drop unfrozen_parameters, or choose layers with peft_layers_to_transform alone.",
    "axolotl-fused-mlp-lora": "Set flash_attn_fuse_mlp: false for LoRA/QLoRA.",
    "axolotl-onebitllms-lora": "Drop use_onebitllms, or train without an adapter.",
    "axolotl-lora-kernels-8bit": "Turn the LoRA kernels off, or load in 4 bit with adapter: qlora.",
    "axolotl-lora-kernels-remote-code": "Turn the LoRA kernels off, or use a model transformers defines itself.",
    "axolotl-quantize-moe-experts": "Target the experts with lora_target_parameters instead of lora_target_linear, "
    "use adapter lora or qlora, and load in 4 or 8 bit; or drop quantize_moe_experts.",
    "axolotl-reentrant-unfrozen": "Set gradient_checkpointing_kwargs.use_reentrant: false.",
    "axolotl-ple-cpu-offload": "Use qlora with load_in_4bit or lora with load_in_8bit, without FSDP or DeepSpeed; "
    "or drop ple_cpu_offload.",
    "axolotl-quantization-config-bnb": "Quantize with model_quantization_config or with load_in_4bit/load_in_8bit, "
    "not both.",
    "axolotl-qat-peft": "Drop qat, or the peft block and the 4/8-bit loading.",
    "axolotl-relora": "Set jagged_restart_steps and adapter lora or qlora; drop FSDP, DeepSpeed, the one_cycle "
    "scheduler and flash_attn_fuse_mlp.",
    "axolotl-fsdp-deepspeed": "Choose one of deepspeed and FSDP.",
    "axolotl-fsdp1-removed": "Move to FSDP2: fsdp_config with fsdp_version: 2 and its reshard_after_forward.",
    "axolotl-target-parameters-init": "Use the default initialisation with lora_target_parameters, or target "
    "modules instead.",
    "axolotl-staged-nf4": "Turn cpu_ram_efficient_loading off for 4-bit FSDP2 runs, or drop the setting the "
    "message names.",
    "axolotl-ebft-torch-compile": "Turn torch_compile or gradient checkpointing off for EBFT's strided mode.",
    "axolotl-expert-parallel": "Use FSDP2 with full state dicts when expert_parallel_size is above 1.",
    "axolotl-mixlora": "Change the setting the message names, as Axolotl's MixLoRA plugin requires.",
    "axolotl-target-modules-regex": "Fix the regex (escape literal dots and brackets), or list plain module names.",
    "axolotl-early-stopping": "Set save_steps and eval_steps, with eval_steps dividing save_steps.",
    "axolotl-deprecated-unsloth": "Use lora_mlp_kernel, lora_qkv_kernel and lora_o_kernel instead.",
}


def _where(source: str) -> str:
    """The validator's file in the axolotl package (schemas live under utils/, plugins under integrations/)."""
    return f"axolotl/{source}" if source.startswith("integrations/") else f"axolotl/utils/{source}"


def _register(forms: list[Validator]) -> None:
    from ..profiles import PROFILES

    releases = [p.version for p in PROFILES.values() if any(v.name in p.validators for v in forms)]
    doc = (
        f"Axolotl {', '.join(releases)} refuses the config at start-up (`{_where(forms[-1].source)}`), "
        "before any model is loaded; lint says so from the YAML alone."
    )

    declared = rule(
        forms[0].id,
        Severity.ERROR,
        Stage.CONFIG,
        forms[0].summary,
        Docs(
            what=doc,
            why="The run stops at start-up, after the job was scheduled, before any training step.",
            fix=FIXES[forms[0].id],
            source="; ".join(dict.fromkeys(_where(v.source) for v in forms)),
        ),
    )

    @declared.checks
    def check(ctx: Context) -> Iterable[Finding]:
        for validator in forms:
            found = validator.check(ctx.doc.values) if validator.name in ctx.profile.validators else None
            if found:
                message, key = found
                yield declared.at(
                    ctx.doc,
                    f"Axolotl refuses this config at start-up: {message}",
                    key,
                    hint=f"see {_where(validator.source.split()[0])}",
                )
                return


for _id in dict.fromkeys(v.id for v in VALIDATORS):
    _register([v for v in VALIDATORS if v.id == _id])


AXOLOTL_FILLS_DEFAULT = rule(
    "axolotl-fills-default",
    Severity.INFO,
    Stage.CONFIG,
    "Axolotl fills in a default that changes what is trained.",
    Docs(
        what="""Axolotl's pydantic models fill defaults silently: a peft.loftq_config block without
      loftq_bits (a typo such as loftq_bit included) still turns LoftQ on, at loftq_bits 4
      (schemas/peft.py LoftQConfig).""",
        why="A default the YAML does not show changes the initialisation of the adapter.",
        fix="Write the key explicitly (loftq_bits), or drop the block to keep the default initialisation.",
        source="axolotl/utils/schemas/peft.py LoftQConfig",
    ),
)


@AXOLOTL_FILLS_DEFAULT.checks
def fills_default(ctx: Context) -> Iterable[Finding]:
    peft = ctx.doc.values.get("peft")
    loftq = peft.get("loftq_config") if isinstance(peft, dict) else None
    if isinstance(loftq, dict) and "loftq_bits" not in loftq:
        yield AXOLOTL_FILLS_DEFAULT.at(
            ctx.doc,
            "peft.loftq_config has no loftq_bits: Axolotl fills in 4 and LoftQ initialises the adapter at 4 bits",
            ("peft", "loftq_config"),
            hint="write loftq_bits explicitly (or drop the block to keep the default initialisation)",
        )
