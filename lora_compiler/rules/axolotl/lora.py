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

MIXLORA = {"adapter": "mixlora", "plugins": ["axolotl.integrations.mixlora.MixLoraPlugin"], "lora_target_linear": None}
MIXLORA_TARGETS = {**MIXLORA, "lora_target_modules": ["q_proj", "v_proj"]}
FSDP2 = {"fsdp_version": 2, "fsdp_config": {"reshard_after_forward": True}}
REMOTE_KERNELS = "lora_mlp_kernel, lora_qkv_kernel, and lora_o_kernel are not compatible with trust_remote_code. Please disable trust_remote_code or explicitly set lora_*_kernel to false."

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
        refused={"lr_groups": [{"name": "emb", "modules": ["embed_tokens"], "lr": 1e-5}], "loraplus_lr_ratio": 16},
        accepted={"loraplus_lr_ratio": 16},
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
        refused={"peft_layers_to_transform": [0, 1], "unfrozen_parameters": ["lm_head.*"]},
        accepted={"peft_layers_to_transform": [0, 1]},
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
        refused={"flash_attn_fuse_mlp": True},
        accepted={"flash_attn_fuse_mlp": False},
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
        refused={"use_onebitllms": True},
        accepted={"use_onebitllms": False},
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
        refused={"lora_mlp_kernel": True, "load_in_8bit": True},
        accepted={"lora_mlp_kernel": False, "load_in_8bit": True},
    ),
    Validator(
        "axolotl-lora-kernels-remote-code",
        "LoRA kernels with trust_remote_code.",
        "utils/schemas/validation.py:LoRAValidationMixin.check_lora_kernels_trust_remote_code",
        _when(
            lambda v: condition.kernel(v) and v.get("trust_remote_code"),
            REMOTE_KERNELS,
            lambda v: condition.kernel(v) or "trust_remote_code",
        ),
        fix="Turn the LoRA kernels off, or use a model transformers defines itself.",
        until="0.21.0",
        refused={"lora_qkv_kernel": True, "trust_remote_code": True},
        accepted={"trust_remote_code": True},
    ),
    Validator(
        "axolotl-lora-kernels-remote-code",
        "LoRA kernels with trust_remote_code.",
        "utils/schemas/validation.py:LoRAValidationMixin.check_lora_kernels_trust_remote_code",
        _when(
            lambda v: condition.kernel(v) and v.get("trust_remote_code") and not condition.kernels_native(v),
            REMOTE_KERNELS,
            lambda v: condition.kernel(v) or "trust_remote_code",
        ),
        fix="Turn the LoRA kernels off, or use a model transformers defines itself.",
        since="0.21.0",
        refused={"lora_qkv_kernel": True, "trust_remote_code": True},
        accepted={"lora_qkv_kernel": False, "trust_remote_code": True},
    ),
    Validator(
        "axolotl-quantize-moe-experts",
        "quantize_moe_experts with lora_target_linear, no LoRA or no 4/8-bit.",
        "utils/schemas/config.py:AxolotlConfigWCapabilities.check_quantize_moe_experts",
        condition.quantize_moe,
        fix="Target the experts with lora_target_parameters instead of lora_target_linear, use adapter lora or qlora, and load in 4 or 8 bit; or drop quantize_moe_experts.",
        refused={"quantize_moe_experts": True},
        accepted={"quantize_moe_experts": False},
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
            ("gradient_checkpointing_kwargs", "use_reentrant"),
        ),
        fix="Set gradient_checkpointing_kwargs.use_reentrant: false.",
        refused={
            "unfrozen_parameters": ["lm_head.*"],
            "gradient_checkpointing": True,
            "gradient_checkpointing_kwargs": {"use_reentrant": True},
        },
        accepted={
            "unfrozen_parameters": ["lm_head.*"],
            "gradient_checkpointing": True,
            "gradient_checkpointing_kwargs": {"use_reentrant": False},
        },
    ),
    Validator(
        "axolotl-ple-cpu-offload",
        "ple_cpu_offload without qlora+4-bit or lora+8-bit, or with FSDP/DeepSpeed.",
        "utils/schemas/config.py:AxolotlInputConfig.check_ple_cpu_offload",
        lambda v: condition.ple(v, fsdp_list=True),
        fix="Use qlora with load_in_4bit or lora with load_in_8bit, without FSDP or DeepSpeed; or drop ple_cpu_offload.",
        until="0.20.0",
        refused={"ple_cpu_offload": True},
        accepted={"ple_cpu_offload": True, "load_in_8bit": True},
    ),
    Validator(
        "axolotl-ple-cpu-offload",
        "ple_cpu_offload without qlora+4-bit or lora+8-bit, or with FSDP/DeepSpeed.",
        "utils/schemas/config.py:AxolotlInputConfig.check_ple_cpu_offload",
        lambda v: condition.ple(v, fsdp_list=False),
        fix="Use qlora with load_in_4bit or lora with load_in_8bit, without FSDP or DeepSpeed; or drop ple_cpu_offload.",
        since="0.20.0",
        refused={"ple_cpu_offload": True, "load_in_8bit": True, **FSDP2},
        accepted={"ple_cpu_offload": True, "load_in_8bit": True},
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
        refused={"model_quantization_config": "Mxfp4Config", "load_in_8bit": True},
        accepted={"model_quantization_config": "Mxfp4Config"},
    ),
    Validator(
        "axolotl-qat-peft",
        "QAT with a peft block, 4/8-bit loading, or ternary weights without int8 activations.",
        "utils/schemas/config.py:AxolotlConfigWCapabilities.check_qat_config",
        condition.qat,
        fix="Drop qat, or the peft block and the 4/8-bit loading; ternary QAT takes activation_dtype: int8.",
        refused={"qat": {"weight_dtype": "int4"}, "load_in_8bit": True},
        accepted={"qat": {"weight_dtype": "int4"}},
    ),
    Validator(
        "axolotl-relora",
        "ReLoRA without jagged_restart_steps or a ReLoRA-capable adapter, or with FSDP, DeepSpeed, one_cycle or a fused MLP.",
        "utils/schemas/validation.py:ComplexValidationMixin.check_relora",
        lambda v: condition.relora(v, fsdp_list=True),
        fix="Set jagged_restart_steps and adapter lora or qlora; drop FSDP, DeepSpeed, the one_cycle scheduler and flash_attn_fuse_mlp.",
        until="0.20.0",
        refused={"relora": True},
        accepted={"relora": True, "jagged_restart_steps": 100},
    ),
    Validator(
        "axolotl-relora",
        "ReLoRA without jagged_restart_steps or a ReLoRA-capable adapter, or with FSDP, DeepSpeed, one_cycle or a fused MLP.",
        "utils/schemas/validation.py:ComplexValidationMixin.check_relora",
        lambda v: condition.relora(v, fsdp_list=False),
        fix="Set jagged_restart_steps and adapter lora or qlora; drop FSDP, DeepSpeed, the one_cycle scheduler and flash_attn_fuse_mlp.",
        since="0.20.0",
        refused={"relora": True, "jagged_restart_steps": 100, "fsdp_config": {}},
        accepted={"relora": True, "jagged_restart_steps": 100},
    ),
    Validator(
        "axolotl-target-parameters-init",
        "lora_target_parameters with a value-dependent init or LoftQ.",
        "utils/schemas/peft.py:LoraConfig.validate_lora_target_parameters_init",
        release.target_parameters_init,
        fix="Use the default initialisation with lora_target_parameters, or target modules instead.",
        since="0.20.0",
        refused={"lora_target_parameters": ["mlp.experts.gate_up_proj"], "peft_init_lora_weights": "pissa"},
        accepted={"lora_target_parameters": ["mlp.experts.gate_up_proj"], "peft_init_lora_weights": "gaussian"},
    ),
    Validator(
        "axolotl-mixlora",
        "The mixlora adapter with a setting it refuses.",
        "utils/schemas/peft.py:LoraConfig.validate_mixlora, utils/schemas/validation.py:LoRAValidationMixin.check_fused_lora, loaders/adapter.py:_validate_mixlora_lora_target_modules",
        release.mixlora,
        fix="Change the setting the message names, as Axolotl's MixLoRA plugin requires.",
        since="0.20.0",
        refused={**MIXLORA_TARGETS, "flash_attn_fuse_mlp": True},
        accepted=MIXLORA_TARGETS,
    ),
    Validator(
        "axolotl-mixlora-top-k",
        "mixlora_top_k above mixlora_num_experts.",
        "utils/schemas/peft.py:MixLoraConfig.validate_mixlora_top_k",
        release.mixlora_top_k,
        fix="Route each token to at most mixlora_num_experts experts (default 8).",
        since="0.20.0",
        refused={"mixlora_top_k": 9},
        accepted={"mixlora_top_k": 8},
    ),
    Validator(
        "axolotl-target-modules-regex",
        "A lora_target_modules entry that is not a valid regex.",
        "utils/schemas/config.py:AxolotlInputConfig.check_lora_target_modules_regex",
        condition.target_regex,
        fix="Fix the regex (escape literal dots and brackets), or list plain module names.",
        refused={"lora_target_linear": None, "lora_target_modules": ["q_proj", "v_proj("]},
        accepted={"lora_target_linear": None, "lora_target_modules": ["q_proj", r"v_proj\("]},
    ),
    Validator(
        "axolotl-early-stopping",
        "early_stopping_patience without save_steps and eval_steps that divide it.",
        "utils/schemas/validation.py:ComplexValidationMixin.check_early_stopping",
        condition.early_stopping,
        fix="Set save_steps and eval_steps, with eval_steps dividing save_steps.",
        refused={"early_stopping_patience": 3, "save_steps": 10, "eval_steps": 4},
        accepted={"early_stopping_patience": 3, "save_steps": 10, "eval_steps": 5},
    ),
    Validator(
        "axolotl-deprecated-unsloth",
        "unsloth_lora_* / unsloth_* keys Axolotl removed.",
        "utils/schemas/validation.py:DatasetValidationMixin.check_deprecated_unsloth_fields",
        condition.unsloth,
        fix="Use lora_mlp_kernel, lora_qkv_kernel and lora_o_kernel instead.",
        refused={"unsloth_lora_mlp": True},
        accepted={"unsloth_lora_mlp": False},
    ),
)

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
