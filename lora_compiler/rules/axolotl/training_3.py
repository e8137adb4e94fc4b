"""Axolotl's validators of causal-LM evals, mistral-common, memory limits and the schemas/training.py and
schemas/model.py fields, from the YAML alone.

The last checks of TrainingValidationMixin, SystemValidationMixin (the ones lora.py does not mirror) and the
field validators of schemas/training.py and schemas/model.py; training.py holds the helpers these reuse.
"""

from __future__ import annotations

from typing import Any

from ...results.findings import Severity
from .training import on
from .validator import Found, Validator, Values, out_of_scope, register, when

SUPPORTED_METRICS = ("chrf", "comet", "perplexity", "sacrebleu", "ter")  # validation.py SUPPORTED_METRICS
MISTRAL_COMMON_REFUSES = {  # check_mistral_common_incompatible_options, in Axolotl's order
    "added_tokens_overrides": "added_tokens_overrides is not supported with mistral-common tokenizer",
    "special_tokens": "special_tokens override is not supported with mistral-common tokenizer",
    "tokens": "tokens override is not supported with mistral-common tokenizer",
    "chat_template": "Setting chat_template is not supported with mistral-common tokenizer",
    "processor_kwargs": "processor_kwargs is not supported with mistral-common tokenizer",
}
MODEL_NAMES = ("base_model", "base_model_config", "tokenizer_config")
RESERVED_PROCESSOR_KWARGS = ("revision", "trust_remote_code")


def _eval_sample_packing(v: Values) -> Any:
    """eval_sample_packing as check_causal_lm_evals reads it: check_eval_packing copies sample_packing in first."""
    if v.get("eval_sample_packing") is None and v.get("sample_packing") and not v.get("eval_table_size"):
        return True
    return v.get("eval_sample_packing")


def _causal_lm_eval_packing(v: Values) -> Found | None:
    if v.get("do_causal_lm_eval") and _eval_sample_packing(v):
        key = "eval_sample_packing" if "eval_sample_packing" in v else "do_causal_lm_eval"
        return "do_causal_lm_eval is enabled, eval_sample_packing must be set to False", key
    return None


def _causal_lm_metrics(v: Values) -> Found | None:
    metrics = v.get("eval_causal_lm_metrics")
    if not metrics:
        return None
    if not isinstance(metrics, list):
        return "eval_causal_lm_metrics must be a list", "eval_causal_lm_metrics"
    unknown = [i for i, m in enumerate(metrics) if isinstance(m, str) and m not in SUPPORTED_METRICS]
    if unknown:
        supported = "{" + ", ".join(repr(m) for m in SUPPORTED_METRICS) + "}"
        return f"eval_causal_lm_metrics must be one of {supported}", ("eval_causal_lm_metrics", unknown[0])
    return None


def _mistral_common_options(v: Values) -> Found | None:
    if not v.get("tokenizer_use_mistral_common"):
        return None
    key = next((k for k in MISTRAL_COMMON_REFUSES if v.get(k)), None)
    return (MISTRAL_COMMON_REFUSES[key], key) if key else None


def _mistral_common_inferred(v: Values) -> Found | None:
    if v.get("tokenizer_use_mistral_common") is not None:
        return None
    key = next((k for k in MODEL_NAMES if isinstance(v.get(k), str) and "magistral" in v[k].lower()), None)
    if key is None:
        return None
    return (
        "tokenizer_use_mistral_common auto inferred to True for Magistral models. Please set it to True explicitly "
        "if you want to use mistral-common tokenizer.",
        key,
    )


def _save_modules_empty(v: Values) -> Found | None:
    block = v.get("selective_checkpointing")
    entries = block.get("save_modules") if isinstance(block, dict) else None
    if not isinstance(entries, list):
        return None
    empty = next((i for i, e in enumerate(entries) if isinstance(e, str) and not e.strip()), None)
    if empty is None:
        return None
    return (
        "selective_checkpointing.save_modules entries must be non-empty strings",
        ("selective_checkpointing", "save_modules", empty),
    )


def _learning_rate(v: Values) -> Found | None:
    rate = v.get("learning_rate")
    if not rate or not isinstance(rate, str):
        return None
    try:
        float(rate)
    except ValueError:
        return f"could not convert string to float: {rate!r}", "learning_rate"
    return None


def _reserved_processor_kwargs(v: Values) -> Found | None:
    block = v.get("processor_kwargs")
    conflicts = sorted(k for k in RESERVED_PROCESSOR_KWARGS if isinstance(block, dict) and k in block)
    if not conflicts:
        return None
    return (
        f"Do not set reserved keys {conflicts} inside `processor_kwargs`; use the top-level `revision_of_model` / "
        "`trust_remote_code` config keys instead.",
        ("processor_kwargs", conflicts[0]),
    )


def _save_safetensors_false(v: Values) -> bool:
    value = v.get("save_safetensors")
    return value is False or (isinstance(value, str) and value.strip().lower() in ("0", "off", "f", "false", "n", "no"))


VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-causal-lm-eval-packing",
        "do_causal_lm_eval with packed evals (eval_sample_packing, which sample_packing turns on).",
        "utils/schemas/validation.py:TrainingValidationMixin.check_causal_lm_evals",
        _causal_lm_eval_packing,
        fix="Set eval_sample_packing: false with do_causal_lm_eval.",
        refused={"val_set_size": 0.05, "do_causal_lm_eval": True, "sample_packing": True},
        accepted={
            "val_set_size": 0.05,
            "do_causal_lm_eval": True,
            "sample_packing": True,
            "eval_sample_packing": False,
        },
    ),
    Validator(
        "axolotl-causal-lm-metrics",
        "eval_causal_lm_metrics that is not a list of sacrebleu, comet, ter, chrf, perplexity.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_causal_lm_evals",
        _causal_lm_metrics,
        fix="List only sacrebleu, comet, ter, chrf and perplexity.",
        refused={"eval_causal_lm_metrics": ["sacrebleu", "bleu"]},
        accepted={"eval_causal_lm_metrics": ["sacrebleu", "chrf"]},
    ),
    Validator(
        "axolotl-mistral-common-options",
        "The mistral-common tokenizer with a tokenizer edit it does not support.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_mistral_common_incompatible_options",
        _mistral_common_options,
        fix="Drop the key the message names, or turn tokenizer_use_mistral_common off.",
        refused={"tokenizer_use_mistral_common": True, "chat_template": "chatml"},
        accepted={"tokenizer_use_mistral_common": False, "chat_template": "chatml"},
    ),
    Validator(
        "axolotl-mistral-common-inferred",
        "A Magistral model without tokenizer_use_mistral_common, which Axolotl turns on.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_tokenizer_use_mistral_common",
        _mistral_common_inferred,
        fix="Set tokenizer_use_mistral_common explicitly.",
        level=Severity.WARNING,
        refused={"base_model_config": "mistralai/Magistral-Small-2506"},
        accepted={"base_model_config": "mistralai/Magistral-Small-2506", "tokenizer_use_mistral_common": False},
    ),
    Validator(
        "axolotl-pretraining-tokens-per-second",
        "pretraining_dataset with include_tokens_per_second.",
        "utils/schemas/validation.py:TrainingValidationMixin.pretrain_with_tps",
        when(
            lambda v: v.get("pretraining_dataset") and v.get("include_tokens_per_second"),
            "pretraining_dataset and include_tokens_per_second cannot be used together.",
            "include_tokens_per_second",
        ),
        fix="Turn include_tokens_per_second off for a pretraining dataset.",
        refused={"pretraining_dataset": [{"path": "c4"}], "include_tokens_per_second": True},
        accepted={"include_tokens_per_second": True},
    ),
    Validator(
        "axolotl-max-memory-gpu-limit",
        "max_memory together with gpu_memory_limit.",
        "utils/schemas/validation.py:SystemValidationMixin.check_mem_mismatch",
        when(
            lambda v: v.get("max_memory") is not None and v.get("gpu_memory_limit") is not None,
            "max_memory and gpu_memory_limit are mutually exclusive and cannot be used together.",
            "gpu_memory_limit",
        ),
        fix="Keep one of max_memory and gpu_memory_limit.",
        refused={"max_memory": {"0": "20GiB"}, "gpu_memory_limit": "20GiB"},
        accepted={"gpu_memory_limit": "20GiB"},
    ),
    Validator(
        "axolotl-save-modules-empty",
        "An empty entry in selective_checkpointing.save_modules.",
        "utils/schemas/training.py:SelectiveCheckpointingConfig.normalize_save_modules",
        _save_modules_empty,
        fix="Remove the empty entry, or name a module.",
        since="0.20.0",
        refused={"gradient_checkpointing": True, "selective_checkpointing": {"save_modules": ["input_layernorm", " "]}},
        accepted={"gradient_checkpointing": True, "selective_checkpointing": {"save_modules": ["input_layernorm"]}},
    ),
    Validator(
        "axolotl-batch-size-hint",
        "batch_size, which Axolotl advises against.",
        "utils/schemas/training.py:HyperparametersConfig.hint_batch_size_set",
        when(
            lambda v: v.get("batch_size"),
            "batch_size is not recommended. Please use gradient_accumulation_steps instead.",
            "batch_size",
        ),
        fix="Set gradient_accumulation_steps = batch_size / micro_batch_size / number of GPUs instead.",
        level=Severity.WARNING,
        refused={"gradient_accumulation_steps": None, "batch_size": 8},
        accepted={"gradient_accumulation_steps": 8},
    ),
    Validator(
        "axolotl-learning-rate-string",
        "A learning_rate string that is not a number.",
        "utils/schemas/training.py:HyperparametersConfig.convert_learning_rate",
        _learning_rate,
        fix="Write learning_rate as a number, e.g. 2.0e-4.",
        refused={"learning_rate": "2e-4x"},
        accepted={"learning_rate": "2e-4"},
    ),
    Validator(
        "axolotl-trust-remote-code",
        "trust_remote_code: true, which runs the model repository's code.",
        "utils/schemas/model.py:ModelInputConfig.hint_trust_remote_code",
        when(
            lambda v: on(v.get("trust_remote_code")),
            "`trust_remote_code` is set to true. Please make sure that you reviewed the remote code/model.",
            "trust_remote_code",
        ),
        fix="Review the repository's code, or drop trust_remote_code.",
        level=Severity.WARNING,
        refused={"trust_remote_code": True},
        accepted={"trust_remote_code": False},
    ),
    Validator(
        "axolotl-processor-kwargs-reserved",
        "revision or trust_remote_code inside processor_kwargs.",
        "utils/schemas/model.py:ModelInputConfig.reject_reserved_processor_kwargs",
        _reserved_processor_kwargs,
        fix="Use the top-level revision_of_model and trust_remote_code keys instead.",
        refused={"processor_kwargs": {"revision": "main"}},
        accepted={"processor_kwargs": {"image_seq_length": 64}},
    ),
    Validator(
        "axolotl-save-safetensors-false",
        "save_safetensors: false, which Transformers 5 no longer supports.",
        "utils/schemas/model.py:ModelOutputConfig.validate_save_safetensors",
        when(
            _save_safetensors_false,
            "save_safetensors=False is not supported in Transformers V5. Transformers V5 always uses safetensors "
            "format for model serialization. This field is deprecated and will be removed in a future version.",
            "save_safetensors",
        ),
        fix="Remove save_safetensors (adapters are always saved as safetensors).",
        refused={"save_safetensors": False},
        accepted={"save_safetensors": True},
    ),
)

register(VALIDATORS)
out_of_scope(
    {
        # check_flash_attn_available's helpers: they fetch a flash-attention kernel from the Hub (or its cache)
        "utils/schemas/validation.py:_flash_attn_kernel_failure": "network",
        "utils/schemas/validation.py:_get_kernel_from_cache": "network",
        "utils/schemas/validation.py:TrainingValidationMixin.check_mistral_common_import": "environment",
        "utils/schemas/validation.py:TrainingValidationMixin.check_eval_strategy": "no-effect",
        "utils/schemas/validation.py:SystemValidationMixin.check_npu_config": "gpu",
        "utils/schemas/validation.py:SystemValidationMixin.check_flash_attn_available": "environment",
    }
)
