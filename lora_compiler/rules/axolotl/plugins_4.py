"""The kernels plugin's validators as rules (their conditions: plugins_3.py), checked while it is listed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial

from ...results.findings import Severity
from . import plugins_3 as k
from .plugins import gated
from .validator import OLDEST, Found, Validator, Values, register

ARGS = "integrations/kernels/args.py:KernelsArgs."
_K = {"plugins": ["axolotl.integrations.kernels.KernelsPlugin"], "use_kernels": True}
_SONIC = {**_K, "use_sonicmoe": True}
_EXPERTS = {"lora_target_linear": None, "lora_target_parameters": ["mlp.experts.gate_up_proj"]}
_MOE_4BIT = {**_EXPERTS, "quantize_moe_experts": True, "load_in_4bit": True, "adapter": "qlora"}
_DSV4 = {**_K, **_EXPERTS, "use_scattermoe": True, "use_dsv4_kernels": True, "lora_mlp_kernel": True}
# The release ranges where a kernels validator changed (0.20: EP composites pick a kernel; 0.21: two more checks).
BY_0_20 = ((False, OLDEST, "0.20.0"), (True, "0.20.0", None))
BY_0_21 = ((False, "0.20.0", "0.21.0"), (True, "0.21.0", None))


def _k(check: Callable[..., Found | None]) -> Callable[[Values], Found | None]:
    return gated("kernels", check)


def _by_release(form: Validator, ranges: tuple[tuple[bool, str, str | None], ...], check: Callable[..., Found | None]):
    """`form` once per release range, its check given the range's flag (the newer behaviour or not)."""
    for new, since, until in ranges:
        yield replace(form, check=_k(partial(check, new=new)), since=since, until=until)


def _table() -> Iterator[Validator]:
    merge = Validator(
        "axolotl-kernels-nvfp4-merge-aware",
        "nvfp4_merge_aware (or its start step) with a setting merge-aware NVFP4 training cannot use.",
        ARGS + "check_nvfp4_merge_aware",
        _k(k.nvfp4_0_19),
        "Use nvfp4_merge_aware with use_sonicmoe, adapter lora and no fused LoRA kernels; start step an int >= 0 or "
        "a fraction in (0, 1).",
        until="0.20.0",
        refused={**_K, "nvfp4_merge_aware": True},
        accepted={**_SONIC, "nvfp4_merge_aware": True},
    )
    yield merge
    starts = replace(
        merge,
        refused={**_SONIC, "nvfp4_merge_aware_start_step": 1.5},
        accepted={**_SONIC, "nvfp4_merge_aware_start_step": 0.5},
    )
    yield from _by_release(starts, BY_0_21, k.start_refused)
    yield Validator(
        "axolotl-kernels-sonicmoe-backend",
        "SonicMoE with quantize_moe_experts, or nvfp4_merge_aware with ScatterMoE.",
        ARGS + "check_nvfp4_merge_aware",
        _k(k.backend_refused),
        "Use use_scattermoe for bitsandbytes experts, and use_sonicmoe for nvfp4_merge_aware.",
        since="0.21.0",
        refused={**_SONIC, **_MOE_4BIT},
        accepted={**_K, **_MOE_4BIT, "use_scattermoe": True},
    )
    off = Validator(
        "axolotl-kernels-nvfp4-off",
        "nvfp4_merge_aware switched off: explicitly (its start step then ignored) or for a non-LoRA adapter.",
        ARGS + "check_nvfp4_merge_aware",
        _k(partial(k.nvfp4_warned, new=True)),
        "Drop nvfp4_merge_aware_start_step when merge-aware training is off; use adapter lora to train merge-aware.",
        level=Severity.WARNING,
        refused={**_SONIC, "nvfp4_merge_aware": False, "nvfp4_merge_aware_start_step": 10},
        accepted={**_SONIC, "nvfp4_merge_aware": False},
    )
    yield from _by_release(off, BY_0_21, k.nvfp4_warned)
    yield Validator(
        "axolotl-kernels-dsv4-fp4-grouped-mode",
        "dsv4_fp4_grouped_mode other than nvfp4.",
        ARGS + "check_dsv4_fp4_grouped_mode",
        _k(k.grouped_mode),
        "Set dsv4_fp4_grouped_mode: nvfp4, or omit it.",
        refused={**_K, "dsv4_fp4_grouped_mode": "fp8"},
        accepted={**_K, "dsv4_fp4_grouped_mode": "nvfp4"},
    )
    yield Validator(
        "axolotl-kernels-dsv4-fp8-nonexpert-mode",
        "dsv4_fp8_nonexpert_mode other than float8tensor or bf16.",
        ARGS + "check_dsv4_fp8_nonexpert_mode",
        _k(k.fp8_nonexpert_mode),
        "Set dsv4_fp8_nonexpert_mode to float8tensor or bf16.",
        refused={**_K, "dsv4_fp8_nonexpert_mode": "fp8"},
        accepted={**_K, "dsv4_fp8_nonexpert_mode": "bf16"},
    )
    yield Validator(
        "axolotl-kernels-moe-dequant-chunk-size",
        "moe_dequant_chunk_size that is not a positive integer.",
        ARGS + "check_moe_dequant_chunk_size",
        _k(k.dequant_chunk),
        "Set moe_dequant_chunk_size to a positive integer, or omit it.",
        refused={**_K, "moe_dequant_chunk_size": 0},
        accepted={**_K, "moe_dequant_chunk_size": 4},
    )
    yield Validator(
        "axolotl-kernels-expert-backend",
        "An unknown expert_backend, or one that contradicts use_scattermoe/use_sonicmoe.",
        ARGS + "normalize_expert_backend, " + ARGS + "_canonicalize_expert_backend",
        _k(k.expert_backend),
        "Choose one of scattermoe, sonicmoe, eager and builtin, and drop the use_* flag it contradicts.",
        refused={**_K, "expert_backend": "scattermoe", "use_sonicmoe": True},
        accepted={**_K, "expert_backend": "sonicmoe", "use_sonicmoe": True},
    )
    grouped = Validator(
        "axolotl-kernels-moe-grouped-backend",
        "moe_grouped_backend dequant or unknown, or set without the grouped NVFP4 path.",
        ARGS + "check_moe_grouped_backend",
        _k(k.grouped_backend),
        "Use auto, marlin, deepgemm or cutlass with dsv4_fp4_grouped_mode: nvfp4, or omit moe_grouped_backend.",
        refused={**_K, "moe_grouped_backend": "dequant"},
        accepted={**_K, "moe_grouped_backend": "auto", "dsv4_fp4_grouped_mode": "nvfp4"},
    )
    yield grouped
    yield replace(
        grouped, check=_k(k.grouped_no_effect), level=Severity.WARNING, refused={**_K, "moe_grouped_backend": "auto"}
    )
    yield Validator(
        "axolotl-kernels-nonexpert-quantization",
        "An unknown nonexpert_quantization.",
        ARGS + "check_nonexpert_quantization",
        _k(k.nonexpert_quantization),
        "Use one of none, bf16, fp8, fp8_blockwise, nf4 and nvfp4.",
        refused={**_K, "nonexpert_quantization": "int4"},
        accepted={**_K, "nonexpert_quantization": "nf4"},
    )
    yield Validator(
        "axolotl-kernels-gemma4-nonexpert",
        "gemma4_fp8_nonexpert / gemma4_nf4_nonexpert, deprecated for nonexpert_quantization.",
        ARGS + "check_nonexpert_quantization",
        _k(k.gemma4_flags),
        "Use nonexpert_quantization: fp8_blockwise or nf4 instead.",
        level=Severity.WARNING,
        refused={**_K, "gemma4_nf4_nonexpert": True},
        accepted={**_K, "nonexpert_quantization": "nf4"},
    )
    both = Validator(
        "axolotl-kernels-scattermoe-sonicmoe",
        "ScatterMoE and SonicMoE both on.",
        ARGS + "check_mutually_exclusive",
        _k(partial(k.both_kernels, new=True)),
        "Set only one of use_scattermoe and use_sonicmoe.",
        refused={**_K, "use_scattermoe": True, "use_sonicmoe": True},
        accepted={**_K, "use_sonicmoe": True},
    )
    yield from _by_release(both, BY_0_20, k.both_kernels)
    yield Validator(
        "axolotl-kernels-use-kernels",
        "The kernels plugin without use_kernels (Axolotl turns it on).",
        ARGS + "check_use_kernels",
        _k(k.use_kernels),
        "Set use_kernels: true with the kernels plugin (or false to opt out of hub kernels explicitly).",
        level=Severity.WARNING,
        refused={**_K, "use_kernels": None},
        accepted=_K,
    )
    attention = Validator(
        "axolotl-kernels-dsv4-attention-lora",
        "Module-level (attention) LoRA with use_dsv4_kernels.",
        ARGS + "check_dsv4_attention_lora_unsupported",
        _k(partial(k.dsv4_attention_lora, excluded=False)),
        "Target the experts with lora_target_parameters, or exclude the indexer scorer projections with "
        "lora_exclude_modules.",
        refused={**_K, "use_dsv4_kernels": True},
        accepted={**_K, **_EXPERTS, "use_dsv4_kernels": True},
    )
    yield attention
    yield replace(
        attention,
        check=_k(partial(k.dsv4_attention_lora, excluded=True)),
        level=Severity.WARNING,
        refused={**_K, "use_dsv4_kernels": True, "lora_exclude_modules": ["indexer"]},
    )
    impl = Validator(
        "axolotl-kernels-experts-implementation",
        "An experts_implementation the kernels plugin refuses, or replaces with eager.",
        ARGS + "check_experts_implementation",
        _k(k.no_backward),
        "Use grouped_mm, batched_mm, eager, use_scattermoe or use_sonicmoe: deepgemm has no backward pass.",
        since="0.20.0",
        refused={**_K, "experts_implementation": "deepgemm"},
        accepted={**_K, "experts_implementation": "grouped_mm"},
    )
    warned = replace(
        impl,
        fix="Name a known experts_implementation, with use_scattermoe/use_sonicmoe for the kernel ones.",
        level=Severity.WARNING,
        refused={**_K, "experts_implementation": "scattermoe"},
        accepted={**_K, "experts_implementation": "scattermoe", "use_scattermoe": True},
    )
    yield from _by_release(warned, BY_0_20, k.experts_impl)
    yield impl
    mlp = Validator(
        "axolotl-kernels-dsv4-mlp-kernel",
        "lora_mlp_kernel under a MoE kernel with use_dsv4_kernels (moved to the DSV4 shared-MLP kernel).",
        ARGS + "disable_mlp_kernel",
        _k(partial(k.dsv4_mlp, new=True, translated=True)),
        "Set dsv4_shared_mlp_lora_kernel instead of lora_mlp_kernel on DSV4 MoE runs.",
        level=Severity.WARNING,
        refused=_DSV4,
        accepted={**_DSV4, "lora_mlp_kernel": None},
    )
    yield from _by_release(mlp, BY_0_20, partial(k.dsv4_mlp, translated=True))
    silent = replace(mlp, level=Severity.INFO, refused={**_DSV4, "dsv4_shared_mlp_lora_kernel": False})
    yield from _by_release(silent, BY_0_20, partial(k.dsv4_mlp, translated=False))


VALIDATORS: tuple[Validator, ...] = tuple(_table())

register(VALIDATORS)
