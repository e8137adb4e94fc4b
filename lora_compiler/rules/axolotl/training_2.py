"""Axolotl's training validators of saves, evals, renamed keys, fp16 full fine-tunes and FP8, from the YAML alone.

The second part of TrainingValidationMixin (schemas/validation.py); training.py holds the attention helpers
these reuse, training_3.py the rest.
"""

from __future__ import annotations

from typing import Any

from ...results.findings import Severity
from .backends import FLASH_LIB_ATTN, base
from .training import attention, on
from .validator import Found, Validator, Values, register, when


def _eval_strategy(v: Values) -> tuple[Any, str]:
    """eval_strategy as check_evals reads it (check_eval_strategy copies evaluation_strategy in first), and its key."""
    if v.get("eval_strategy") is None and v.get("evaluation_strategy") is not None:
        return v["evaluation_strategy"], "evaluation_strategy"
    return v.get("eval_strategy"), "eval_strategy"


def _eval_strategy_steps(v: Values) -> Found | None:
    strategy, key = _eval_strategy(v)
    if strategy and v.get("eval_steps") and strategy != "steps":
        return "eval_strategy and eval_steps mismatch. Please set eval_strategy to 'steps' or remove eval_steps.", key
    return None


def _eval_without_val_set(v: Values) -> Found | None:
    strategy, _ = _eval_strategy(v)
    # check_test_datasets_bench (which runs first) adds an empty test set for do_bench_eval without a val split
    tests = v.get("test_datasets") or (v.get("do_bench_eval") and not v.get("val_set_size"))
    if v.get("val_set_size") == 0 and (v.get("eval_steps") or strategy) and not tests and strategy != "no":
        return "eval_steps and eval_strategy are not supported with val_set_size == 0", "val_set_size"
    return None


def _evals_per_epoch_strategy(v: Values) -> Found | None:
    strategy, key = _eval_strategy(v)
    if v.get("evals_per_epoch") and strategy and strategy != "steps":
        return "eval_strategy must be empty or set to `steps` when used with evals_per_epoch.", key
    return None


def _fft_fp16_packing(v: Values) -> Found | None:
    bf16 = v.get("bf16", "auto") == "auto" or on(v.get("bf16")) or on(v.get("bfloat16"))  # bf16 defaults to auto
    fp16 = next((k for k in ("fp16", "float16") if on(v.get(k))), None)
    attn = attention(v)
    flash = attn is not None and base(attn) in FLASH_LIB_ATTN
    if not bf16 and fp16 and not v.get("adapter") and not flash and on(v.get("sample_packing")):
        return "Full fine tune w/o FA2 w/ sample packing and fp16/float16 is likely to raise errors. Try LoRA.", fp16
    return None


def _fp8_recipe(v: Values) -> Any:
    """fp8.py resolve_fp8_recipe on the raw fp8_config: its recipe, tensorwise by default."""
    block = v.get("fp8_config")
    return block.get("recipe", "tensorwise") if isinstance(block, dict) else "tensorwise"


def _fp8_fsdp_checkpointing(v: Values) -> Found | None:
    block = v.get("fsdp_config") or {}
    if not v.get("fp8") or not isinstance(block, dict):
        return None
    key = next((k for k in ("activation_checkpointing", "fsdp_activation_checkpointing") if block.get(k) is True), None)
    if key is None:
        return None
    return (
        "FP8 + FSDP2 + activation checkpointing may be slower than BF16 training. Please considering setting "
        "`activation_checkpointing: false` in your FSDP config.",
        ("fsdp_config", key),
    )


# fp8: true is refused on a GPU without FP8 (the differential's), so accepted examples avoid it.
FP8 = {"fp8": True, "torch_compile": True}
FSDP2 = {"fsdp_version": 2, "reshard_after_forward": True}
VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-gas-batch-size",
        "gradient_accumulation_steps together with batch_size.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_gas_bsz",
        when(
            lambda v: v.get("gradient_accumulation_steps") and v.get("batch_size"),
            "please set only one of gradient_accumulation_steps or batch_size",
            "batch_size",
        ),
        fix="Drop batch_size and keep gradient_accumulation_steps.",
        refused={"batch_size": 8},
        accepted={"batch_size": 8, "gradient_accumulation_steps": None},
    ),
    Validator(
        "axolotl-eval-batch-size",
        "eval_batch_size different from micro_batch_size.",
        "utils/schemas/validation.py:TrainingValidationMixin.hint_eval_train_mbsz",
        when(
            lambda v: (
                v.get("eval_batch_size")
                and v.get("micro_batch_size")
                and v.get("eval_batch_size") != v.get("micro_batch_size")
            ),
            "eval_batch_size != micro_batch_size. This can lead to VRAM instability.",
            "eval_batch_size",
        ),
        fix="Set eval_batch_size equal to micro_batch_size, or leave it out.",
        level=Severity.WARNING,
        refused={"eval_batch_size": 4},
        accepted={"eval_batch_size": 1},
    ),
    Validator(
        "axolotl-warmup-steps-ratio",
        "warmup_steps together with warmup_ratio.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_warmup",
        when(
            lambda v: v.get("warmup_steps") and v.get("warmup_ratio"),
            "warmup_steps and warmup_ratio are mutually exclusive",
            "warmup_ratio",
        ),
        fix="Keep one of warmup_steps and warmup_ratio.",
        refused={"warmup_steps": 10, "warmup_ratio": 0.1},
        accepted={"warmup_steps": 10, "warmup_ratio": 0},
    ),
    Validator(
        "axolotl-save-strategy-steps",
        "save_steps with a save_strategy other than steps.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_saves",
        when(
            lambda v: v.get("save_strategy") and v.get("save_steps") and v.get("save_strategy") != "steps",
            "save_strategy and save_steps mismatch. Please set save_strategy to 'steps' or remove save_steps.",
            "save_strategy",
        ),
        fix="Set save_strategy: steps, or remove save_steps.",
        refused={"save_strategy": "epoch", "save_steps": 100},
        accepted={"save_strategy": "steps", "save_steps": 100},
    ),
    Validator(
        "axolotl-saves-per-epoch-steps",
        "saves_per_epoch together with save_steps.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_saves",
        when(
            lambda v: v.get("saves_per_epoch") and v.get("save_steps"),
            "save_steps and saves_per_epoch are mutually exclusive and cannot be used together.",
            "saves_per_epoch",
        ),
        fix="Keep one of save_steps and saves_per_epoch.",
        refused={"saves_per_epoch": 2, "save_steps": 100},
        accepted={"saves_per_epoch": 2},
    ),
    Validator(
        "axolotl-push-without-save",
        "hub_model_id with a save_strategy that saves nothing.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_push_save",
        when(
            lambda v: v.get("hub_model_id") and v.get("save_strategy") not in ("steps", "epoch", None),
            "hub_model_id is set without any models being saved. To save a model, set save_strategy.",
            "save_strategy",
        ),
        fix="Set save_strategy to steps or epoch, or drop hub_model_id.",
        level=Severity.WARNING,
        refused={"hub_model_id": "me/model", "save_strategy": "no"},
        accepted={"hub_model_id": "me/model", "save_strategy": "epoch"},
    ),
    Validator(
        "axolotl-eval-strategy-steps",
        "eval_steps with an eval_strategy other than steps.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_evals",
        _eval_strategy_steps,
        fix="Set eval_strategy: steps, or remove eval_steps.",
        refused={"val_set_size": 0.05, "eval_strategy": "epoch", "eval_steps": 50},
        accepted={"val_set_size": 0.05, "eval_strategy": "steps", "eval_steps": 50},
    ),
    Validator(
        "axolotl-eval-without-val-set",
        "eval_steps or eval_strategy with val_set_size: 0 and no test_datasets.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_evals",
        _eval_without_val_set,
        fix="Set val_set_size above 0 (or test_datasets), or drop eval_steps and eval_strategy.",
        refused={"val_set_size": 0, "eval_steps": 50},
        accepted={"val_set_size": 0, "eval_strategy": "no"},
    ),
    Validator(
        "axolotl-evals-per-epoch-steps",
        "evals_per_epoch together with eval_steps.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_evals",
        when(
            lambda v: v.get("evals_per_epoch") and v.get("eval_steps"),
            "eval_steps and evals_per_epoch are mutually exclusive and cannot be used together.",
            "evals_per_epoch",
        ),
        fix="Keep one of eval_steps and evals_per_epoch.",
        refused={"val_set_size": 0.05, "evals_per_epoch": 2, "eval_steps": 50},
        accepted={"val_set_size": 0.05, "evals_per_epoch": 2},
    ),
    Validator(
        "axolotl-evals-per-epoch-strategy",
        "evals_per_epoch with an eval_strategy other than steps.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_evals",
        _evals_per_epoch_strategy,
        fix="Set eval_strategy: steps (or leave it out) with evals_per_epoch.",
        refused={"val_set_size": 0.05, "evals_per_epoch": 2, "eval_strategy": "epoch"},
        accepted={"val_set_size": 0.05, "evals_per_epoch": 2, "eval_strategy": "steps"},
    ),
    Validator(
        "axolotl-bench-eval-schedule",
        "do_bench_eval without evals_per_epoch or eval_steps.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_evals",
        when(
            lambda v: v.get("do_bench_eval") and not (v.get("evals_per_epoch") or v.get("eval_steps")),
            "do_bench_eval requires evals_per_epoch or eval_steps to be set.",
            "do_bench_eval",
        ),
        fix="Set evals_per_epoch or eval_steps with do_bench_eval.",
        refused={"val_set_size": 0.05, "do_bench_eval": True},
        accepted={"val_set_size": 0.05, "do_bench_eval": True, "evals_per_epoch": 2},
    ),
    Validator(
        "axolotl-neftune-renamed",
        "noisy_embedding_alpha, which Axolotl renames neftune_noise_alpha.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_neftune",
        when(
            lambda v: v.get("noisy_embedding_alpha") and not v.get("neftune_noise_alpha"),
            "noisy_embedding_alpha is silently moved to neftune_noise_alpha (NEFTune noise on the embeddings)",
            "noisy_embedding_alpha",
        ),
        fix="Rename noisy_embedding_alpha to neftune_noise_alpha.",
        level=Severity.INFO,
        refused={"noisy_embedding_alpha": 5},
        accepted={"neftune_noise_alpha": 5},
    ),
    Validator(
        "axolotl-neftune-both",
        "noisy_embedding_alpha together with neftune_noise_alpha.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_neftune",
        when(
            lambda v: v.get("noisy_embedding_alpha") and v.get("neftune_noise_alpha"),
            "noisy_embedding_alpha is deprecated, use neftune_noise_alpha; both are set, please remove the "
            "deprecated noisy_embedding_alpha setting",
            "noisy_embedding_alpha",
        ),
        fix="Remove noisy_embedding_alpha and keep neftune_noise_alpha.",
        refused={"noisy_embedding_alpha": 5, "neftune_noise_alpha": 5},
        accepted={"noisy_embedding_alpha": 0, "neftune_noise_alpha": 5},
    ),
    Validator(
        "axolotl-multipack-buffer-renamed",
        "pretrain_multipack_buffer_size, deprecated for streaming_multipack_buffer_size.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_multipack_buffer_size",
        when(
            lambda v: v.get("pretrain_multipack_buffer_size") and not v.get("streaming_multipack_buffer_size"),
            "`pretrain_multipack_buffer_size` is deprecated in v0.13.0, will be removed in v0.14.0. Use "
            "`streaming_multipack_buffer_size` instead.",
            "pretrain_multipack_buffer_size",
        ),
        fix="Rename pretrain_multipack_buffer_size to streaming_multipack_buffer_size.",
        level=Severity.WARNING,
        refused={"pretrain_multipack_buffer_size": 1000},
        accepted={"streaming_multipack_buffer_size": 1000},
    ),
    Validator(
        "axolotl-multipack-buffer-both",
        "pretrain_multipack_buffer_size together with streaming_multipack_buffer_size.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_multipack_buffer_size",
        when(
            lambda v: v.get("pretrain_multipack_buffer_size") and v.get("streaming_multipack_buffer_size"),
            "pretrain_multipack_buffer_size is deprecated, use streaming_multipack_buffer_size; both are set, please "
            "remove the deprecated pretrain_multipack_buffer_size setting",
            "pretrain_multipack_buffer_size",
        ),
        fix="Remove pretrain_multipack_buffer_size and keep streaming_multipack_buffer_size.",
        refused={"pretrain_multipack_buffer_size": 1000, "streaming_multipack_buffer_size": 1000},
        accepted={"pretrain_multipack_buffer_size": 0, "streaming_multipack_buffer_size": 1000},
    ),
    Validator(
        "axolotl-fft-fp16-packing",
        "A full fine-tune in fp16 with sample_packing and no flash-attn backend.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_fft_possible_bad_config",
        _fft_fp16_packing,
        fix="Train in bf16, use a flash-attn backend, or train a LoRA adapter.",
        level=Severity.WARNING,
        refused={"adapter": None, "bf16": False, "fp16": True, "sample_packing": True, "attn_implementation": "sdpa"},
        accepted={"adapter": None, "fp16": True, "sample_packing": True, "attn_implementation": "sdpa"},
    ),
    Validator(
        "axolotl-fp8-config-without-fp8",
        "fp8_config without fp8: true.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_fp8_config",
        when(
            lambda v: v.get("fp8_config") is not None and not v.get("fp8"),
            "`fp8_config` requires `fp8: true`; set `fp8: true` or remove `fp8_config`.",
            "fp8_config",
        ),
        fix="Set fp8: true, or remove fp8_config.",
        refused={"fp8_config": {"recipe": "rowwise"}},
        accepted={"fp8_config": None},
    ),
    Validator(
        "axolotl-fp8-all-gather-recipe",
        "fp8_enable_fsdp_float8_all_gather with a recipe other than tensorwise.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_fp8_config",
        when(
            lambda v: v.get("fp8_enable_fsdp_float8_all_gather") and _fp8_recipe(v) != "tensorwise",
            "`fp8_enable_fsdp_float8_all_gather` only supports the tensorwise `fp8_config.recipe`; disable it when "
            "using rowwise scaling.",
            lambda v: ("fp8_config", "recipe"),
        ),
        fix="Use fp8_config.recipe: tensorwise, or turn fp8_enable_fsdp_float8_all_gather off.",
        refused={**FP8, "fp8_enable_fsdp_float8_all_gather": True, "fp8_config": {"recipe": "rowwise"}},
        accepted={"fp8_enable_fsdp_float8_all_gather": True, "fsdp_version": 2, "fsdp_config": FSDP2},
    ),
    Validator(
        "axolotl-fp8-without-compile",
        "fp8 without torch_compile.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_fp8_config",
        when(
            lambda v: v.get("fp8") and not v.get("torch_compile"),
            "torch_compile is strongly recommended for FP8 training in order to see speed improvements. Please "
            "consider setting `torch_compile: true` in your config.",
            "fp8",
        ),
        fix="Set torch_compile: true for FP8 training.",
        level=Severity.WARNING,
        refused={"fp8": True},
        accepted={"fp8": False},
    ),
    Validator(
        "axolotl-fp8-fsdp-checkpointing",
        "fp8 with FSDP activation checkpointing.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_fp8_config",
        _fp8_fsdp_checkpointing,
        fix="Set activation_checkpointing: false in fsdp_config for FP8 training.",
        level=Severity.WARNING,
        refused={**FP8, "fsdp_config": {**FSDP2, "activation_checkpointing": True}},
        accepted={"fsdp_config": {**FSDP2, "activation_checkpointing": True}},
    ),
    Validator(
        "axolotl-fp8-all-gather-fsdp",
        "fp8_enable_fsdp_float8_all_gather without FSDP2.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_fp8_config",
        when(
            lambda v: v.get("fp8_enable_fsdp_float8_all_gather") and not v.get("fsdp_version") == 2,
            "fp8_enable_fsdp_float8_all_gather requires FSDP2 (fsdp_version: 2) to be used.",
            "fp8_enable_fsdp_float8_all_gather",
        ),
        fix="Use FSDP2 (fsdp_version: 2), or turn fp8_enable_fsdp_float8_all_gather off.",
        until="0.20.0",
        refused={"fp8_enable_fsdp_float8_all_gather": True},
        accepted={"fp8_enable_fsdp_float8_all_gather": True, "fsdp_version": 2, "fsdp_config": FSDP2},
    ),
    Validator(
        "axolotl-fp8-all-gather-fsdp",
        "fp8_enable_fsdp_float8_all_gather without FSDP2.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_fp8_config",
        when(
            lambda v: v.get("fp8_enable_fsdp_float8_all_gather") and not v.get("fsdp_config"),
            "fp8_enable_fsdp_float8_all_gather requires FSDP2 (fsdp_config) to be used.",
            "fp8_enable_fsdp_float8_all_gather",
        ),
        fix="Configure FSDP2 with fsdp_config, or turn fp8_enable_fsdp_float8_all_gather off.",
        since="0.20.0",
        refused={"fp8_enable_fsdp_float8_all_gather": True},
        accepted={"fp8_enable_fsdp_float8_all_gather": True, "fsdp_config": FSDP2},
    ),
)

register(VALIDATORS)
