"""AxolotlInputConfig's own start-up validators (axolotl/utils/schemas/config.py) other than attention's,
checked from the YAML alone; mode="after" ones read the field defaults where the YAML leaves a key out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...results.findings import Severity
from .config_input import CONFIG
from .validator import Found, Validator, Values, register, when

# enums.py INDUCTOR_COMPILE_OPTIONS_ALLOWLIST (the same in every release)
INDUCTOR_OPTIONS = frozenset(
    {
        "coordinate_descent_tuning",
        "coordinate_descent_check_all_directions",
        "shape_padding",
        "epilogue_fusion",
        "max_autotune_gemm",
        "fx_graph_cache",
        "assume_aligned_inputs",
        "comprehensive_padding",
        "decompose_mem_bound_mm",
        "triton.cudagraphs",
    }
)


def untrained_tokens(flat: bool) -> Any:
    """warn_peft_trainable_token_to_fix_untrained: 0.19 and 0.20 look a token up in a dict's keys (module names),
    so every token of a per-module mapping warns; 0.21 looks in its lists."""

    def check(v: Values) -> Found | None:
        fixed, trainable = v.get("fix_untrained_tokens"), v.get("peft_trainable_token_indices")
        if not fixed or not trainable or isinstance(trainable, str):
            return None
        tokens = [fixed] if isinstance(fixed, int) else fixed
        if isinstance(trainable, Mapping) and flat:
            if not all(isinstance(ids, list) for ids in trainable.values()):
                return None
            known = {t for ids in trainable.values() for t in ids if isinstance(t, int)}
        else:
            known = set(trainable) if isinstance(trainable, (list, Mapping)) else {trainable}
        if not isinstance(tokens, list):
            return None
        for i, token in enumerate(tokens):
            if isinstance(token, int) and token not in known:
                where = ("fix_untrained_tokens", i) if isinstance(fixed, list) else "fix_untrained_tokens"
                listed = "`peft_trainable_token_indices`" if flat else "`peft_trainable_token_indices: ` list"
                return (
                    f"Token {token} is fixed via `fix_untrained_tokens`, yet not in {listed}. Please add it, "
                    "otherwise the token won't be trained on.",
                    where,
                )
        return None

    return check


def inductor_options(v: Values) -> Found | None:
    options = v.get("torch_compile_options")
    bad = sorted(k for k in options if k not in INDUCTOR_OPTIONS) if isinstance(options, Mapping) else []
    if bad:
        return (
            f"torch_compile_options contains disallowed inductor flags: {bad}. Allowed: {sorted(INDUCTOR_OPTIONS)}.",
            ("torch_compile_options", bad[0]),
        )
    return None


def balanced_labels(v: Values) -> Found | None:
    """check_label_balanced_packing (0.21), on the field defaults: balance_labels false, the window 1 step."""
    balance, window = v.get("balance_labels"), v.get("label_balance_window_optim_steps", 1)
    streamed = v.get("streaming") or v.get("pretraining_dataset")
    if balance and (
        (not v.get("sample_packing") and (streamed or v.get("group_by_length")))
        or any(v.get(k) for k in ("sample_packing_sequentially", "curriculum_sampling", "rl"))
        or v.get("diffusion_lm") is not None
        or v.get("reward_model")
        or v.get("process_reward_model")
    ):
        return (
            "balance_labels requires causal LM sample_packing or map-style fixed-count batching without sequential, "
            "curriculum, or conflicting length-grouped sampling",
            "balance_labels",
        )
    if isinstance(window, int) and not isinstance(window, bool) and window > 1:
        if not balance:
            return "label_balance_window_optim_steps requires balance_labels", "label_balance_window_optim_steps"
        if streamed:
            return (
                "label_balance_window_optim_steps > 1 requires non-streaming training",
                "label_balance_window_optim_steps",
            )
    accelerator = v.get("accelerator_config")
    if balance and isinstance(accelerator, Mapping) and accelerator.get("split_batches"):
        return (
            "balance_labels requires split_batches=False for optimizer-step grouping",
            ("accelerator_config", "split_batches"),
        )
    return None


def fsdp_version_0_19(v: Values) -> Any:
    """fsdp_version after 0.19's check_fsdp_version_in_fsdp_config: read from fsdp_config, else 1 under FSDP."""
    version, config = v.get("fsdp_version"), v.get("fsdp_config")
    if not version and isinstance(config, Mapping) and config:
        return config.get("version") or config.get("fsdp_version") or 1
    return version


def fp32_norms(fsdp2_only: bool) -> Any:
    def check(v: Values) -> Found | None:
        if not v.get("fp32_norms"):
            return None
        if v.get("fsdp_config") is None:
            return "fp32_norms requires FSDP to be enabled (fsdp_config block must be set).", "fp32_norms"
        if fsdp2_only and str(fsdp_version_0_19(v)) != "2":
            return (
                "fp32_norms requires fsdp_version: 2. FSDP1's flat-param dtype uniformity constraint is "
                "incompatible with keeping norms in fp32 while decoder layers run in bf16.",
                "fp32_norms",
            )
        return None

    return check


def cudagraphs(v: Values) -> bool:
    options = v.get("torch_compile_options")
    return bool(isinstance(options, Mapping) and options.get("triton.cudagraphs") and v.get("sample_packing"))


VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-fix-untrained-not-trainable",
        "A fix_untrained_tokens token missing from peft_trainable_token_indices.",
        CONFIG + "warn_peft_trainable_token_to_fix_untrained",
        untrained_tokens(flat=False),
        fix="Add the token to peft_trainable_token_indices, or drop it from fix_untrained_tokens.",
        level=Severity.WARNING,
        until="0.21.0",
        refused={"fix_untrained_tokens": [5], "peft_trainable_token_indices": [7]},
        accepted={"fix_untrained_tokens": [7], "peft_trainable_token_indices": [7]},
    ),
    Validator(
        "axolotl-fix-untrained-not-trainable",
        "A fix_untrained_tokens token missing from peft_trainable_token_indices.",
        CONFIG + "warn_peft_trainable_token_to_fix_untrained",
        untrained_tokens(flat=True),
        fix="Add the token to peft_trainable_token_indices, or drop it from fix_untrained_tokens.",
        level=Severity.WARNING,
        since="0.21.0",
        refused={"fix_untrained_tokens": 5, "peft_trainable_token_indices": {"embed_tokens": [7]}},
        accepted={"fix_untrained_tokens": 7, "peft_trainable_token_indices": {"embed_tokens": [7]}},
    ),
    Validator(
        "axolotl-inductor-options",
        "A torch_compile_options key outside Axolotl's inductor allowlist.",
        CONFIG + "validate_torch_compile_options",
        inductor_options,
        fix="Keep to the inductor flags the message allows.",
        refused={"torch_compile": True, "torch_compile_options": {"max_autotune": True}},
        accepted={"torch_compile": True, "torch_compile_options": {"max_autotune_gemm": True}},
    ),
    Validator(
        "axolotl-balance-labels",
        "balance_labels or its window with a data order it cannot group.",
        CONFIG + "check_label_balanced_packing",
        balanced_labels,
        fix="Use balance_labels with sample packing (or fixed-count map-style batching) and without streaming, "
        "sequential or curriculum sampling, RL, reward models or split_batches.",
        since="0.21.0",
        refused={"balance_labels": True, "curriculum_sampling": True},
        accepted={"balance_labels": True, "sample_packing": True},
    ),
    Validator(
        "axolotl-compile-options-without-compile",
        "torch_compile_options without torch_compile.",
        CONFIG + "check_torch_compile_options_requires_compile",
        when(
            lambda v: v.get("torch_compile_options") is not None and not v.get("torch_compile"),
            "torch_compile_options is set but torch_compile is not enabled. Set torch_compile: true (or "
            "torch_compile: auto) to use these flags.",
            "torch_compile_options",
        ),
        fix="Set torch_compile: true (or auto), or drop torch_compile_options.",
        refused={"torch_compile_options": {"shape_padding": True}},
        accepted={"torch_compile": "auto", "torch_compile_options": {"shape_padding": True}},
    ),
    Validator(
        "axolotl-cudagraphs-packing",
        "triton.cudagraphs with sample packing.",
        CONFIG + "check_cudagraphs_wo_static_shapes",
        when(
            cudagraphs,
            "torch_compile_options has `triton.cudagraphs: true` together with `sample_packing: true`. CUDA graphs "
            "require static shapes, but packed variable-length sequences are dynamic and will trigger graph "
            "re-capture or fallback. Disable one of them to get the cudagraphs speedup.",
            ("torch_compile_options", "triton.cudagraphs"),
        ),
        fix="Turn triton.cudagraphs or sample_packing off.",
        level=Severity.WARNING,
        refused={"sample_packing": True, "torch_compile": True, "torch_compile_options": {"triton.cudagraphs": True}},
        accepted={"torch_compile": True, "torch_compile_options": {"triton.cudagraphs": True}},
    ),
    Validator(
        "axolotl-fp32-norms-fsdp",
        "fp32_norms without FSDP (0.19: without FSDP2).",
        CONFIG + "check_fp32_norms",
        fp32_norms(fsdp2_only=True),
        fix="Shard with FSDP2 (fsdp_config with fsdp_version: 2), or drop fp32_norms.",
        until="0.20.0",
        refused={"fp32_norms": True, "fsdp_config": {"reshard_after_forward": True}},
        accepted={"fp32_norms": True, "fsdp_version": 2, "fsdp_config": {"reshard_after_forward": True}},
    ),
    Validator(
        "axolotl-fp32-norms-fsdp",
        "fp32_norms without FSDP (0.19: without FSDP2).",
        CONFIG + "check_fp32_norms",
        fp32_norms(fsdp2_only=False),
        fix="Shard with FSDP2 (fsdp_config with fsdp_version: 2), or drop fp32_norms.",
        since="0.20.0",
        refused={"fp32_norms": True},
        accepted={"fp32_norms": True, "fsdp_version": 2, "fsdp_config": {"reshard_after_forward": True}},
    ),
    Validator(
        "axolotl-fp32-norm-classes-ignored",
        "fp32_norm_classes without fp32_norms.",
        CONFIG + "check_fp32_norms",
        when(
            lambda v: v.get("fp32_norm_classes") and not v.get("fp32_norms"),
            "fp32_norm_classes is set but fp32_norms is not enabled; it will be ignored.",
            "fp32_norm_classes",
        ),
        fix="Set fp32_norms: true (with FSDP), or drop fp32_norm_classes.",
        level=Severity.WARNING,
        refused={"fp32_norm_classes": ["LlamaRMSNorm"]},
        accepted={"fp32_norm_classes": []},
    ),
    Validator(
        "axolotl-sdpa-varlen-packing",
        "sdpa_varlen without sample packing.",
        CONFIG + "check_sdpa_varlen",
        when(
            lambda v: v.get("sdpa_varlen") and not v.get("sample_packing"),
            "`sdpa_varlen` only affects packed rows; enable `sample_packing` or it is a no-op.",
            "sdpa_varlen",
        ),
        fix="Enable sample_packing, or drop sdpa_varlen.",
        level=Severity.WARNING,
        refused={"sdpa_varlen": True},
        accepted={"sdpa_varlen": True, "sample_packing": True},
    ),
    Validator(
        "axolotl-save-best-metric",
        "save_strategy: best without metric_for_best_model.",
        CONFIG + "check_save_strategy_best_requires_metric",
        when(
            lambda v: v.get("save_strategy") == "best" and not v.get("metric_for_best_model"),
            "save_strategy: 'best' requires metric_for_best_model to be set. Please specify the metric to use, e.g. "
            "metric_for_best_model: eval_loss",
            "save_strategy",
        ),
        fix="Set metric_for_best_model (eval_loss, for example), or choose another save_strategy.",
        refused={"save_strategy": "best"},
        accepted={"save_strategy": "best", "metric_for_best_model": "eval_loss"},
    ),
)

register(VALIDATORS)
