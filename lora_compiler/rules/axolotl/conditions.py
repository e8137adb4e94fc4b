"""The conditions of Axolotl's start-up validators (0.19 on) that take more than one line, in YAML keys.

Each returns (Axolotl's message, the key it points at) or None; lora.py declares the validators that run
them, and conditions_0_20.py holds the conditions later releases added or changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...model_facts import valid_regex

Values = Mapping[str, Any]
KERNELS = ("lora_mlp_kernel", "lora_qkv_kernel", "lora_o_kernel")
LORA = ("lora", "qlora")


def number(x: Any) -> bool:
    """An int or a float as pydantic reads a number (a bool is neither here)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def at_release(
    check: Callable[[Values, str], tuple[str, Any] | None], release: str
) -> Callable[[Values], tuple[str, Any] | None]:
    """A form's check bound to the release it starts at (for checks whose condition or message names it)."""
    return lambda v: check(v, release)


def kernel(v: Values) -> str | None:
    return next((k for k in KERNELS if v.get(k)), None)


# Adapters a plugin of Axolotl's own registers (integrations/*/plugin.py get_adapter_capabilities): the module
# that must be listed under `plugins:`, the first release that ships it, and whether it supports ReLoRA.
PLUGIN_ADAPTERS = {"mora": ("mora", "0.19.0", True), "mixlora": ("mixlora", "0.20.0", False)}
NEMOTRON_DIFFUSION = ("nemotron_labs_diffusion", "nemotron_labs_diffusion_vlm")


def plugin_modules(v: Values) -> list[str]:
    """The `plugins:` entries as the module each loads (load_plugin also tries them under axolotl.integrations)."""
    plugins = v.get("plugins")
    if not isinstance(plugins, list):
        return []
    return [str(p).rsplit(".", 1)[0].removeprefix("axolotl.integrations.") for p in plugins]


def listed(v: Values, module: str) -> bool:
    """Whether `plugins:` loads axolotl.integrations.<module> (its package or a submodule of it)."""
    return any(m == module or m.startswith(module + ".") for m in plugin_modules(v))


def kernels_native(v: Values) -> bool:
    """0.21: a model support Axolotl ships that brings its own LoRA attention class (the Nemotron diffusion
    models, found by model_config_type or by the base model's name) may run the kernels with remote code."""
    base = v.get("base_model")
    return v.get("model_config_type") in NEMOTRON_DIFFUSION or (
        isinstance(base, str) and "nemotron-labs-diffusion" in base.lower()
    )


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


def ple(v: Values, fsdp_list: bool) -> tuple[str, str] | None:
    """check_ple_cpu_offload; 0.19 also counts the top-level fsdp list as FSDP."""
    if not v.get("ple_cpu_offload"):
        return None
    if v.get("fsdp_config") is not None or (fsdp_list and v.get("fsdp") is not None):
        return "ple_cpu_offload is not compatible with FSDP", "ple_cpu_offload"
    if v.get("deepspeed"):
        return "ple_cpu_offload is not compatible with DeepSpeed", "ple_cpu_offload"
    if not (
        (v.get("adapter") == "qlora" and v.get("load_in_4bit"))
        or (v.get("adapter") == "lora" and v.get("load_in_8bit"))
    ):
        return "ple_cpu_offload requires qlora with load_in_4bit or lora with load_in_8bit", "ple_cpu_offload"
    return None


def _relora_adapter(v: Values) -> bool:
    """lora, qlora, or a listed plugin's adapter registered with ReLoRA support. Any other adapter is let
    through: a third-party plugin may support it, and an adapter no listed plugin registers is refused first
    by validate_adapter (a before-validator), so check_relora never sees it."""
    adapter = v.get("adapter")
    if adapter in LORA:
        return True
    if adapter is None:
        return False
    known = PLUGIN_ADAPTERS.get(adapter) if isinstance(adapter, str) else None
    return not known or not listed(v, known[0]) or known[2]


def relora(v: Values, fsdp_list: bool) -> tuple[str, str] | None:
    """check_relora (an after-validator: an fsdp_config block, even empty, counts); 0.19 also counts a
    non-empty fsdp list."""
    if not v.get("relora"):
        return None
    if not v.get("jagged_restart_steps"):
        return "jagged_restart_steps must be set to use ReLoRA", "relora"
    if not _relora_adapter(v):
        return "cfg.adapter must support ReLoRA to use ReLoRA restart semantics", "relora"
    if v.get("fsdp_config") is not None or (fsdp_list and v.get("fsdp")):
        return "fsdp not supported with ReLoRA", "relora"
    if v.get("deepspeed"):
        return "deepspeed not supported with ReLoRA", "relora"
    if v.get("lr_scheduler") == "one_cycle":
        return "ReLoRA is not compatible with the one_cycle scheduler", "lr_scheduler"
    if v.get("flash_attn_fuse_mlp"):
        return "Fused modules are not supported with ReLoRA", "flash_attn_fuse_mlp"
    return None


def qat(v: Values) -> tuple[str, Any] | None:
    """check_qat_config (its torch < 2.6 refusal needs the installed torch, so lint leaves it)."""
    block = v.get("qat")
    if not block:
        return None
    if v.get("peft"):
        return "QAT and PEFT cannot be used together.", "qat"
    for bits in ("load_in_8bit", "load_in_4bit"):
        if v.get(bits):
            return f"QAT and {bits} cannot be used together.", bits
    if isinstance(block, dict) and block.get("weight_dtype") == "ternary":
        if block.get("activation_dtype") not in (None, "int8"):
            return "Ternary QAT only supports activation_dtype: int8.", ("qat", "activation_dtype")
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
        "`lora_mlp_kernel`, `lora_qkv_kernel`, `lora_o_kernel` instead. See: https://docs.axolotl.ai/docs/lora_optims.html",
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
        f"lora_target_modules contains invalid regex pattern(s): {[t for _, t in bad]}. Please provide valid "
        "Python regex patterns or plain module name strings.",
        ("lora_target_modules", bad[0][0]),
    )


def _ebft_strided_compile(v: Values) -> bool:
    ebft = v.get("ebft") or {}
    return (
        v.get("rl") == "ebft"
        and v.get("torch_compile") is True
        and isinstance(ebft, dict)
        and ebft.get("mode") == "strided"
    )


def ebft_torch_compile(v: Values) -> tuple[str, Any] | None:
    """check_ebft_torch_compile (0.19+): EBFT's strided mode with torch_compile and gradient checkpointing."""
    if _ebft_strided_compile(v) and v.get("gradient_checkpointing"):
        return (
            "EBFT strided mode: `torch_compile: true` with `gradient_checkpointing: true` causes CheckpointError "
            "(BlockMask metadata mismatch during recomputation). Remove `torch_compile` — the flex_attention "
            "kernel compiles itself internally.",
            "torch_compile",
        )
    return None


def ebft_recompiles(v: Values) -> tuple[str, Any] | None:
    """check_ebft_torch_compile's other branch: without gradient checkpointing it warns and trains."""
    if _ebft_strided_compile(v) and not v.get("gradient_checkpointing"):
        return (
            "EBFT strided mode: `torch_compile: true` causes dynamo recompiles from variable sequence lengths "
            "across steps. Consider removing it — flex_attention compiles itself internally.",
            "torch_compile",
        )
    return None
