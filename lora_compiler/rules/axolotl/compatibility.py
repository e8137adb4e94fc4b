"""Axolotl's start-up validators on gradient checkpointing and activation offloading (validation.py's
LoRAValidationMixin and ModelCompatibilityValidationMixin), checked from the YAML alone.

After-validators see the filled-in config: gradient_checkpointing "offload"/"offload_disk" has become true with
activation offloading on (check_gradient_checkpointing_w_offload runs first), and unset lora_*_kernel flags were
switched on by check_auto_enable_lora_kernels (a before-validator).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from ...results.findings import Severity
from .conditions import LORA
from .validator import Validator, register, when

Values = Mapping[str, Any]
Found = tuple[str, Any]
KERNEL_FLAGS = ("lora_mlp_kernel", "lora_qkv_kernel", "lora_o_kernel", "lora_embedding_kernel")
MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::matmul", "aten::bmm")
# validation.py _SAC_FUSED_MODULE_COVERAGE: modules whose forward a fused kernel replaces (0.20+)
SAC_FUSED_MODULES = (
    (
        "lora_mlp_kernel",
        ("gate_proj", "up_proj", "down_proj", "mlp", "mixer", "shared_experts", "shared_expert", "feedforward")
        + ("experts", "gate_projs", "up_projs", "down_projs"),
    ),
    (
        "lora_qkv_kernel",
        ("q_proj", "k_proj", "v_proj", "in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a", "self_attn")
        + ("linear_attn", "mixer"),
    ),
    ("lora_o_kernel", ("o_proj", "out_proj", "self_attn", "linear_attn", "mixer")),
    ("flash_attn_fuse_mlp", ("gate_proj", "up_proj", "down_proj", "mlp")),
)
# validation.py _SAC_LAYER_CONTAINERS: names that scope a whole decoder layer or model
SAC_CONTAINERS = (
    *("model", "language_model", "text_model", "decoder", "transformer", "backbone"),
    *("layers", "layer", "h", "blocks", "block"),
)
KERNELS_OFF = (
    "lora_mlp_kernel: false, lora_qkv_kernel: false and lora_o_kernel: false (they are auto-enabled for LoRA/QLoRA)"
)


def gc(v: Values) -> bool:
    return bool(v.get("gradient_checkpointing"))


def offloading(v: Values) -> tuple[Any, str]:
    """activation_offloading after check_gradient_checkpointing_w_offload, and the key that set it."""
    mode = v.get("gradient_checkpointing")
    if mode in ("offload", "offload_disk"):
        return (True if mode == "offload" else "disk"), "gradient_checkpointing"
    return v.get("activation_offloading"), "activation_offloading"


def reentrant(v: Values) -> Any:
    kwargs = v.get("gradient_checkpointing_kwargs")
    return kwargs.get("use_reentrant") if isinstance(kwargs, dict) else None


def kernel_on(v: Values, flag: str) -> bool:
    """_lora_kernel_enabled: an explicit flag counts with an adapter; an unset one as lora_kernels_auto_enable
    predicts (its model-support and 0.20's torch < 2.9 MoE exceptions need the model and the environment)."""
    if v.get(flag) is not None:
        return bool(v.get(flag)) and bool(v.get("adapter"))
    return (
        not v.get("rl")
        and not v.get("nvfp4_merge_aware")
        and v.get("adapter") in LORA
        and all(v.get(f) is None for f in KERNEL_FLAGS)
        and not (v.get("adapter") == "lora" and v.get("load_in_8bit"))
        and not v.get("trust_remote_code")
    )


def named(v: Values, part: str) -> bool:
    base = v.get("base_model")
    return isinstance(base, str) and part in base.lower()


def qlora_zero3_reentrant(v: Values) -> Found | None:
    """warn_qlora_zero3_w_use_reentrant (a before-validator: the raw deepspeed value, a path or a dict)."""
    deepspeed = v.get("deepspeed", "")
    if (
        v.get("adapter") == "qlora"
        and v.get("gradient_checkpointing_kwargs")
        and reentrant(v) is False
        and isinstance(deepspeed, (str, dict))
        and "zero3" in deepspeed
    ):
        return (
            "qlora + zero3 with use_reentrant: false may result in a CheckpointError about recomputed values",
            ("gradient_checkpointing_kwargs", "use_reentrant"),
        )
    return None


def offload_deprecated(v: Values) -> Found | None:
    mode = v.get("gradient_checkpointing")
    if mode == "offload":
        return (
            "`offload` is deprecated for gradient_checkpointing, use `activation_offloading: true` or "
            "`activation_offloading: legacy`",
            "gradient_checkpointing",
        )
    if mode == "offload_disk":
        return (
            "`offload_disk` is deprecated for gradient_checkpointing, use `activation_offloading: disk`",
            "gradient_checkpointing",
        )
    return None


def _sac(v: Values) -> dict[str, Any] | None:
    """selective_checkpointing as a block (true means the defaults), None when off or not a block."""
    sac = v.get("selective_checkpointing")
    return None if not sac else sac if isinstance(sac, dict) else {} if sac is True else None


def _matmul_saves(sac: dict[str, Any]) -> list[str]:
    save = sac.get("save", ["attention"])
    return (
        [s for s in save if isinstance(s, str) and s != "attention" and any(s in op for op in MATMUL_OPS)]
        if isinstance(save, list)
        else []
    )


def _sac_common(v: Values) -> Found | None:
    if not gc(v):
        return "selective_checkpointing requires gradient_checkpointing", "selective_checkpointing"
    if reentrant(v):
        return (
            "selective_checkpointing requires non-reentrant checkpointing "
            "(gradient_checkpointing_kwargs.use_reentrant: false)",
            ("gradient_checkpointing_kwargs", "use_reentrant"),
        )
    mode, key = offloading(v)
    if mode and mode != "hidden_states":
        return (
            "selective_checkpointing is only compatible with activation_offloading: hidden_states (or false); the "
            "TRL offloader paths bypass HF gradient checkpointing",
            key,
        )
    return None


def sac_0_19(v: Values) -> Found | None:
    """0.19's check_selective_checkpointing: with any adapter, no matmul op may be saved."""
    sac = _sac(v)
    if sac is None:
        return None
    common = _sac_common(v)
    if common or not v.get("adapter") or not _matmul_saves(sac):
        return common
    return (
        f"selective_checkpointing.save entries {_matmul_saves(sac)} match matmul ops, which cannot be saved when "
        "training with a LoRA/QLoRA adapter: PEFT mutates the base linear output in-place to add the adapter delta, "
        "which invalidates the cached tensor. Use save: [attention] or train without an adapter.",
        ("selective_checkpointing", "save"),
    )


def _covers(entry: str, module: str) -> bool:
    last = entry.rsplit(".", 1)[-1]
    return fnmatch.fnmatchcase(module, last) if any(c in last for c in "*?[") else last == module


def _container(entry: str) -> bool:
    last = entry.rsplit(".", 1)[-1]
    if any(c in last for c in "*?["):
        return any(fnmatch.fnmatchcase(name, last) for name in SAC_CONTAINERS + tuple(map(str, range(100))))
    return last.isdigit() or last in SAC_CONTAINERS


def _sac_modules(v: Values, sac: dict[str, Any]) -> Found | None:
    modules = sac.get("save_modules") or []
    entries = [(i, e.strip()) for i, e in enumerate(modules) if isinstance(e, str)] if isinstance(modules, list) else []
    for flag, covered in SAC_FUSED_MODULES:
        if not (kernel_on(v, flag) if flag.startswith("lora_") else v.get(flag)):
            continue
        for i, entry in entries:
            where = ("selective_checkpointing", "save_modules", i)
            if any(_covers(entry, module) for module in covered):
                return (
                    f"selective_checkpointing.save_modules entry {entry!r} names a module whose forward is replaced "
                    f"by {flag}: true, so its hooks never fire and the rule would be a silent no-op. Set {flag}: "
                    "false (LoRA kernels are auto-enabled for LoRA/QLoRA) or remove the entry.",
                    where,
                )
            if flag.startswith("lora_") and _container(entry):
                return (
                    f"selective_checkpointing.save_modules entry {entry!r} scopes a decoder layer or model "
                    f"container, which holds the projections {flag}: true runs; the kernel adds the adapter delta "
                    "into their saved base matmul output in-place (addmm_), which invalidates the cached tensor. "
                    f"Set {flag}: false (LoRA kernels are auto-enabled for LoRA/QLoRA) or name a projection the "
                    "kernel does not cover.",
                    where,
                )
    return None


def sac(v: Values) -> Found | None:
    """0.20+ check_selective_checkpointing: matmul saves only clash with the fused LoRA kernels, which also
    forbid save_matmul_min_k and save_modules entries inside what they replace."""
    block = _sac(v)
    if block is None:
        return None
    common = _sac_common(v)
    if common:
        return common
    if any(kernel_on(v, flag) for flag in KERNEL_FLAGS[:3]):
        if _matmul_saves(block):
            return (
                f"selective_checkpointing.save entries {_matmul_saves(block)} match matmul ops, which cannot be "
                "saved while a fused LoRA kernel is enabled: the kernel adds the adapter delta into the base "
                f"matmul output in-place (addmm_), which invalidates the cached tensor. Set {KERNELS_OFF}, or use "
                "save: [attention].",
                ("selective_checkpointing", "save"),
            )
        if block.get("save_matmul_min_k"):
            return (
                "selective_checkpointing.save_matmul_min_k saves the base matmul that a fused LoRA kernel then "
                f"mutates in-place (addmm_). Set {KERNELS_OFF}, or drop save_matmul_min_k.",
                ("selective_checkpointing", "save_matmul_min_k"),
            )
    return _sac_modules(v, block)


def sac_compile(v: Values, refusal: Any) -> Found | None:
    """check_selective_checkpointing's last branch: it warns about torch_compile when nothing refused."""
    if _sac(v) is not None and v.get("torch_compile") and not refusal(v):
        return (
            "selective_checkpointing with torch_compile is untested in axolotl; the SAC context_fn targets the eager "
            "checkpointing path",
            "torch_compile",
        )
    return None


def hidden_states(v: Values) -> Found | None:
    """check_hidden_states_offloading; use_reentrant: true with unfrozen_parameters is refused before, by
    check_use_reentrant_mismatch (axolotl-reentrant-unfrozen), so only other truthy values reach it."""
    used = reentrant(v)
    if v.get("activation_offloading") == "hidden_states" and used and used is not True and v.get("unfrozen_parameters"):
        return (
            "activation_offloading: hidden_states with reentrant checkpointing is incompatible with "
            "`unfrozen_parameters` (partially frozen model).",
            "activation_offloading",
        )
    return None


MIXIN = "utils/schemas/validation.py:ModelCompatibilityValidationMixin"
GC = {"gradient_checkpointing": True}
SAC_SOURCE = f"{MIXIN}.check_selective_checkpointing"
SAC_FIX = (
    "Turn gradient checkpointing on without reentrant checkpointing or TRL offloading, and save no matmul the LoRA "
    "kernels (or, before 0.20, PEFT) mutate: save: [attention], or the kernels off."
)

VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-qlora-zero3-reentrant",
        "QLoRA under DeepSpeed ZeRO-3 with use_reentrant: false.",
        "utils/schemas/validation.py:LoRAValidationMixin.warn_qlora_zero3_w_use_reentrant",
        qlora_zero3_reentrant,
        fix="Set gradient_checkpointing_kwargs.use_reentrant: true for QLoRA under ZeRO-3.",
        level=Severity.WARNING,
        refused={
            "adapter": "qlora",
            "load_in_4bit": True,
            "deepspeed": "deepspeed_configs/zero3_bf16.json",
            "gradient_checkpointing": True,
            "gradient_checkpointing_kwargs": {"use_reentrant": False},
        },
        accepted={
            "adapter": "qlora",
            "load_in_4bit": True,
            "deepspeed": "deepspeed_configs/zero3_bf16.json",
            "gradient_checkpointing": True,
            "gradient_checkpointing_kwargs": {"use_reentrant": True},
        },
    ),
    Validator(
        "axolotl-mpt-checkpointing",
        "Gradient checkpointing with a base_model whose name contains 'mpt'.",
        f"{MIXIN}.check_mpt_checkpointing",
        when(
            lambda v: named(v, "mpt") and gc(v),
            "gradient_checkpointing is not supported for MPT models",
            "gradient_checkpointing",
        ),
        fix="Turn gradient_checkpointing off (Axolotl tests the name: any base_model containing 'mpt' counts).",
        refused={"base_model": "mosaicml/mpt-7b", **GC},
        accepted={"base_model": "mosaicml/mpt-7b"},
    ),
    Validator(
        "axolotl-gradient-checkpointing-offload",
        "gradient_checkpointing: offload or offload_disk.",
        f"{MIXIN}.check_gradient_checkpointing_w_offload",
        offload_deprecated,
        fix="Set gradient_checkpointing: true with activation_offloading: true (or legacy, or disk).",
        level=Severity.WARNING,
        refused={"gradient_checkpointing": "offload"},
        accepted={"gradient_checkpointing": True, "activation_offloading": True},
    ),
    Validator(
        "axolotl-activation-offloading-gc",
        "activation_offloading without gradient checkpointing.",
        f"{MIXIN}.check_activation_offloading_wo_gc",
        when(
            lambda v: offloading(v)[0] and not gc(v),
            "activation_offloading requires gradient_checkpointing",
            "activation_offloading",
        ),
        fix="Turn gradient_checkpointing on, or activation_offloading off.",
        refused={"activation_offloading": True},
        accepted={"activation_offloading": True, **GC},
    ),
    Validator(
        "axolotl-selective-checkpointing",
        "selective_checkpointing without non-reentrant gradient checkpointing, or saving what LoRA mutates.",
        SAC_SOURCE,
        sac_0_19,
        fix=SAC_FIX,
        until="0.20.0",
        refused={"selective_checkpointing": {"save": ["aten::mm"]}, **GC},
        accepted={"selective_checkpointing": {"save": ["attention"]}, **GC},
    ),
    Validator(
        "axolotl-selective-checkpointing",
        "selective_checkpointing without non-reentrant gradient checkpointing, or saving what LoRA mutates.",
        SAC_SOURCE,
        sac,
        fix=SAC_FIX,
        since="0.20.0",
        refused={"selective_checkpointing": {"save_modules": ["down_proj"]}, **GC},
        accepted={"selective_checkpointing": {"save_modules": ["down_proj"]}, "lora_mlp_kernel": False, **GC},
    ),
    Validator(
        "axolotl-selective-checkpointing-compile",
        "selective_checkpointing with torch_compile.",
        SAC_SOURCE,
        lambda v: sac_compile(v, sac_0_19),
        fix="Drop torch_compile, or accept an untested combination.",
        level=Severity.WARNING,
        until="0.20.0",
        refused={"selective_checkpointing": True, "torch_compile": True, **GC},
        accepted={"selective_checkpointing": True, **GC},
    ),
    Validator(
        "axolotl-selective-checkpointing-compile",
        "selective_checkpointing with torch_compile.",
        SAC_SOURCE,
        lambda v: sac_compile(v, sac),
        fix="Drop torch_compile, or accept an untested combination.",
        level=Severity.WARNING,
        since="0.20.0",
        refused={"selective_checkpointing": True, "torch_compile": True, **GC},
        accepted={"selective_checkpointing": True, **GC},
    ),
    Validator(
        "axolotl-hidden-states-offloading",
        "activation_offloading: hidden_states with reentrant checkpointing and unfrozen_parameters.",
        f"{MIXIN}.check_hidden_states_offloading",
        hidden_states,
        fix="Set gradient_checkpointing_kwargs.use_reentrant: false.",
        refused={
            "activation_offloading": "hidden_states",
            "unfrozen_parameters": ["lm_head.*"],
            "gradient_checkpointing_kwargs": {"use_reentrant": 1},
            **GC,
        },
        accepted={"activation_offloading": "hidden_states", "unfrozen_parameters": ["lm_head.*"], **GC},
    ),
    Validator(
        "axolotl-hidden-states-offloading-adapter",
        "activation_offloading: hidden_states with a LoRA/QLoRA adapter.",
        f"{MIXIN}.check_hidden_states_offloading",
        when(
            lambda v: v.get("activation_offloading") == "hidden_states" and v.get("adapter") and not hidden_states(v),
            "activation_offloading: hidden_states uses gradient checkpointing; with LoRA/QLoRA, activation_offloading: "
            "true can be faster because it avoids recompute while offloading smaller adapter activations.",
            "activation_offloading",
        ),
        fix="Consider activation_offloading: true with an adapter.",
        level=Severity.WARNING,
        refused={"activation_offloading": "hidden_states", **GC},
        accepted={"activation_offloading": True, **GC},
    ),
    Validator(
        "axolotl-compile-regional-checkpointing",
        "torch_compile_regional with gradient checkpointing.",
        f"{MIXIN}.check_torch_compile_regional_with_gradient_checkpointing",
        when(
            lambda v: v.get("torch_compile") and v.get("torch_compile_regional") and gc(v),
            "torch_compile_regional cannot be combined with gradient_checkpointing: the checkpoint recompute can run "
            "a different Dynamo cache entry than the forward (pytorch/pytorch#166926). Use whole-model compile.",
            "torch_compile_regional",
        ),
        fix="Compile the whole model (drop torch_compile_regional), or turn gradient checkpointing off.",
        since="0.21.0",
        refused={"torch_compile": True, "torch_compile_regional": True, **GC},
        accepted={"torch_compile": True, **GC},
    ),
)

register(VALIDATORS)
