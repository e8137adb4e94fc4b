"""The conditions of the kernels plugin's validators (integrations/kernels/args.py KernelsArgs); plugins_4.py
declares them as rules, checked while the plugin is listed.

Every KernelsArgs validator runs in mode="before" on the raw YAML, most of them after canonicalising
`expert_backend` onto use_scattermoe/use_sonicmoe (0.20+: a deprecated EP composite experts_implementation
selects its kernel flag first). `new` picks the 0.20+ behaviour where the releases differ.
"""

from __future__ import annotations

from .validator import Found, Values

BACKENDS = ("scattermoe", "sonicmoe", "eager", "builtin")
FLAGS = {"scattermoe": "use_scattermoe", "sonicmoe": "use_sonicmoe"}  # expert_parallel KERNEL_IMPLEMENTATION_FLAGS
# expert_parallel/plugin.py DEPRECATED_EXPERTS_IMPLEMENTATIONS (0.20+): composite name -> local implementation
COMPOSITES = {
    "deep_ep": "eager",
    "deep_ep_grouped_mm": "grouped_mm",
    "deep_ep_scattermoe": "scattermoe",
    "deep_ep_sonicmoe": "sonicmoe",
    "torch_ep_eager": "eager",
    "torch_ep_grouped_mm": "grouped_mm",
    "torch_ep_scattermoe": "scattermoe",
    "torch_ep_sonicmoe": "sonicmoe",
}
BUILTIN_IMPLS = {"eager", "batched_mm", "grouped_mm", "scattermoe", "sonicmoe"}
VALID_IMPLS_0_19 = BUILTIN_IMPLS | {"deep_ep", "deep_ep_grouped_mm", "deep_ep_scattermoe", "deep_ep_sonicmoe"}
VALID_IMPLS = BUILTIN_IMPLS | {"expert_parallel", *COMPOSITES}
# transformers' ALL_EXPERTS_FUNCTIONS in the releases 0.20 and 0.21 pin (5.17.0, 5.20.1): accepted as they are
REGISTERED_IMPLS = {"batched_mm", "deepgemm", "grouped_mm", "sonicmoe"}
NO_BACKWARD = {"deepgemm"}
GROUPED_BACKENDS = ("auto", "cutlass", "deepgemm", "marlin")
NONEXPERT = ("bf16", "fp8", "fp8_blockwise", "nf4", "none", "nvfp4")
LORA_KERNELS = ("lora_mlp_kernel", "lora_qkv_kernel", "lora_o_kernel")


def flags(v: Values, new: bool) -> tuple[bool, bool] | None:
    """(use_scattermoe, use_sonicmoe) after _canonicalize_expert_backend; None where it refuses."""
    scatter, sonic = v.get("use_scattermoe"), v.get("use_sonicmoe")
    local = COMPOSITES.get(v.get("experts_implementation")) if new else None  # type: ignore[arg-type]
    if local in FLAGS and v.get("expert_backend") is None and not (scatter or sonic):
        scatter, sonic = (True, sonic) if local == "scattermoe" else (scatter, True)
    backend = v.get("expert_backend")
    if backend is None:
        return bool(scatter), bool(sonic)
    chosen = str(backend).lower()
    if (
        chosen not in BACKENDS
        or (scatter is True and chosen != "scattermoe")
        or (sonic is True and chosen != "sonicmoe")
    ):
        return None
    return bool(scatter) or chosen == "scattermoe", bool(sonic) or chosen == "sonicmoe"


def expert_backend(v: Values) -> Found | None:
    backend = v.get("expert_backend")
    if backend is None:
        return None
    chosen = str(backend).lower()
    if chosen not in BACKENDS:
        return f"expert_backend must be one of {sorted(BACKENDS)}, got {chosen!r}", "expert_backend"
    for name, flag in FLAGS.items():
        if v.get(flag) is True and chosen != name:
            return f"expert_backend={chosen!r} conflicts with {flag}=true; set only one.", "expert_backend"
    return None


def _bad_start(v: Values) -> Found | None:
    start = v.get("nvfp4_merge_aware_start_step")
    if start is None:
        return None
    bad = isinstance(start, bool) or (isinstance(start, float) and not 0 < start < 1)
    if bad or (isinstance(start, int) and start < 0):
        return (
            "nvfp4_merge_aware_start_step must be an int >= 0 (absolute step) or a float in (0, 1) (fraction of "
            f"max steps), got {start!r}",
            "nvfp4_merge_aware_start_step",
        )
    return None


def nvfp4_0_19(v: Values) -> Found | None:
    """0.19's check_nvfp4_merge_aware: every misuse is refused."""
    kernel = flags(v, new=False)
    if kernel is None:
        return None
    if not v.get("nvfp4_merge_aware"):
        if v.get("nvfp4_merge_aware_start_step") is not None:
            message = "nvfp4_merge_aware_start_step requires nvfp4_merge_aware: true"
            return message, "nvfp4_merge_aware_start_step"
        return None
    if not kernel[1]:
        return "nvfp4_merge_aware requires the sonicmoe expert backend (expert_backend: sonicmoe)", "nvfp4_merge_aware"
    if v.get("adapter") != "lora":
        return (
            "nvfp4_merge_aware requires a LoRA adapter (adapter: lora); it snaps the LoRA delta to the NVFP4 grid "
            "of the frozen base",
            "adapter",
        )
    fused = [k for k in LORA_KERNELS if v.get(k) is True]
    if fused:
        return (
            f"nvfp4_merge_aware is incompatible with {', '.join(fused)}: the fused LoRA kernels compute the "
            "projections without calling lora.Linear.forward, so NVFP4 non-expert linears train un-snapped and the "
            "merge identity is silently void.",
            fused[0],
        )
    return _bad_start(v)


def _switched_off(v: Values) -> bool:
    return v.get("nvfp4_merge_aware") is False and v.get("nvfp4_merge_aware_start_step") is not None


def _not_lora(v: Values) -> bool:
    return bool(v.get("nvfp4_merge_aware")) and v.get("adapter") not in ("lora", "multilora")


def backend_refused(v: Values) -> Found | None:
    """0.21's check_nvfp4_merge_aware: the two backend refusals, checked before the non-LoRA switch-off."""
    kernel = flags(v, new=True)
    if kernel is None or _switched_off(v):
        return None
    if kernel[1] and v.get("quantize_moe_experts"):
        return (
            "use_sonicmoe has no bitsandbytes expert path: quantize_moe_experts (NF4/int8 experts) needs the "
            "ScatterMoE backend (use_scattermoe: true).",
            "quantize_moe_experts",
        )
    if v.get("nvfp4_merge_aware") and kernel[0]:
        return (
            "nvfp4_merge_aware requires the SonicMoE expert backend (use_sonicmoe: true); ScatterMoE has no "
            "merge-aware forward and would silently train ordinary LoRA that the NVFP4 merge then rounds away.",
            "nvfp4_merge_aware",
        )
    return None


def start_refused(v: Values, new: bool) -> Found | None:
    """0.20+ check_nvfp4_merge_aware's start-step refusal, reached when nothing before it returned or raised
    (`new`: 0.21, whose two backend refusals come first)."""
    if flags(v, new=True) is None or _switched_off(v) or (new and backend_refused(v)) or _not_lora(v):
        return None
    return _bad_start(v)


def nvfp4_warned(v: Values, new: bool) -> Found | None:
    """0.20+ check_nvfp4_merge_aware's two warnings, each of which also switches merge-aware training off."""
    if flags(v, new=True) is None:
        return None
    if _switched_off(v):
        return (
            "NVFP4 MERGE WARNING: ignoring nvfp4_merge_aware_start_step because merge-aware training is explicitly "
            "disabled. NVFP4 merging may round away the learned adapter update.",
            "nvfp4_merge_aware_start_step",
        )
    if _not_lora(v) and not (new and backend_refused(v)):
        return (
            "NVFP4 MERGE WARNING: merge-aware training requires a LoRA adapter; disabling nvfp4_merge_aware for "
            "this configuration.",
            "nvfp4_merge_aware",
        )
    return None


def both_kernels(v: Values, new: bool) -> Found | None:
    kernel = flags(v, new)
    if kernel and kernel[0] and kernel[1]:
        return (
            "Cannot use both ScatterMoE and SonicMoE simultaneously. Please set only one of `use_scattermoe` or "
            "`use_sonicmoe` to true.",
            "use_sonicmoe" if v.get("use_sonicmoe") else "use_scattermoe",
        )
    return None


def grouped_mode(v: Values) -> Found | None:
    mode = v.get("dsv4_fp4_grouped_mode")
    if mode is None or str(mode).lower() == "nvfp4":
        return None
    if str(mode).lower() == "fp8":
        return (
            "dsv4_fp4_grouped_mode='fp8' is not implemented for training (only 'nvfp4' is supported). Use 'nvfp4' "
            "or omit dsv4_fp4_grouped_mode.",
            "dsv4_fp4_grouped_mode",
        )
    return f"dsv4_fp4_grouped_mode must be 'nvfp4', got {mode!r}", "dsv4_fp4_grouped_mode"


def dequant_chunk(v: Values) -> Found | None:
    chunk = v.get("moe_dequant_chunk_size")
    if chunk is None:
        return None
    try:
        whole = int(chunk)
    except (TypeError, ValueError):
        whole = 0
    if isinstance(chunk, bool) or (isinstance(chunk, float) and not chunk.is_integer()) or whole <= 0:
        return f"moe_dequant_chunk_size must be a positive integer, got {chunk!r}", "moe_dequant_chunk_size"
    return None


def grouped_backend(v: Values) -> Found | None:
    backend = v.get("moe_grouped_backend")
    if backend is None:
        return None
    if str(backend).lower() == "dequant":
        return (
            "moe_grouped_backend='dequant' is not implemented for training (the chunked-dequant fallback has no "
            "autograd path). Use 'auto' (default), 'marlin', 'deepgemm', or 'cutlass', or omit moe_grouped_backend.",
            "moe_grouped_backend",
        )
    if str(backend).lower() not in GROUPED_BACKENDS:
        return f"moe_grouped_backend must be one of {list(GROUPED_BACKENDS)}, got {backend!r}", "moe_grouped_backend"
    return None


def fp8_nonexpert_mode(v: Values) -> Found | None:
    mode = v.get("dsv4_fp8_nonexpert_mode")
    if mode is not None and str(mode).lower() not in ("float8tensor", "bf16"):
        return f"dsv4_fp8_nonexpert_mode must be 'float8tensor' or 'bf16', got {mode!r}", "dsv4_fp8_nonexpert_mode"
    return None


def grouped_no_effect(v: Values) -> Found | None:
    backend = v.get("moe_grouped_backend")
    if backend is not None and not grouped_backend(v) and not v.get("dsv4_fp4_grouped_mode"):
        return (
            f"moe_grouped_backend={backend!r} has no effect unless the grouped NVFP4 MoE path is enabled (set "
            "dsv4_fp4_grouped_mode: nvfp4).",
            "moe_grouped_backend",
        )
    return None


def nonexpert_quantization(v: Values) -> Found | None:
    chosen = v.get("nonexpert_quantization")
    if chosen is not None and str(chosen).lower() not in NONEXPERT:
        return f"nonexpert_quantization must be one of {list(NONEXPERT)}, got {chosen!r}", "nonexpert_quantization"
    return None


def gemma4_flags(v: Values) -> Found | None:
    if v.get("gemma4_fp8_nonexpert") or v.get("gemma4_nf4_nonexpert"):
        return (
            "gemma4_fp8_nonexpert / gemma4_nf4_nonexpert are deprecated; prefer `nonexpert_quantization: "
            "fp8_blockwise` or `nonexpert_quantization: nf4`.",
            "gemma4_fp8_nonexpert" if v.get("gemma4_fp8_nonexpert") else "gemma4_nf4_nonexpert",
        )
    return None


def use_kernels(v: Values) -> Found | None:
    if v.get("use_kernels") is None:
        return "`use_kernels` must be set to True to use this. Automatically setting it to True.", "plugins"
    return None


def dsv4_attention_lora(v: Values, excluded: bool) -> Found | None:
    """check_dsv4_attention_lora_unsupported: refused, or (with lora_exclude_modules) warned."""
    if not (v.get("use_dsv4_kernels") and (v.get("lora_target_modules") or v.get("lora_target_linear"))):
        return None
    if bool(v.get("lora_exclude_modules")) != excluded:
        return None
    key = "lora_target_modules" if v.get("lora_target_modules") else "lora_target_linear"
    if excluded:
        return (
            "attention/module-level LoRA (lora_target_modules / lora_target_linear) with use_dsv4_kernels: ensure "
            "lora_exclude_modules excludes the indexer scorer projections (the fused indexer is gradientless); keep "
            "LoRA experts-only (lora_target_parameters) where possible.",
            key,
        )
    return (
        "attention/module-level LoRA is not supported with use_dsv4_kernels (this includes lora_target_modules and "
        "lora_target_linear: true, which expands to all linear layers incl. attention q/k/v/o). Either (1) keep "
        "LoRA experts-only via lora_target_parameters, or (2) explicitly exclude the indexer scorer projections via "
        "lora_exclude_modules.",
        key,
    )


def experts_impl(v: Values, new: bool) -> Found | None:
    """check_experts_implementation's warnings: a kernel name without its flag, or a name it does not know."""
    impl, kernel = v.get("experts_implementation"), flags(v, new)
    if impl is None or kernel is None or not isinstance(impl, str):
        return None
    for index, name in enumerate(FLAGS):
        if impl == name and not kernel[index]:
            message = (
                f"`experts_implementation='{name}'` requires `{FLAGS[name]}: true`. Automatically setting to 'eager'."
            )
            return message, "experts_implementation"
    size = v.get("expert_parallel_size") or 1
    if new and (impl in NO_BACKWARD or (isinstance(size, int) and size > 1) or impl in REGISTERED_IMPLS):
        return None
    valid = VALID_IMPLS if new else VALID_IMPLS_0_19
    if impl not in valid:
        return (
            f"`experts_implementation={impl!r}` is not recognized. Valid options: {sorted(valid)}. Automatically "
            "setting to 'eager'.",
            "experts_implementation",
        )
    return None


def no_backward(v: Values) -> Found | None:
    impl = v.get("experts_implementation")
    if impl in NO_BACKWARD and flags(v, True) is not None:
        return (
            f"`experts_implementation={impl!r}` has no backward pass in transformers (expert weights would silently "
            "not train). Use grouped_mm, batched_mm, eager, use_scattermoe or use_sonicmoe.",
            "experts_implementation",
        )
    return None


def dsv4_mlp(v: Values, new: bool, translated: bool) -> Found | None:
    """disable_mlp_kernel under a MoE kernel with DSV4: lora_mlp_kernel becomes the DSV4 shared-MLP kernel
    (warned) or, when that is set already, is switched off silently."""
    kernel = flags(v, new)
    if not kernel or not (kernel[0] or kernel[1]) or v.get("lora_mlp_kernel") is not True:
        return None
    if v.get("use_dsv4_kernels") is not True or (v.get("dsv4_shared_mlp_lora_kernel") is None) != translated:
        return None
    if translated:
        return (
            "Translated lora_mlp_kernel -> dsv4_shared_mlp_lora_kernel for the DSV4 MoE run (the generic "
            "lora_mlp_kernel is disabled under DSV4 kernels).",
            "lora_mlp_kernel",
        )
    return "lora_mlp_kernel is set to false under DSV4 kernels (dsv4_shared_mlp_lora_kernel is set)", "lora_mlp_kernel"
