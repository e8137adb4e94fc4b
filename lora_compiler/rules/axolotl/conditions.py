"""The conditions of Axolotl 0.19's start-up validators that take more than one line, in YAML keys.

Each returns (Axolotl's message, the key it points at) or None; rules/startup.py declares the rules
that run them, and startup_releases.py holds the conditions later releases added or changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...model_facts import valid_regex

Values = Mapping[str, Any]
KERNELS = ("lora_mlp_kernel", "lora_qkv_kernel", "lora_o_kernel")
LORA = ("lora", "qlora")


def kernel(v: Values) -> str | None:
    return next((k for k in KERNELS if v.get(k)), None)


def fsdp(v: Values) -> bool:
    return v.get("fsdp_config") is not None or v.get("fsdp") is not None


def quantize_moe(v: Values) -> tuple[str, str] | None:
    if not v.get("quantize_moe_experts"):
        return None
    if v.get("lora_target_linear"):
        return (
            "lora_target_linear is not compatible with quantize_moe_experts. Use lora_target_parameters to "
            "target expert weights instead.",
            "lora_target_linear",
        )
    if v.get("adapter") not in LORA:
        return "quantize_moe_experts requires adapter: lora or qlora", "quantize_moe_experts"
    if not (v.get("load_in_4bit") or v.get("load_in_8bit")):
        return "quantize_moe_experts requires load_in_4bit or load_in_8bit", "quantize_moe_experts"
    return None


def ple(v: Values) -> tuple[str, str] | None:
    if not v.get("ple_cpu_offload"):
        return None
    if fsdp(v):
        return "ple_cpu_offload is not compatible with FSDP", "ple_cpu_offload"
    if v.get("deepspeed"):
        return "ple_cpu_offload is not compatible with DeepSpeed", "ple_cpu_offload"
    if not (
        (v.get("adapter") == "qlora" and v.get("load_in_4bit"))
        or (v.get("adapter") == "lora" and v.get("load_in_8bit"))
    ):
        return "ple_cpu_offload requires qlora with load_in_4bit or lora with load_in_8bit", "ple_cpu_offload"
    return None


def relora(v: Values) -> tuple[str, str] | None:
    if not v.get("relora"):
        return None
    if not v.get("jagged_restart_steps"):
        return "jagged_restart_steps must be set to use ReLoRA", "relora"
    if v.get("adapter") not in LORA:
        return "cfg.adapter must be lora or qlora to use ReLoRA", "relora"
    if fsdp(v):
        return "fsdp not supported with ReLoRA", "relora"
    if v.get("deepspeed"):
        return "deepspeed not supported with ReLoRA", "relora"
    if v.get("lr_scheduler") == "one_cycle":
        return "ReLoRA is not compatible with the one_cycle scheduler", "lr_scheduler"
    if v.get("flash_attn_fuse_mlp"):
        return "Fused modules are not supported with ReLoRA", "flash_attn_fuse_mlp"
    return None


def qat(v: Values) -> tuple[str, str] | None:
    if not v.get("qat"):
        return None
    if v.get("peft"):
        return "QAT and PEFT cannot be used together.", "qat"
    for bits in ("load_in_8bit", "load_in_4bit"):
        if v.get(bits):
            return f"QAT and {bits} cannot be used together.", bits
    return None


UNSLOTH = (
    "unsloth_cross_entropy_loss",
    "unsloth_lora_mlp",
    "unsloth_lora_qkv",
    "unsloth_lora_o",
    "unsloth_rms_norm",
    "unsloth_rope",
)


def unsloth(v: Values) -> tuple[str, str] | None:
    found = [k for k in UNSLOTH if v.get(k)]
    if not found:
        return None
    return (
        f"`{'`, `'.join(found)}` {'has' if len(found) == 1 else 'have'} been removed. Please use "
        "`lora_mlp_kernel`, `lora_qkv_kernel`, `lora_o_kernel` instead.",
        found[0],
    )


def early_stopping(v: Values) -> tuple[str, Any] | None:
    if not v.get("early_stopping_patience"):
        return None
    save, every = v.get("save_steps"), v.get("eval_steps")
    if not save or not every:
        return (
            "`early_stopping_patience` requires save_steps and eval_steps to be set. eval_steps should evenly "
            "divide save_steps.",
            "early_stopping_patience",
        )
    if isinstance(save, (int, float)) and isinstance(every, (int, float)) and save % every != 0:
        return "`early_stopping_patience` requires that eval_steps should evenly divide save_steps.", "eval_steps"
    return None


def target_regex(v: Values) -> tuple[str, Any] | None:
    targets = v.get("lora_target_modules")
    if not isinstance(targets, list):
        return None
    bad = [(i, t) for i, t in enumerate(targets) if isinstance(t, str) and not valid_regex(t)]
    if not bad:
        return None
    return (
        f"lora_target_modules contains invalid regex pattern(s): {[t for _, t in bad]}",
        ("lora_target_modules", bad[0][0]),
    )
