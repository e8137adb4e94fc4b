"""Axolotl's batching, loss, EBFT and quantization-dtype validators (OptimizationValidationMixin,
DistributedValidationMixin's optimizer check, EBFTValidationMixin, quantization.py), from the YAML alone.

After-validators see the attention backend Axolotl derives from the legacy flags (`attention`) and pydantic's
defaults (micro_batch_size: 1); before-validators see the raw YAML, including EBFT's own defaults.
"""

from __future__ import annotations

from typing import Any

from ...results.findings import Severity
from .backends import PACKING_ATTN, base, chosen
from .conditions import ebft_torch_compile
from .optimization import MIXIN, UNTIED, Values, above_one, block, past
from .validator import OLDEST, Check, Found, Validator, register
from .validator import when as _when

EBFT = "utils/schemas/validation.py:EBFTValidationMixin."


def batch_flattening(varlen_backend: bool) -> Check:
    """check_batch_flattening_fa's refusals (an explicit true, not auto); 0.21 also counts attn_implementation:
    varlen as a varlen backend."""

    def check(v: Values) -> Found | None:
        value, impl = v.get("batch_flattening"), chosen(v)[0]
        if not value or value == "auto" or not (impl is None or isinstance(impl, str)):
            return None
        if (base(impl) if impl else None) not in PACKING_ATTN and not (varlen_backend and impl == "varlen"):
            return (
                "batch_flattening requires a varlen-capable attention backend (e.g., attn_implementation: "
                "flash_attention_2).",
                "batch_flattening",
            )
        if v.get("sample_packing"):
            return "batch_flattening not compatible with sample_packing", "sample_packing"
        return None

    return check


def _single_batch(v: Values) -> bool:
    value = v.get("batch_flattening")
    return bool(value) and value != "auto" and (v["micro_batch_size"] if "micro_batch_size" in v else 1) == 1


def _liger(v: Values) -> bool:
    return bool(v.get("batch_flattening") and block(v, "trl").get("use_liger_loss"))


CROSS_ENTROPY = (
    "cut_cross_entropy",
    "chunked_cross_entropy",
    "liger_cross_entropy",
    "liger_fused_linear_cross_entropy",
)


def _cross_entropy(v: Values) -> Found | None:
    enabled = [k for k in CROSS_ENTROPY if v.get(k)]
    if len(enabled) > 1:
        return (
            f"Only one cross entropy optimization can be enabled at a time. Found {len(enabled)} enabled: "
            f"{', '.join(enabled)}. Please disable all but one.",
            enabled[1],
        )
    return None


CUSTOM_LOSS_CONFLICTS = (
    "rl",
    "reward_model",
    "process_reward_model",
    "cut_cross_entropy",
    "liger_fused_linear_cross_entropy",
    "chunked_cross_entropy",
)


def _custom_loss(v: Values) -> Found | None:
    """check_custom_loss_conflicts (0.20+): DFT and EAFT are SFT-only per-token losses."""
    losses = [k for k in ("use_dft", "use_eaft") if v.get(k)]
    if not losses:
        return None
    if len(losses) > 1:
        return "`use_dft` and `use_eaft` cannot be enabled together.", "use_eaft"
    conflicts = [k for k in CUSTOM_LOSS_CONFLICTS if v.get(k)]
    if above_one(v, "context_parallel_size", "sequence_parallel_degree"):
        conflicts.append("context_parallel_size > 1")
    if not conflicts:
        return None
    parallel = "context_parallel_size" if v.get("context_parallel_size") else "sequence_parallel_degree"
    return (
        f"`{losses[0]}` is an SFT-only loss and cannot be combined with: {', '.join(conflicts)}.",
        conflicts[0] if conflicts[0] in v else parallel,
    )


def _tensor_parallel_optimizer(v: Values) -> Found | None:
    if above_one(v, "tensor_parallel_size") and v.get("optimizer") in (
        "paged_adamw_8bit",
        "adamw_8bit",
        "adamw_bnb_8bit",
    ):
        return (
            "tensor_parallel_size is not supported with paged_adamw_8bit, adamw_8bit, and adamw_bnb_8bit optimizers",
            "tensor_parallel_size",
        )
    return None


def _strided(v: Values) -> bool:
    """rl: ebft with ebft.mode: strided."""
    return v.get("rl") == "ebft" and block(v, "ebft").get("mode") == "strided"


def _ebft_memory(v: Values) -> Found | None:
    """check_ebft_strided_sequence_len: a rough activation budget of strided EBFT (the schema's defaults filled in)."""
    if not _strided(v):
        return None
    ebft = block(v, "ebft")
    seq, samples = v.get("sequence_len", 512), ebft.get("n_samples_per_prompt", 4)
    generated, stride, context = ebft.get("generate_max_len", 8), ebft.get("stride", 8), ebft.get("context_length", 8)
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (seq, samples, generated, stride, context)):
        return None
    if not stride:
        return None
    full = seq + ((seq - generated - context) // stride + 1) * generated
    if full * samples <= 20000:
        return None
    return (
        f"EBFT strided: full_seq_len={full} * n_samples={samples} = {full * samples} token-samples per step. This "
        "may require >24GB VRAM for a 1B+ model. Consider reducing sequence_len, n_samples_per_prompt, or stride.",
        "sequence_len" if "sequence_len" in v else "ebft",
    )


def _reentrant_key(v: Values) -> Any:
    return (
        ("gradient_checkpointing_kwargs", "use_reentrant")
        if "gradient_checkpointing_kwargs" in v
        else "gradient_checkpointing"
    )


# quantization.py validate_ao_dtype: the names it accepts, and the list its message gives
AO_DTYPES = ("int4", "int8", "float8_e4m3fn", "nvfp4", "mxfp4", "ternary", "fp8", "float8")
AO_FIELDS = (("qat", ("activation_dtype", "weight_dtype")), ("quantization", ("weight_dtype", "activation_dtype")))


def _ao_dtype(v: Values) -> Found | None:
    """QATConfig/PTQConfig.validate_dtype, in pydantic's field order (qat before quantization)."""
    for section, fields in AO_FIELDS:
        for name in fields:
            value = block(v, section).get(name)
            if value is not None and not isinstance(value, (dict, list)) and value not in AO_DTYPES:
                return f"Invalid dtype: '{value}'. Must be one of: {list(AO_DTYPES)}", (section, name)
    return None


def _flattening(varlen_backend: bool, since: str, until: str | None) -> tuple[Validator, ...]:
    """check_batch_flattening_fa: its refusals, then the warnings it reaches past them."""
    refusals = batch_flattening(varlen_backend)
    flash = {"batch_flattening": True, "attn_implementation": "flash_attention_2"}
    # (attn_implementation: varlen, which 0.21 counts, is refused later for all but diffusion models)
    refused = {**flash, "sample_packing": True} if varlen_backend else {"batch_flattening": True, "micro_batch_size": 2}
    accepted = (
        {**flash, "micro_batch_size": 2} if varlen_backend else {"batch_flattening": "auto", "micro_batch_size": 2}
    )
    return (
        Validator(
            "axolotl-batch-flattening",
            "batch_flattening: true without a varlen attention backend, or with sample_packing.",
            MIXIN + "check_batch_flattening_fa",
            refusals,
            "Use a varlen attention backend (attn_implementation: flash_attention_2) without sample_packing, or "
            "batch_flattening: auto.",
            since=since,
            until=until,
            refused=refused,
            accepted=accepted,
        ),
        Validator(
            "axolotl-batch-flattening-single",
            "batch_flattening: true with micro_batch_size 1, where there is nothing to flatten.",
            MIXIN + "check_batch_flattening_fa",
            past(
                refusals,
                _single_batch,
                "batch_flattening has no effect with micro_batch_size == 1",
                "batch_flattening",
            ),
            "Raise micro_batch_size above 1, or drop batch_flattening.",
            level=Severity.WARNING,
            since=since,
            until=until,
            refused=flash,
            accepted={**flash, "micro_batch_size": 2},
        ),
        Validator(
            "axolotl-batch-flattening-liger",
            "batch_flattening with trl.use_liger_loss, which flattens only the scoring path.",
            MIXIN + "check_batch_flattening_fa",
            past(
                refusals,
                _liger,
                "batch_flattening with use_liger_loss: flattening will only apply to the scoring path (deferred "
                "logprobs). The training forward pass uses Liger's fused lm_head+loss kernel instead.",
                ("trl", "use_liger_loss"),
            ),
            "Expect batch_flattening to speed up only the scoring path, or turn trl.use_liger_loss off.",
            level=Severity.WARNING,
            since=since,
            until=until,
            refused={"batch_flattening": "auto", "trl": {"use_liger_loss": True}},
            accepted={"batch_flattening": "auto", "trl": {"use_liger_loss": False}},
        ),
    )


STRIDED = {"rl": "ebft", "ebft": {"mode": "strided"}}
FLEX = {**STRIDED, "attn_implementation": "flex_attention"}

VALIDATORS: tuple[Validator, ...] = (
    *_flattening(False, OLDEST, "0.21.0"),
    *_flattening(True, "0.21.0", None),
    Validator(
        "axolotl-cross-entropy-conflict",
        "More than one cross-entropy patch (cut, chunked, Liger, fused Liger).",
        MIXIN + "check_cross_entropy_conflicts",
        _cross_entropy,
        "Keep one of cut_cross_entropy, chunked_cross_entropy, liger_cross_entropy and "
        "liger_fused_linear_cross_entropy.",
        refused={"cut_cross_entropy": True, "chunked_cross_entropy": True},
        accepted={"cut_cross_entropy": True, "chunked_cross_entropy": False},
    ),
    Validator(
        "axolotl-custom-loss",
        "use_dft/use_eaft together, or with RL, reward models, fused cross-entropy or context parallelism.",
        MIXIN + "check_custom_loss_conflicts",
        _custom_loss,
        "Use one of use_dft and use_eaft, for plain SFT without RL, reward models, cut/chunked/fused cross-entropy "
        "or context parallelism.",
        since="0.20.0",
        refused={"use_dft": True, "chunked_cross_entropy": True},
        accepted={"use_dft": True, "liger_cross_entropy": True},
    ),
    Validator(
        "axolotl-deepcompile",
        "deepcompile without DeepSpeed.",
        MIXIN + "check_deepcompile",
        _when(
            lambda v: v.get("deepcompile") and not v.get("deepspeed"),
            "DeepCompile is only supported with DeepSpeed",
            "deepcompile",
        ),
        "Set deepspeed (a DeepSpeed JSON config), or drop deepcompile.",
        refused={"deepcompile": True},
        accepted={"deepcompile": False},
    ),
    Validator(
        "axolotl-tensor-parallel-optimizer",
        "tensor_parallel_size > 1 with a bitsandbytes 8-bit AdamW.",
        "utils/schemas/validation.py:DistributedValidationMixin.check_tensor_parallel_optimizer",
        _tensor_parallel_optimizer,
        "Use adamw_torch_8bit or an unquantized optimizer with tensor parallelism.",
        since="0.20.0",
        refused={**UNTIED, "tensor_parallel_size": 2, "optimizer": "paged_adamw_8bit"},
        accepted={**UNTIED, "tensor_parallel_size": 2, "optimizer": "adamw_torch_8bit"},
    ),
    Validator(
        "axolotl-ebft-config",
        "rl: ebft without an ebft section.",
        EBFT + "check_ebft_config_required",
        _when(
            lambda v: v.get("rl") == "ebft" and not v.get("ebft"),
            "`ebft` config section is required when `rl: ebft` is set. Add an `ebft:` section with at least "
            "`mode: structured` or `mode: strided`.",
            "rl",
        ),
        "Add an ebft: section with at least mode: structured or mode: strided.",
        refused={"rl": "ebft"},
        accepted={"rl": "ebft", "ebft": {"mode": "structured"}},
    ),
    Validator(
        "axolotl-ebft-reentrant",
        "EBFT's strided mode with flex_attention and non-reentrant gradient checkpointing: Axolotl turns use_reentrant on.",
        EBFT + "check_ebft_gradient_checkpointing_reentrant",
        _when(
            lambda v: (
                _strided(v)
                and chosen(v)[0] == "flex_attention"
                and v.get("gradient_checkpointing")
                and not block(v, "gradient_checkpointing_kwargs").get("use_reentrant")
                and not ebft_torch_compile(v)
            ),
            "EBFT strided mode with flex_attention: setting `use_reentrant: true` in gradient_checkpointing_kwargs "
            "(required for flex_attention compatibility). Non-reentrant checkpointing causes CheckpointError with "
            "BlockMask metadata.",
            _reentrant_key,
        ),
        "Set gradient_checkpointing_kwargs.use_reentrant: true, as flex_attention requires under EBFT.",
        level=Severity.WARNING,
        refused={**FLEX, "gradient_checkpointing": True},
        accepted={**FLEX, "gradient_checkpointing": True, "gradient_checkpointing_kwargs": {"use_reentrant": True}},
    ),
    Validator(
        "axolotl-ebft-activation-offloading",
        "activation_offloading with EBFT's strided mode and flex_attention.",
        EBFT + "check_ebft_activation_offloading",
        _when(
            lambda v: _strided(v) and v.get("activation_offloading") is True and chosen(v)[0] == "flex_attention",
            "EBFT strided mode: `activation_offloading: true` is incompatible with `attn_implementation: "
            "flex_attention`. Activation offloading replaces gradient checkpointing with FSDP-style wrapping that "
            "conflicts with flex_attention's reentrant checkpoint requirement. Remove `activation_offloading` — "
            "the strided trainer uses micro-batched forward passes for memory efficiency instead.",
            "activation_offloading",
        ),
        "Drop activation_offloading: the strided trainer's micro-batched forward passes save the memory instead.",
        refused={**FLEX, "activation_offloading": True},
        accepted={**FLEX, "activation_offloading": False},
    ),
    Validator(
        "axolotl-ebft-strided-memory",
        "EBFT's strided mode with a sequence budget likely to need more than 24 GB.",
        EBFT + "check_ebft_strided_sequence_len",
        _ebft_memory,
        "Reduce sequence_len, ebft.n_samples_per_prompt or raise ebft.stride.",
        level=Severity.WARNING,
        refused={**STRIDED, "sequence_len": 4096},
        accepted={**STRIDED, "sequence_len": 2048},
    ),
    Validator(
        "axolotl-ao-dtype",
        "A qat/quantization weight_dtype or activation_dtype torchao does not know.",
        "utils/schemas/quantization.py:QATConfig.validate_dtype, utils/schemas/quantization.py:PTQConfig.validate_dtype, "
        "utils/schemas/quantization.py:validate_ao_dtype",
        _ao_dtype,
        "Use one of int4, int8, float8_e4m3fn (or fp8/float8), nvfp4, mxfp4 and ternary.",
        refused={"quantization": {"weight_dtype": "int3"}},
        accepted={"quantization": {"weight_dtype": "int4"}},
    ),
)

register(VALIDATORS)
