"""Axolotl's start-up validators that refuse a LoRA/QLoRA config, checked from the YAML alone.

Each entry mirrors one pydantic validator (`axolotl/utils/schemas/`), named by its `source`, with the
condition in YAML keys (the longer ones in conditions.py and conditions_0_20.py); a rule id whose
condition changed between releases has one entry per form, each with the releases that run it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...results.findings import Finding, Severity
from ...rulebook.registry import Docs, Stage, rule
from ..context import Context
from . import conditions as condition
from . import conditions_0_20 as release
from .validator import Validator, register
from .validator import when as _when

VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-lr-groups-loraplus",
        "lr_groups and loraplus_lr_ratio together.",
        "utils/schemas/validation.py:LoRAValidationMixin.check_lr_groups",
        _when(
            lambda v: v.get("lr_groups") and v.get("loraplus_lr_ratio"),
            "lr_groups and loraplus_lr_ratio cannot be used together.",
            "loraplus_lr_ratio",
        ),
        fix="Use either lr_groups or loraplus_lr_ratio, not both.",
    ),
    Validator(
        "axolotl-unfrozen-with-layers",
        "unfrozen_parameters with peft_layers_to_transform.",
        "utils/schemas/validation.py:LoRAValidationMixin.check_frozen",
        _when(
            lambda v: v.get("adapter") and v.get("peft_layers_to_transform") and v.get("unfrozen_parameters"),
            "`unfrozen_parameters` used with `peft_layers_to_transform` can have unexpected behavior.",
            "unfrozen_parameters",
        ),
        fix="Drop unfrozen_parameters, or choose layers with peft_layers_to_transform alone.",
    ),
    Validator(
        "axolotl-fused-mlp-lora",
        "flash_attn_fuse_mlp with LoRA/QLoRA.",
        "utils/schemas/validation.py:LoRAValidationMixin.check_fused_lora",
        _when(
            lambda v: v.get("adapter") in condition.LORA and v.get("flash_attn_fuse_mlp"),
            "Fused modules are not supported with LoRA/QLoRA",
            "flash_attn_fuse_mlp",
        ),
        fix="Set flash_attn_fuse_mlp: false for LoRA/QLoRA.",
    ),
    Validator(
        "axolotl-onebitllms-lora",
        "use_onebitllms with LoRA/QLoRA.",
        "utils/schemas/validation.py:LoRAValidationMixin.check_onebitllms_lora",
        _when(
            lambda v: v.get("adapter") in condition.LORA and v.get("use_onebitllms"),
            "LoRA/QLoRA is not supported with use_onebitllms",
            "use_onebitllms",
        ),
        fix="Drop use_onebitllms, or train without an adapter.",
    ),
    Validator(
        "axolotl-lora-kernels-8bit",
        "LoRA kernels with 8-bit LoRA.",
        "utils/schemas/validation.py:LoRAValidationMixin.check_lora_kernels_8bit",
        _when(
            lambda v: condition.kernel(v) and v.get("adapter") == "lora" and v.get("load_in_8bit"),
            "lora_mlp_kernel, lora_qkv_kernel, and lora_o_kernel are not compatible with 8-bit LoRA a the moment.",
            lambda v: condition.kernel(v) or "load_in_8bit",
        ),
        fix="Turn the LoRA kernels off, or load in 4 bit with adapter: qlora.",
    ),
    Validator(
        "axolotl-lora-kernels-remote-code",
        "LoRA kernels with trust_remote_code.",
        "utils/schemas/validation.py:LoRAValidationMixin.check_lora_kernels_trust_remote_code",
        _when(
            lambda v: condition.kernel(v) and v.get("trust_remote_code"),
            "lora_mlp_kernel, lora_qkv_kernel, and lora_o_kernel are not compatible with trust_remote_code.",
            lambda v: condition.kernel(v) or "trust_remote_code",
        ),
        fix="Turn the LoRA kernels off, or use a model transformers defines itself.",
    ),
    Validator(
        "axolotl-quantize-moe-experts",
        "quantize_moe_experts with lora_target_linear, no LoRA or no 4/8-bit.",
        "utils/schemas/config.py:AxolotlConfigWCapabilities.check_quantize_moe_experts",
        condition.quantize_moe,
        fix="Target the experts with lora_target_parameters instead of lora_target_linear, use adapter lora or qlora, and load in 4 or 8 bit; or drop quantize_moe_experts.",
    ),
    Validator(
        "axolotl-reentrant-unfrozen",
        "unfrozen_parameters with reentrant gradient checkpointing.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_use_reentrant_mismatch",
        _when(
            lambda v: (
                v.get("unfrozen_parameters")
                and isinstance(v.get("gradient_checkpointing_kwargs"), dict)
                and v["gradient_checkpointing_kwargs"].get("use_reentrant") is True
            ),
            "`use_reentrant` must be false when used with partially frozen model.",
            "unfrozen_parameters",
        ),
        fix="Set gradient_checkpointing_kwargs.use_reentrant: false.",
    ),
    Validator(
        "axolotl-ple-cpu-offload",
        "ple_cpu_offload without qlora+4-bit or lora+8-bit, or with FSDP/DeepSpeed.",
        "utils/schemas/config.py:AxolotlInputConfig.check_ple_cpu_offload",
        condition.ple,
        fix="Use qlora with load_in_4bit or lora with load_in_8bit, without FSDP or DeepSpeed; or drop ple_cpu_offload.",
    ),
    Validator(
        "axolotl-quantization-config-bnb",
        "model_quantization_config with load_in_8bit/load_in_4bit.",
        "utils/schemas/validation.py:SystemValidationMixin.check_model_quantization_config_vs_bnb",
        _when(
            lambda v: v.get("model_quantization_config") and (v.get("load_in_8bit") or v.get("load_in_4bit")),
            "model_quantization_config and load_in_8bit or load_in_4bit cannot be used together.",
            "model_quantization_config",
        ),
        fix="Quantize with model_quantization_config or with load_in_4bit/load_in_8bit, not both.",
    ),
    Validator(
        "axolotl-qat-peft",
        "QAT with a peft block or 4/8-bit loading.",
        "utils/schemas/config.py:AxolotlConfigWCapabilities.check_qat_config",
        condition.qat,
        fix="Drop qat, or the peft block and the 4/8-bit loading.",
    ),
    Validator(
        "axolotl-relora",
        "ReLoRA without jagged_restart_steps or LoRA, or with FSDP, DeepSpeed, one_cycle or a fused MLP.",
        "utils/schemas/validation.py:ComplexValidationMixin.check_relora",
        condition.relora,
        fix="Set jagged_restart_steps and adapter lora or qlora; drop FSDP, DeepSpeed, the one_cycle scheduler and flash_attn_fuse_mlp.",
    ),
    Validator(
        "axolotl-fsdp-deepspeed",
        "deepspeed with FSDP (0.19: the fsdp list; 0.20+: fsdp_config).",
        "utils/schemas/validation.py:SystemValidationMixin.check_fsdp_deepspeed",
        _when(lambda v: v.get("deepspeed") and v.get("fsdp"), "deepspeed and fsdp cannot be used together.", "fsdp"),
        fix="Choose one of deepspeed and FSDP.",
        until="0.20.0",
    ),
    Validator(
        "axolotl-fsdp-deepspeed",
        "deepspeed with FSDP (0.19: the fsdp list; 0.20+: fsdp_config).",
        "utils/schemas/validation.py:SystemValidationMixin.check_fsdp_deepspeed",
        _when(
            lambda v: v.get("deepspeed") and v.get("fsdp_config"),
            "deepspeed and fsdp cannot be used together.",
            "fsdp_config",
        ),
        fix="Choose one of deepspeed and FSDP.",
        since="0.20.0",
    ),
    Validator(
        "axolotl-fsdp1-removed",
        "FSDP1 settings: the fsdp list, fsdp_version other than 2, sharding_strategy.",
        "utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp_version, utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp_version_in_fsdp_config",
        release.fsdp1_removed,
        fix="Move to FSDP2: fsdp_config with fsdp_version: 2 and its reshard_after_forward.",
        since="0.20.0",
    ),
    Validator(
        "axolotl-target-parameters-init",
        "lora_target_parameters with a value-dependent init or LoftQ.",
        "utils/schemas/peft.py:LoraConfig.validate_lora_target_parameters_init",
        release.target_parameters_init,
        fix="Use the default initialisation with lora_target_parameters, or target modules instead.",
        since="0.20.0",
    ),
    Validator(
        "axolotl-staged-nf4",
        "4-bit loading with FSDP2's cpu_ram_efficient_loading, or CPU-staged NF4 with a setting it does not support.",
        "utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp2_cpu_ram_efficient_loading_w_4bit",
        release.ram_efficient_4bit_fsdp2,
        fix="Turn cpu_ram_efficient_loading off for 4-bit FSDP2 runs, or drop the setting the message names.",
        until="0.20.0",
    ),
    Validator(
        "axolotl-staged-nf4",
        "4-bit loading with FSDP2's cpu_ram_efficient_loading, or CPU-staged NF4 with a setting it does not support.",
        "utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp2_cpu_ram_efficient_loading_w_4bit, utils/schemas/validation.py:OptimizationValidationMixin.check_bnb_blocksize, utils/schemas/validation.py:OptimizationValidationMixin.check_staged_nf4",
        release.staged_nf4,
        fix="Turn cpu_ram_efficient_loading off for 4-bit FSDP2 runs, or drop the setting the message names.",
        since="0.20.0",
    ),
    Validator(
        "axolotl-ebft-torch-compile",
        "EBFT strided mode with torch_compile and gradient checkpointing.",
        "utils/schemas/validation.py:EBFTValidationMixin.check_ebft_torch_compile",
        release.ebft_torch_compile,
        fix="Turn torch_compile or gradient checkpointing off for EBFT's strided mode.",
    ),
    Validator(
        "axolotl-expert-parallel",
        "expert_parallel_size > 1 without FSDP2 and full state dicts.",
        "integrations/expert_parallel/args.py:validate_expert_parallel_topology",
        release.expert_parallel_plugin,
        fix="Use FSDP2 with full state dicts when expert_parallel_size is above 1.",
        since="0.20.0",
        until="0.21.0",
    ),
    Validator(
        "axolotl-expert-parallel",
        "expert_parallel_size > 1 without FSDP2 and full state dicts.",
        "integrations/expert_parallel/args.py:validate_expert_parallel_topology",
        release.expert_parallel_builtin,
        fix="Use FSDP2 with full state dicts when expert_parallel_size is above 1.",
        since="0.21.0",
    ),
    Validator(
        "axolotl-mixlora",
        "The mixlora adapter with a setting it refuses.",
        "utils/schemas/peft.py:LoraConfig.validate_mixlora, loaders/adapter.py:_validate_mixlora_lora_target_modules",
        release.mixlora,
        fix="Change the setting the message names, as Axolotl's MixLoRA plugin requires.",
        since="0.20.0",
    ),
    Validator(
        "axolotl-target-modules-regex",
        "A lora_target_modules entry that is not a valid regex.",
        "utils/schemas/config.py:AxolotlInputConfig.check_lora_target_modules_regex",
        condition.target_regex,
        fix="Fix the regex (escape literal dots and brackets), or list plain module names.",
    ),
    Validator(
        "axolotl-early-stopping",
        "early_stopping_patience without save_steps and eval_steps that divide it.",
        "utils/schemas/validation.py:ComplexValidationMixin.check_early_stopping",
        condition.early_stopping,
        fix="Set save_steps and eval_steps, with eval_steps dividing save_steps.",
    ),
    Validator(
        "axolotl-deprecated-unsloth",
        "unsloth_lora_* / unsloth_* keys Axolotl removed.",
        "utils/schemas/validation.py:DatasetValidationMixin.check_deprecated_unsloth_fields",
        condition.unsloth,
        fix="Use lora_mlp_kernel, lora_qkv_kernel and lora_o_kernel instead.",
    ),
)

# How to make each start-up refusal go away, by rule id (the docs' "fix" section).


register(VALIDATORS)


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
