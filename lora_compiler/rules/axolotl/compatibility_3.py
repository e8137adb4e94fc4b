"""Axolotl's start-up validators that cut across systems (validation.py's ComplexValidationMixin: context
parallelism, NEFTune, SimPO), and the entries of this area no rule can judge.

Context parallelism's size is read as the validator sees it: since 0.20 the built-in context_parallel plugin
first syncs context_parallel_size from context_parallel.size (else from sequence_parallel_degree).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...results.findings import Severity
from ..adapter import LAYERS_PATTERN_WITHOUT_INDICES, QLORA_QUANTIZATION, TARGET_PARAMETERS_DROPOUT
from .backends import base, chosen
from .conditions import at_release, listed, number
from .validator import Validator, mirrored_by, out_of_scope, register, release_key, when

Values = Mapping[str, Any]
Found = tuple[str, Any]


def cp_size(v: Values, synced: bool) -> tuple[Any, Any]:
    """context_parallel_size as check_context_parallel_size sees it, and the key that set it. Since 0.20
    (`synced`) context_parallel.size wins, then context_parallel_size, then sequence_parallel_degree; a falsy
    size still falls back to sequence_parallel_degree (with the deprecation warning)."""
    block = v.get("context_parallel")
    candidates = [("context_parallel", block.get("size") if synced and isinstance(block, dict) else None)]
    candidates += [("context_parallel_size", v.get("context_parallel_size"))]
    candidates += [("sequence_parallel_degree", v.get("sequence_parallel_degree") if synced else None)]
    key, size = next(((k, x) for k, x in candidates if x is not None), (None, None))
    if not size and v.get("sequence_parallel_degree"):
        return v["sequence_parallel_degree"], "sequence_parallel_degree"
    return size, key


def _cp(v: Values, synced: bool) -> tuple[int, Any]:
    size, key = cp_size(v, synced)
    return (size, key) if isinstance(size, int) and not isinstance(size, bool) and size > 1 else (1, None)


def glm(v: Values) -> bool:
    """use_glm_dsa_kernels, a field of the kernels plugin's args (absent unless the plugin is listed)."""
    return listed(v, "kernels") and bool(v.get("use_glm_dsa_kernels"))


def cp_0_19(v: Values) -> Found | None:
    size, key = _cp(v, synced=False)
    if size <= 1 or glm(v):
        return None
    impl, where = chosen(v)
    if not isinstance(impl, str) or base(impl) != "flash_attention_2":
        return (
            "context_parallel_size > 1 requires attn_implementation: flash_attention_2. Ring attention only "
            "supports the flash attention 2 backend.",
            where or key,
        )
    if v.get("sample_packing") and (v.get("micro_batch_size") or 1) > 1:
        return (
            "micro_batch_size must be set to 1 when sample_packing is enabled due to a `ring-flash-attn` requirement",
            "micro_batch_size",
        )
    return None


def cp_0_20(v: Values) -> Found | None:
    """0.20+: packed inputs with GLM DSA, or eager attention. (Its context_parallel.size conflict is raised first
    by the context_parallel plugin's sync_context_parallel_size, another rule's.)"""
    size, key = _cp(v, synced=True)
    if size <= 1:
        return None
    packed = next((k for k in ("sample_packing", "batch_flattening") if v.get(k)), None)
    if packed and glm(v):
        return "GLM DSA context parallelism does not support packed inputs", packed
    impl, where = chosen(v)
    if impl == "eager" and not glm(v):
        return (
            "context parallelism wraps a kernel-backed attention implementation (sdpa/flash/flex); "
            "`attn_implementation: eager` is not supported.",
            where,
        )
    return None


def cp_notice(v: Values, release: str) -> Found | None:
    """check_context_parallel_size's warnings when nothing refused: losses logged under CP (0.19's with GLM
    DSA kernels instead says those handle CP themselves)."""
    synced = release_key(release) >= (0, 20)
    size, key = _cp(v, synced)
    if size <= 1 or (cp_0_20(v) if synced else cp_0_19(v)):
        return None
    if not synced and glm(v):
        return (
            "context_parallel_size > 1 with use_glm_dsa_kernels: the DSA kernels handle context parallelism "
            "(compressed-KV all-gather); skipping the flash/ring-attention requirement.",
            key,
        )
    name = "Context parallelism (CP)" if release_key(release) >= (0, 21) else "Sequence parallelism (SP)"
    short = "CP" if release_key(release) >= (0, 21) else "SP"
    return (
        f"{name} is enabled with context_parallel_size={size}. Please note that logged losses may differ slightly "
        f"to the non-{short} losses due to transformers Trainer implementation details. Please see "
        "https://github.com/axolotl-ai-cloud/axolotl/pull/2495#issuecomment-2784022042 for more details.",
        key,
    )


def cp_deepspeed(v: Values) -> Found | None:
    """0.21's check_context_parallel_deepspeed: under DeepSpeed, CP is Ulysses for SFT only."""
    size, key = _cp(v, synced=True)
    if not v.get("deepspeed") or size <= 1:
        return None
    if glm(v):
        return (
            "GLM DSA context parallelism needs ringmaster, which does not run under DeepSpeed; use FSDP2 instead.",
            "use_glm_dsa_kernels",
        )
    if v.get("rl"):
        return (
            f"rl: RLType.{str(v['rl']).upper()} with context_parallel_size > 1 under DeepSpeed is not supported: only the SFT trainer "
            "weights each Ulysses rank's loss; use FSDP2.",
            "rl",
        )
    block = v.get("context_parallel")
    if isinstance(block, dict) and (
        block.get("backend", "auto") not in ("auto", "ulysses")
        or block.get("ring_size") not in (None, 1)
        or block.get("ulysses_size") not in (None, size)
    ):
        return (
            "Under DeepSpeed, context parallelism maps to DeepSpeed Ulysses (ALST): only `context_parallel.backend: "
            "ulysses` (or auto) with the full CP degree as ulysses_size is supported; Ring/USP need FSDP2.",
            "context_parallel",
        )
    return None


COMPLEX = "utils/schemas/validation.py:ComplexValidationMixin"
CP = f"{COMPLEX}.check_context_parallel_size"
CP_FIX = "Use a flash/sdpa attention backend (0.19: flash_attention_2, micro_batch_size 1 when packing), or context_parallel_size: 1."
SDPA = {"attn_implementation": "sdpa"}
GLM = {"plugins": ["axolotl.integrations.kernels.KernelsPlugin"], "use_glm_dsa_kernels": True}

VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-neftune-noise-alpha",
        "neftune_noise_alpha of 0 or below.",
        f"{COMPLEX}.validate_neftune_noise_alpha",
        when(
            lambda v: number(v.get("neftune_noise_alpha")) and v["neftune_noise_alpha"] <= 0,
            "neftune_noise_alpha must be > 0.0",
            "neftune_noise_alpha",
        ),
        fix="Set neftune_noise_alpha above 0 (5 is common), or drop it to train without NEFTune.",
        refused={"neftune_noise_alpha": 0},
        accepted={"neftune_noise_alpha": 5},
    ),
    Validator(
        "axolotl-simpo-warmup-ratio",
        "warmup_ratio with the SimPO trainer.",
        f"{COMPLEX}.check_simpo_warmup",
        when(
            lambda v: v.get("rl") == "simpo" and v.get("warmup_ratio"),
            "warmup_ratio is not supported with the simpo trainer. Please use `warmup_steps` instead",
            "warmup_ratio",
        ),
        fix="Use warmup_steps instead of warmup_ratio with rl: simpo.",
        refused={"rl": "simpo", "warmup_ratio": 0.1},
        accepted={"rl": "simpo", "warmup_steps": 10},
    ),
    Validator(
        "axolotl-context-parallel",
        "context_parallel_size > 1 with an attention backend or batch layout ring attention refuses.",
        CP,
        cp_0_19,
        fix=CP_FIX,
        until="0.20.0",
        refused={"context_parallel_size": 2, **SDPA},
        accepted={"context_parallel_size": 1, **SDPA},
    ),
    Validator(
        "axolotl-context-parallel",
        "context_parallel_size > 1 with an attention backend or batch layout ring attention refuses.",
        CP,
        cp_0_20,
        fix=CP_FIX,
        since="0.20.0",
        refused={"context_parallel_size": 2, "attn_implementation": "eager"},
        accepted={"context_parallel_size": 2, **SDPA},
    ),
    *(
        Validator(
            "axolotl-context-parallel-notice",
            "context_parallel_size > 1: logged losses differ from a run without it.",
            CP,
            at_release(cp_notice, since),
            fix="Nothing to change: compare losses with this in mind (or train without context parallelism).",
            level=Severity.WARNING,
            since=since,
            until=until,
            refused={"context_parallel_size": 2, **attn},
            accepted={"context_parallel_size": 1, **attn},
        )
        for since, until, attn in (
            ("0.19.0", "0.20.0", GLM),  # (flash_attention_2 works too where ring-flash-attn is installed)
            ("0.20.0", "0.21.0", SDPA),
            ("0.21.0", None, SDPA),
        )
    ),
    Validator(
        "axolotl-sequence-parallel-degree",
        "sequence_parallel_degree instead of context_parallel_size.",
        CP,
        when(
            lambda v: v.get("sequence_parallel_degree") and not v.get("context_parallel_size"),
            "`sequence_parallel_degree` is deprecated, use `context_parallel_size`",
            "sequence_parallel_degree",
        ),
        fix="Rename sequence_parallel_degree to context_parallel_size.",
        level=Severity.WARNING,
        until="0.20.0",  # since 0.20 the built-in context_parallel plugin copies it over before this runs
        refused={"sequence_parallel_degree": 1},
        accepted={"context_parallel_size": 1},
    ),
    Validator(
        "axolotl-ring-attn-deprecated",
        "ring_attn_func or heads_k_stride, unused since ringmaster context parallelism.",
        f"{COMPLEX}.validate_ring_attn_func",
        when(
            lambda v: v.get("ring_attn_func") is not None or v.get("heads_k_stride") is not None,
            "`ring_attn_func` and `heads_k_stride` are deprecated and unused; ringmaster context parallelism "
            "replaced the ring_flash_attn backend",
            lambda v: "ring_attn_func" if v.get("ring_attn_func") is not None else "heads_k_stride",
        ),
        fix="Remove ring_attn_func and heads_k_stride; context_parallel configures the ringmaster backend.",
        level=Severity.WARNING,
        since="0.20.0",
        refused={"ring_attn_func": "batch_ring"},
        accepted={"ring_attn_func": None, "context_parallel_size": 1},
    ),
    Validator(
        "axolotl-context-parallel-deepspeed",
        "context_parallel_size > 1 under DeepSpeed with RL, GLM DSA kernels or a Ring/USP backend.",
        f"{COMPLEX}.check_context_parallel_deepspeed",
        cp_deepspeed,
        fix="Use FSDP2 for these, or context_parallel.backend: ulysses with the full CP degree for SFT.",
        since="0.21.0",
        refused={
            **SDPA,
            "deepspeed": "deepspeed_configs/zero2.json",
            "context_parallel": {"size": 2, "backend": "ring"},
        },
        accepted={**SDPA, "deepspeed": "deepspeed_configs/zero2.json", "context_parallel": {"size": 2}},
    ),
)

register(VALIDATORS)

out_of_scope(
    {
        "utils/schemas/validation.py:LoRAValidationMixin.check_lora_kernels_dora": "no-effect",  # returns data as is
        f"{COMPLEX}.check_tensor_parallel_size": "no-effect",  # fills tensor_parallel_size 1, the default
        # moves dpo_beta to rl_beta when rl_beta is unset: the same beta trains (deprecated.py warns on dpo_beta)
        f"{COMPLEX}.check_rl_beta": "no-effect",
        # 0.19 only (0.20+ warns, axolotl-ring-attn-deprecated): picks the ring attention variant for CP, same math
        f"{COMPLEX}.validate_ring_attn_func": "no-effect",
        # a plain method no validator calls: it never runs at start-up
        f"{COMPLEX}.hint_gradient_checkpointing_dpo_lora_ddp": "no-effect",
        "utils/schemas/peft.py:LoraConfig.convert_loraplus_lr_embedding": "no-effect",  # "1e-6" -> 1e-6
        "utils/schemas/peft.py:LoraConfig.validate_lora_dropout": "no-effect",  # null -> 0.0, PEFT's default too
        # generate_samples defaults to from_causal_lm: sampling during training, the weights are the same
        "utils/schemas/diffusion.py:DiffusionLMConfig._default_generate_samples": "no-effect",
        # the cloud launchers' own YAML (--cloud), not the training config; the build context must exist on disk
        "utils/schemas/cloud.py:CloudImageBuild.resolve_paths": "environment",
        "utils/schemas/cloud.py:CloudImageConfig.exclusive_source": "environment",
    }
)

# Rules older than the validator table mirror these (rules/adapter.py). layers-pattern-without-indices fires when
# peft_layers_to_transform is absent where Axolotl also refuses an empty list; quantized-without-adapter, validate_
# adapter's first branch, ignores `inference` (the second branch is axolotl-unknown-adapter).
mirrored_by(QLORA_QUANTIZATION.id, ["utils/schemas/peft.py:LoraConfig.validate_qlora"])
mirrored_by(TARGET_PARAMETERS_DROPOUT.id, ["utils/schemas/peft.py:LoraConfig.validate_lora_target_parameters_dropout"])
mirrored_by(
    LAYERS_PATTERN_WITHOUT_INDICES.id, ["utils/schemas/validation.py:LoRAValidationMixin.check_peft_layers_pattern"]
)
