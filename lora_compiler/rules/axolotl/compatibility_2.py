"""Axolotl's start-up validators on model-specific limits (validation.py's ModelCompatibilityValidationMixin:
Falcon, BetterTransformer, GPTQ, MXFP4, expert parallelism) and the small schemas beside validation.py: peft.py's
adapter check, multimodal.py, export.py, diffusion.py and integrations.py (W&B).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...results.findings import Severity
from .compatibility import GC, MIXIN, gc, named, offloading, reentrant
from .conditions import PLUGIN_ADAPTERS, at_release, listed, number
from .conditions_0_20 import unprefixed
from .validator import Validator, register, release_key, when

Values = Mapping[str, Any]
Found = tuple[str, Any]
BUILT_IN_ADAPTERS = ("lora", "qlora", "llama-adapter")
# export.py GGUF_QUANT_TYPES: what llama.cpp's llama-quantize accepts
GGUF_QUANT_TYPES = frozenset(
    "F32 F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_0 Q4_K_M Q4_K_S Q4_0 Q4_1 Q3_K_L Q3_K_M Q3_K_S Q2_K Q2_K_S IQ4_XS "
    "IQ4_NL IQ3_M IQ3_S IQ3_XS IQ3_XXS IQ2_M IQ2_S IQ2_XS IQ2_XXS IQ1_M IQ1_S TQ1_0 TQ2_0 MXFP4_MOE".split()
)


def amp(v: Values) -> Any:
    """fp16 or bf16 as check_better_transformers sees them (bf16 defaults to "auto")."""
    return "fp16" if v.get("fp16") else "bf16" if v.get("bf16", "auto") else None


def expert_checkpointing(v: Values, built_in: bool) -> Found | None:
    """check_torch_expert_parallel_checkpointing for an explicit torch backend ("auto" picks deep_ep when it
    is installed: the environment decides). The plugin's fields exist only where its args are merged."""
    size = v.get("expert_parallel_size") or 1
    merged = built_in or listed(v, "expert_parallel")
    if not merged or not isinstance(size, int) or size <= 1 or v.get("expert_parallel_backend") != "torch" or not gc(v):
        return None
    if reentrant(v):
        return (
            "expert_parallel_backend: torch requires non-reentrant gradient checkpointing "
            "(gradient_checkpointing_kwargs.use_reentrant: false): recompute must reuse the forward's routing, "
            "which reentrant checkpointing cannot guarantee",
            ("gradient_checkpointing_kwargs", "use_reentrant"),
        )
    mode, key = offloading(v)
    if mode in (True, "legacy", "disk"):
        return (
            f"expert_parallel_backend: torch is incompatible with activation_offloading {mode!r}: the TRL offloader "
            "bypasses the checkpointing policy that keeps recompute on the forward's routing. Use "
            "activation_offloading: hidden_states or false.",
            key,
        )
    return None


def dispatch_chunks(v: Values, built_in: bool) -> Found | None:
    """check_expert_parallel_dispatch_chunks for an explicit deep_ep backend ("auto": the environment decides)."""
    chunks = v.get("expert_parallel_dispatch_chunks") or 1
    if (built_in or listed(v, "expert_parallel")) and isinstance(chunks, int) and chunks > 1:
        if v.get("expert_parallel_backend") == "deep_ep":
            return (
                "expert_parallel_dispatch_chunks > 1 requires expert_parallel_backend: torch (DeepEP dispatches the "
                "whole batch in one fused kernel)",
                "expert_parallel_dispatch_chunks",
            )
    return None


def unknown_adapter(v: Values, release: str) -> Found | None:
    """validate_adapter's second branch: an adapter neither built in nor registered by a listed plugin. A plugin
    from outside axolotl.integrations may register any adapter, so lint says nothing when one is listed."""
    adapter = v.get("adapter")
    if not adapter or not isinstance(adapter, str) or adapter in BUILT_IN_ADAPTERS:
        return None
    known = PLUGIN_ADAPTERS.get(adapter)
    if known and release_key(release) >= release_key(known[1]) and listed(v, known[0]):
        return None
    plugins = v.get("plugins") or []
    if not isinstance(plugins, list) or any(not str(p).startswith("axolotl.integrations.") for p in plugins):
        return None
    return (
        f"Adapter '{adapter}' is not built in and was not registered by a plugin. Add the plugin that provides this "
        "adapter to `plugins:`.",
        "adapter",
    )


def resize_algorithm(v: Values) -> Found | None:
    """convert_image_resize_algorithm: a name PIL's Resampling does not map (case-insensitive)."""
    name = v.get("image_resize_algorithm")
    if isinstance(name, str) and name.lower() not in ("bilinear", "bicubic", "lanczos"):
        return f"Invalid image resize algorithm: {name.lower()}", "image_resize_algorithm"
    return None


def export_quantize(v: Values) -> Found | None:
    """ExportConfig: validate_quant_types (the field), then validate_quantize."""
    block = v.get("export")
    if not isinstance(block, dict) or not isinstance(block.get("quantize") or [], (str, list)):
        return None
    raw = block.get("quantize") or []
    types = list(dict.fromkeys(str(q).strip().upper() for q in (raw.split(",") if isinstance(raw, str) else raw)))
    unknown = sorted(set(types) - GGUF_QUANT_TYPES)
    if unknown:
        return (
            f"Unknown GGUF quant type(s): {unknown}. Must be one of: {sorted(GGUF_QUANT_TYPES)}",
            ("export", "quantize"),
        )
    if not types:
        return None
    outtype = block.get("outtype", "f16")
    if outtype in ("q8_0", "tq1_0", "tq2_0"):
        return (
            f"llama.cpp cannot requantize from {outtype}. Use an f16/bf16/f32 `export.outtype`, or drop "
            "`export.quantize`.",
            ("export", "outtype"),
        )
    outfile = block.get("outfile")
    if outfile and isinstance(outfile, str) and "{ftype}" not in outfile:
        return (
            "`export.outfile` needs a `{ftype}` placeholder when `export.quantize` is set, e.g. `model-{ftype}.gguf`.",
            ("export", "outfile"),
        )
    return None


def mask_ratios(v: Values) -> Found | None:
    """DiffusionConfig._validate_mask_ratios, under diffusion_lm and (with the diffusion plugin) diffusion."""
    for name in ("diffusion_lm", "diffusion"):
        block = v.get(name)
        if not isinstance(block, dict) or (name == "diffusion" and not listed(v, "diffusion")):
            continue
        low, high = block.get("min_mask_ratio", 0.1), block.get("max_mask_ratio", 0.9)
        if number(low) and number(high) and low > high:
            return "min_mask_ratio must be ≤ max_mask_ratio", (
                name,
                "min_mask_ratio" if "min_mask_ratio" in block else "max_mask_ratio",
            )
    return None


def unroll_eval_steps(v: Values) -> Found | None:
    block = v.get("diffusion_lm")
    unroll = block.get("unroll") if isinstance(block, dict) else None
    if isinstance(unroll, dict):
        steps, most = unroll.get("eval_steps"), unroll.get("k_max", 1)
        if number(steps) and number(most) and steps > most:
            return "unroll.eval_steps must be between 1 and unroll.k_max", ("diffusion_lm", "unroll", "eval_steps")
    return None


EP = {"plugins": ["axolotl.integrations.expert_parallel.ExpertParallelPlugin"], "expert_parallel_size": 2}
EP_FSDP = {**EP, "fsdp_version": 2, "fsdp_config": {"state_dict_type": "FULL_STATE_DICT"}}
MORA = {"adapter": "mora", "plugins": ["axolotl.integrations.mora.MoraPlugin"]}
# a causal checkpoint trains as a diffusion LM only converted, with the plugin (normalize_config refuses it otherwise)
CAUSAL, DIFFUSION = {"from_causal_lm": True}, ["axolotl.integrations.diffusion.DiffusionPlugin"]

VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-falcon-fsdp",
        "FSDP with a Falcon model (0.19: the fsdp list; 0.20+: fsdp_config).",
        f"{MIXIN}.check_falcon_fsdp",
        when(lambda v: named(v, "falcon") and v.get("fsdp"), "FSDP is not supported for falcon models", "fsdp"),
        fix="Train Falcon without FSDP (DeepSpeed or a single device).",
        until="0.20.0",
        refused={"base_model": "tiiuae/falcon-7b", "fsdp": ["full_shard"]},
        accepted={"base_model": "tiiuae/falcon-7b"},
    ),
    Validator(
        "axolotl-falcon-fsdp",
        "FSDP with a Falcon model (0.19: the fsdp list; 0.20+: fsdp_config).",
        f"{MIXIN}.check_falcon_fsdp",
        when(
            lambda v: named(v, "falcon") and v.get("fsdp_config") is not None,
            "FSDP is not supported for falcon models",
            "fsdp_config",
        ),
        fix="Train Falcon without FSDP (DeepSpeed or a single device).",
        since="0.20.0",
        refused={"base_model": "tiiuae/falcon-7b", "fsdp_config": {}},
        accepted={"base_model": "tiiuae/falcon-7b"},
    ),
    Validator(
        "axolotl-better-transformer-amp",
        "flash_optimum with fp16 or bf16 (bf16 defaults to auto).",
        f"{MIXIN}.check_better_transformers",
        when(
            lambda v: v.get("flash_optimum") is True and amp(v),
            "AMP is not supported with BetterTransformer",
            lambda v: amp(v) if amp(v) in v else "flash_optimum",
        ),
        fix="Set bf16: false and fp16: false (load in float16/bfloat16 instead), or drop flash_optimum.",
        refused={"flash_optimum": True},
        accepted={"flash_optimum": True, "bf16": False},
    ),
    Validator(
        "axolotl-better-transformer-adapter",
        "flash_optimum with a PEFT adapter.",
        f"{MIXIN}.check_better_transformers",
        when(
            lambda v: v.get("flash_optimum") is True and v.get("adapter"),
            "BetterTransformers probably doesn't work with PEFT adapters",
            "flash_optimum",
        ),
        fix="Drop flash_optimum for adapter training.",
        level=Severity.WARNING,
        refused={"flash_optimum": True, "bf16": False, "bfloat16": True},
        accepted={"bf16": False, "bfloat16": True},
    ),
    Validator(
        "axolotl-better-transformer-dtype",
        "flash_optimum without float16 or bfloat16 loading.",
        f"{MIXIN}.check_better_transformers",
        when(
            lambda v: (
                v.get("flash_optimum") is True
                and not amp(v)
                and v.get("float16") is not True
                and v.get("bfloat16") is not True
            ),
            "You should probably set bfloat16 or float16 to true to load the model in float16 for BetterTransformers",
            "flash_optimum",
        ),
        fix="Set bfloat16: true or float16: true.",
        level=Severity.WARNING,
        refused={"flash_optimum": True, "bf16": False},
        accepted={"flash_optimum": True, "bf16": False, "bfloat16": True},
    ),
    Validator(
        "axolotl-gptq-revision",
        "revision_of_model with a GPTQ model.",
        f"{MIXIN}.check_gptq_w_revision",
        when(
            lambda v: v.get("gptq") and v.get("revision_of_model"),
            "revision_of_model is not supported for GPTQ models. Please download the model from HuggingFace Hub "
            "manually for correct branch, point to its path, and remove revision_of_model from the config.",
            "revision_of_model",
        ),
        fix="Download the GPTQ model's branch, point base_model at it and remove revision_of_model.",
        refused={"gptq": True, "revision_of_model": "main"},
        accepted={"gptq": False, "revision_of_model": "main"},
    ),
    Validator(
        "axolotl-mxfp4-fsdp-loading",
        "Mxfp4Config quantization with FSDP's cpu_ram_efficient_loading.",
        f"{MIXIN}.check_gpt_oss_fsdp_loading",
        when(
            lambda v: (
                v.get("model_quantization_config", "") == "Mxfp4Config"
                and isinstance(v.get("fsdp_config"), dict)
                and any(unprefixed(k) == "cpu_ram_efficient_loading" and x is True for k, x in v["fsdp_config"].items())
            ),
            "FSDP cpu_ram_efficient_loading is not supported for Mxfp4Config model quantization.",
            lambda v: (
                "fsdp_config",
                next(k for k in v["fsdp_config"] if unprefixed(k) == "cpu_ram_efficient_loading"),
            ),
        ),
        fix="Set fsdp_config.cpu_ram_efficient_loading: false for an Mxfp4Config model.",
        refused={"model_quantization_config": "Mxfp4Config", "fsdp_config": {"cpu_ram_efficient_loading": True}},
        accepted={"model_quantization_config": "Mxfp4Config", "fsdp_config": {"cpu_ram_efficient_loading": False}},
    ),
    Validator(
        "axolotl-expert-parallel-checkpointing",
        "expert_parallel_backend: torch with reentrant checkpointing or TRL activation offloading.",
        f"{MIXIN}.check_torch_expert_parallel_checkpointing",
        lambda v: expert_checkpointing(v, built_in=False),
        fix="Use non-reentrant gradient checkpointing, and activation_offloading: hidden_states or false.",
        since="0.20.0",
        until="0.21.0",
        refused={**EP_FSDP, "expert_parallel_backend": "torch", "activation_offloading": "legacy", **GC},
        accepted={**EP_FSDP, "expert_parallel_backend": "torch", "activation_offloading": "hidden_states", **GC},
    ),
    Validator(
        "axolotl-expert-parallel-checkpointing",
        "expert_parallel_backend: torch with reentrant checkpointing or TRL activation offloading.",
        f"{MIXIN}.check_torch_expert_parallel_checkpointing",
        lambda v: expert_checkpointing(v, built_in=True),
        fix="Use non-reentrant gradient checkpointing, and activation_offloading: hidden_states or false.",
        since="0.21.0",
        refused={**EP_FSDP, "expert_parallel_backend": "torch", "activation_offloading": "legacy", **GC},
        accepted={**EP_FSDP, "expert_parallel_backend": "torch", "activation_offloading": "hidden_states", **GC},
    ),
    Validator(
        "axolotl-expert-parallel-dispatch-chunks",
        "expert_parallel_dispatch_chunks > 1 with the deep_ep backend.",
        f"{MIXIN}.check_expert_parallel_dispatch_chunks",
        lambda v: dispatch_chunks(v, built_in=False),
        fix="Set expert_parallel_backend: torch, or expert_parallel_dispatch_chunks: 1.",
        since="0.20.0",
        until="0.21.0",
        refused={"plugins": EP["plugins"], "expert_parallel_backend": "deep_ep", "expert_parallel_dispatch_chunks": 2},
        accepted={"plugins": EP["plugins"], "expert_parallel_backend": "torch", "expert_parallel_dispatch_chunks": 2},
    ),
    Validator(
        "axolotl-expert-parallel-dispatch-chunks",
        "expert_parallel_dispatch_chunks > 1 with the deep_ep backend.",
        f"{MIXIN}.check_expert_parallel_dispatch_chunks",
        lambda v: dispatch_chunks(v, built_in=True),
        fix="Set expert_parallel_backend: torch, or expert_parallel_dispatch_chunks: 1.",
        since="0.21.0",
        refused={"expert_parallel_backend": "deep_ep", "expert_parallel_dispatch_chunks": 2},
        accepted={"expert_parallel_backend": "torch", "expert_parallel_dispatch_chunks": 2},
    ),
    *(
        Validator(
            "axolotl-unknown-adapter",
            "An adapter neither built in nor registered by a listed plugin.",
            "utils/schemas/peft.py:LoraConfig.validate_adapter",
            at_release(unknown_adapter, since),
            fix="Use lora, qlora or llama-adapter, or list the plugin that registers the adapter under plugins:.",
            since=since,
            until=until,
            refused=refused,
            accepted=MORA,
        )
        for since, until, refused in (
            ("0.19.0", "0.20.0", {"adapter": "mixlora", "plugins": ["axolotl.integrations.mixlora.MixLoraPlugin"]}),
            ("0.20.0", None, {"adapter": "mora"}),
        )
    ),
    Validator(
        "axolotl-image-resize-algorithm",
        "An image_resize_algorithm other than bilinear, bicubic or lanczos.",
        "utils/schemas/multimodal.py:MultiModalConfig.convert_image_resize_algorithm",
        resize_algorithm,
        fix="Use bilinear, bicubic or lanczos.",
        refused={"image_resize_algorithm": "nearest"},
        accepted={"image_resize_algorithm": "Bicubic"},
    ),
    Validator(
        "axolotl-export-quantize",
        "export.quantize with an unknown GGUF type, a quantized outtype, or an outfile without {ftype}.",
        "utils/schemas/export.py:ExportConfig.validate_quant_types, utils/schemas/export.py:ExportConfig.validate_quantize",
        export_quantize,
        fix="Name llama.cpp quant types (Q4_K_M, Q8_0, ...), convert with outtype f16/bf16/f32, and put {ftype} in outfile.",
        since="0.20.0",
        refused={"export": {"quantize": ["Q4_K_M"], "outtype": "q8_0"}},
        accepted={"export": {"quantize": "q4_k_m,q8_0"}},
    ),
    Validator(
        "axolotl-diffusion-mask-ratio",
        "A diffusion min_mask_ratio above max_mask_ratio.",
        "utils/schemas/diffusion.py:DiffusionConfig._validate_mask_ratios",
        mask_ratios,
        fix="Keep min_mask_ratio at or below max_mask_ratio (defaults 0.1 and 0.9).",
        since="0.21.0",
        refused={"diffusion_lm": {"min_mask_ratio": 0.95}},
        accepted={"diffusion_lm": {"min_mask_ratio": 0.5, **CAUSAL}, "plugins": DIFFUSION},
    ),
    Validator(
        "axolotl-diffusion-unroll-eval-steps",
        "diffusion_lm.unroll.eval_steps above unroll.k_max.",
        "utils/schemas/diffusion.py:DiffusionUnrollConfig._eval_steps_within_k_max",
        unroll_eval_steps,
        fix="Set unroll.eval_steps at most unroll.k_max (default 1), or raise k_max.",
        since="0.21.0",
        refused={"diffusion_lm": {"unroll": {"eval_steps": 3}}},
        accepted={"diffusion_lm": {"unroll": {"eval_steps": 3, "k_max": 4}, **CAUSAL}, "plugins": DIFFUSION},
    ),
    Validator(
        "axolotl-wandb-run-id",
        "wandb_run_id without wandb_name: it becomes the run's name too.",
        "utils/schemas/integrations.py:WandbConfig.check_wandb_run",
        when(
            lambda v: v.get("wandb_run_id") and not v.get("wandb_name"),
            "wandb_run_id sets the ID of the run. If you would like to set the name, please use wandb_name instead.",
            "wandb_run_id",
        ),
        fix="Name the run with wandb_name (wandb_run_id is its ID).",
        level=Severity.WARNING,
        refused={"wandb_run_id": "abc123"},
        accepted={"wandb_run_id": "abc123", "wandb_name": "my-run"},
    ),
)

register(VALIDATORS)
