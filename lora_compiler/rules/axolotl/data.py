"""Axolotl's start-up validators of datasets, chat templates and pretraining/streaming, from the YAML alone.

Each entry mirrors one validator of `axolotl/utils/schemas/validation.py` (DatasetValidationMixin,
ChatTemplateValidationMixin, PretrainingValidationMixin), named by its `source`. All of them run before
pydantic fills defaults (mode="before"), so they read the raw YAML with Axolotl's truthiness; data_2.py holds
the dataset entries' own validators (datasets.py), data_3.py the RL ones.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from ...results.findings import Severity
from .validator import NULL, Found, Validator, Values, out_of_scope, register, when

V = "utils/schemas/validation.py:"
DATASET = V + "DatasetValidationMixin."
PRETRAINING = V + "PretrainingValidationMixin."
SHAREGPT = "`type: sharegpt.*` is deprecated. Please use `type: chat_template` instead."
PRETRAIN = [{"path": "allenai/c4", "name": "en", "type": "pretrain"}]


def _entries(v: Values) -> list[tuple[int, dict[str, Any]]]:
    """(index, entry) of each mapping in `datasets` (anything else is the type rule's)."""
    block = v.get("datasets")
    return [(i, e) for i, e in enumerate(block) if isinstance(e, dict)] if isinstance(block, list) else []


def _number(x: Any) -> TypeGuard[float]:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def sharegpt(v: Values) -> Found | None:
    """deprecate_sharegpt_datasets: a string type starting with `sharegpt` is refused (removed)."""
    for i, entry in _entries(v):
        kind = entry.get("type")
        if isinstance(kind, str) and kind.startswith("sharegpt"):
            return SHAREGPT, ("datasets", i, "type")
    return None


def eval_packing(v: Values) -> Found | None:
    """check_eval_packing's refusal (its other branches fill eval_sample_packing/remove_unused_columns to match)."""
    if v.get("sample_packing") and v.get("eval_table_size") and v.get("eval_sample_packing") is not False:
        return (
            "eval_table_size and eval_sample_packing are not supported together with sample_packing. Please set "
            "'eval_sample_packing' to false.",
            "eval_sample_packing" if "eval_sample_packing" in v else "eval_table_size",
        )
    return None


def streaming_weight(v: Values) -> Found | None:
    """check_streaming_w_dataset_weight: the first entry weighted below 1 is ignored when streaming."""
    if not (v.get("streaming") and v.get("datasets")):
        return None
    for i, entry in _entries(v):
        weight = entry.get("weight")
        if _number(weight) and weight < 1.0:
            return (
                "Dataset weight is not supported with streaming datasets and will be ignored. Use non-streaming "
                "mode for weighted dataset mixing.",
                ("datasets", i, "weight"),
            )
    return None


def _or(v: Values, key: str, otherwise: str) -> str:
    """`key` when the YAML writes it, else `otherwise` (a finding points at a key that is there)."""
    return key if key in v else otherwise


VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-seed-null",
        "An explicit `seed: null`, which Axolotl replaces with 42.",
        DATASET + "set_default_seed",
        when(
            lambda v: "seed" in v and v["seed"] is None,
            "`seed` not set in config; setting to 42",
            "seed",
        ),
        fix="Write the seed you want (seed: 42 keeps Axolotl's choice); a null seed never means a random one.",
        level=Severity.INFO,
        refused={"seed": NULL},
        accepted={"seed": 7},
    ),
    Validator(
        "axolotl-full-determinism-seed",
        "full_determinism without a seed, which Axolotl fills in as 42.",
        DATASET + "seed_full_determinism",
        when(
            lambda v: v.get("full_determinism") and "seed" not in v,
            "`full_determinism` set without `seed`; setting seed to 42",
            "full_determinism",
        ),
        fix="Write the seed the deterministic run uses (seed: 42 to keep Axolotl's choice).",
        level=Severity.INFO,
        since="0.21.0",
        refused={"full_determinism": True},
        accepted={"full_determinism": True, "seed": 7},
    ),
    Validator(
        "axolotl-sharegpt-removed",
        "A dataset of type sharegpt, which Axolotl removed in favour of chat_template.",
        DATASET + "deprecate_sharegpt_datasets",
        sharegpt,
        fix="Use type: chat_template (with field_messages and message_property_mappings for sharegpt's "
        "conversations/from/value keys).",
        refused={"datasets": [{"path": "philschmid/guanaco-sharegpt-style", "type": "sharegpt"}]},
        accepted={"datasets": [{"path": "philschmid/guanaco-sharegpt-style", "type": "chat_template"}]},
    ),
    Validator(
        "axolotl-no-datasets",
        "Neither datasets nor pretraining_dataset.",
        DATASET + "check_dataset_or_pretraining_dataset",
        when(
            lambda v: v.get("datasets") is None and v.get("pretraining_dataset") is None,
            "either datasets or pretraining_dataset is required",
            "datasets",
        ),
        fix="Add a datasets list (or a pretraining_dataset for streamed pretraining).",
        refused={"datasets": None},
        accepted={"datasets": None, "pretraining_dataset": PRETRAIN, "max_steps": 10, "streaming": True},
    ),
    Validator(
        "axolotl-pretraining-streaming-implicit",
        "pretraining_dataset without streaming: true, which Axolotl deprecates.",
        DATASET + "check_pretraining_streaming_deprecation",
        when(
            lambda v: v.get("pretraining_dataset") and not v.get("streaming"),
            "Setting `pretraining_dataset` without explicitly setting `streaming: true` is deprecated. In a future "
            "release, streaming will not be automatically enabled when using pretraining_dataset.",
            "pretraining_dataset",
        ),
        fix="Set streaming: true next to pretraining_dataset.",
        level=Severity.WARNING,
        refused={"datasets": None, "pretraining_dataset": PRETRAIN, "max_steps": 10},
        accepted={"datasets": None, "pretraining_dataset": PRETRAIN, "max_steps": 10, "streaming": True},
    ),
    Validator(
        "axolotl-push-dataset-auth",
        "push_dataset_to_hub without hf_use_auth_token: true.",
        DATASET + "check_push_ds_auth",
        when(
            lambda v: v.get("push_dataset_to_hub") and v.get("hf_use_auth_token") is not True,
            "Require cfg.hf_use_auth_token to be True for push_dataset_to_hub",
            "push_dataset_to_hub",
        ),
        fix="Set hf_use_auth_token: true, or drop push_dataset_to_hub.",
        refused={"push_dataset_to_hub": "me/prepared"},
        accepted={"push_dataset_to_hub": "me/prepared", "hf_use_auth_token": True},
    ),
    Validator(
        "axolotl-val-set-with-test-datasets",
        "A non-zero val_set_size with test_datasets.",
        DATASET + "check_val_w_test_datasets",
        when(
            lambda v: v.get("test_datasets") and v.get("val_set_size"),
            "non-zero val_set_size should not be used with test_datasets configuration",
            "val_set_size",
        ),
        fix="Evaluate on test_datasets or on a val_set_size split of the training data, not both (val_set_size: 0).",
        refused={"test_datasets": [{"path": "mhenrichsen/alpaca_2k_test", "type": "alpaca"}], "val_set_size": 0.05},
        accepted={"test_datasets": [{"path": "mhenrichsen/alpaca_2k_test", "type": "alpaca"}], "val_set_size": 0},
    ),
    Validator(
        "axolotl-bench-eval-no-test-set",
        "do_bench_eval without test_datasets or val_set_size: Axolotl adds an empty test dataset.",
        DATASET + "check_test_datasets_bench",
        when(
            lambda v: v.get("do_bench_eval") and not v.get("test_datasets") and not v.get("val_set_size"),
            "`do_bench_eval` needs a test dataset to run evals, adding an empty test_dataset.",
            "do_bench_eval",
        ),
        fix="Give the evals data: test_datasets or a val_set_size; or drop do_bench_eval.",
        level=Severity.WARNING,
        refused={"do_bench_eval": True, "eval_steps": 10},
        accepted={"do_bench_eval": True, "eval_steps": 10, "val_set_size": 0.05},
    ),
    Validator(
        "axolotl-eval-table-packing",
        "eval_table_size with sample_packing, unless eval_sample_packing is false.",
        DATASET + "check_eval_packing",
        eval_packing,
        fix="Set eval_sample_packing: false (or drop eval_table_size).",
        refused={"sample_packing": True, "eval_table_size": 5},
        accepted={"sample_packing": True, "eval_table_size": 5, "eval_sample_packing": False},
    ),
    Validator(
        "axolotl-chat-template-jinja-missing",
        "chat_template: jinja without chat_template_jinja.",
        V + "ChatTemplateValidationMixin.check_chat_template_config",
        when(
            lambda v: v.get("chat_template") == "jinja" and not v.get("chat_template_jinja"),
            "chat_template_jinja is required when chat_template is set to 'jinja'. Please provide the Jinja "
            "template string in chat_template_jinja field.",
            "chat_template",
        ),
        fix="Give the template in chat_template_jinja (a Jinja string or a path to a .jinja file), or name a "
        "built-in chat_template.",
        refused={"chat_template": "jinja"},
        accepted={"chat_template": "jinja", "chat_template_jinja": "{{ messages }}"},
    ),
    Validator(
        "axolotl-pretraining-max-steps",
        "pretraining_dataset without max_steps.",
        PRETRAINING + "check_pretraining_w_max_steps",
        when(
            lambda v: v.get("pretraining_dataset") and not v.get("max_steps"),
            "max_steps must be set when using iterable pretraining_dataset, Trainer can't infer length and schedule "
            "optimizer/learning rate without it!",
            lambda v: _or(v, "max_steps", "pretraining_dataset"),
        ),
        fix="Set max_steps: a streamed dataset has no length to derive the schedule from.",
        refused={"datasets": None, "pretraining_dataset": PRETRAIN},
        accepted={"datasets": None, "pretraining_dataset": PRETRAIN, "max_steps": 10},
    ),
    Validator(
        "axolotl-pretraining-group-by-length",
        "group_by_length with pretraining_dataset.",
        PRETRAINING + "check_pretraining_w_group_by_length",
        when(
            lambda v: v.get("pretraining_dataset") and v.get("group_by_length"),
            "You probably want to disable group_by_length as it will force a streamed dataset to download completely.",
            "group_by_length",
        ),
        fix="Set group_by_length: false for a streamed pretraining_dataset.",
        level=Severity.WARNING,
        refused={
            "datasets": None,
            "pretraining_dataset": PRETRAIN,
            "streaming": True,
            "max_steps": 10,
            "group_by_length": True,
        },
        accepted={"datasets": None, "pretraining_dataset": PRETRAIN, "streaming": True, "max_steps": 10},
    ),
    Validator(
        "axolotl-pretraining-val-set-size",
        "val_set_size with pretraining_dataset.",
        PRETRAINING + "check_pretraining_w_val_set_size",
        when(
            lambda v: v.get("pretraining_dataset") and v.get("val_set_size"),
            "val_set_size is not supported with pretraining_dataset. Use test_datasets to specify evaluation "
            "datasets for pretraining.",
            "val_set_size",
        ),
        fix="Drop val_set_size (or set it to 0) and evaluate on test_datasets.",
        refused={"datasets": None, "pretraining_dataset": PRETRAIN, "max_steps": 10, "val_set_size": 0.05},
        accepted={"datasets": None, "pretraining_dataset": PRETRAIN, "max_steps": 10, "val_set_size": 0},
    ),
    Validator(
        "axolotl-streaming-val-set-size",
        "val_set_size with streaming: true.",
        PRETRAINING + "check_streaming_w_val_set_size",
        when(
            lambda v: v.get("streaming") and v.get("val_set_size"),
            "val_set_size is not supported with streaming datasets. Use test_datasets to specify evaluation "
            "datasets when streaming is enabled.",
            "val_set_size",
        ),
        fix="Drop val_set_size (or set it to 0) and evaluate on test_datasets.",
        refused={"streaming": True, "max_steps": 10, "val_set_size": 0.05},
        accepted={"streaming": True, "max_steps": 10, "val_set_size": 0},
    ),
    Validator(
        "axolotl-streaming-max-steps",
        "streaming: true without max_steps.",
        PRETRAINING + "check_streaming_w_max_steps",
        when(
            lambda v: v.get("streaming") and not v.get("max_steps"),
            "max_steps must be set when using streaming datasets. Trainer cannot infer dataset length for iterable "
            "datasets.",
            lambda v: _or(v, "max_steps", "streaming"),
        ),
        fix="Set max_steps: a streamed dataset has no length to derive the schedule from.",
        refused={"streaming": True},
        accepted={"streaming": True, "max_steps": 10},
    ),
    Validator(
        "axolotl-streaming-packing-datasets",
        "sample_packing while streaming more than one dataset.",
        PRETRAINING + "check_streaming_w_multiple_datasets",
        when(
            lambda v: (
                v.get("streaming")
                and v.get("sample_packing")
                and isinstance(v.get("datasets"), list)
                and len(v["datasets"]) > 1
            ),
            "Sample packing with multiple streaming datasets is not yet supported",
            ("datasets", 1),
        ),
        fix="Stream one dataset when packing, or turn sample_packing or streaming off.",
        refused={
            "streaming": True,
            "max_steps": 10,
            "sample_packing": True,
            "datasets": [{"path": "mhenrichsen/alpaca_2k_test", "type": "alpaca"}] * 2,
        },
        accepted={"streaming": True, "max_steps": 10, "sample_packing": True},
    ),
    Validator(
        "axolotl-streaming-dataset-weight",
        "A dataset weight below 1 while streaming, which Axolotl ignores.",
        PRETRAINING + "check_streaming_w_dataset_weight",
        streaming_weight,
        fix="Drop the weights while streaming, or set streaming: false to mix datasets by weight.",
        level=Severity.WARNING,
        since="0.20.0",
        refused={
            "streaming": True,
            "max_steps": 10,
            "datasets": [{"path": "mhenrichsen/alpaca_2k_test", "type": "alpaca", "weight": 0.5}],
        },
        accepted={
            "streaming": True,
            "max_steps": 10,
            "datasets": [{"path": "mhenrichsen/alpaca_2k_test", "type": "alpaca", "weight": 1.0}],
        },
    ),
)

register(VALIDATORS)
out_of_scope(
    {
        # remove_unused_columns: false keeps the extra columns a multimodal collator reads; nothing trains otherwise
        DATASET + "check_mm_prepare": "no-effect",
        # split_batches/dispatch_batches false: every rank still sees its own slice of the same stream
        PRETRAINING + "check_pretraining_split_batches_accelerate": "no-effect",
    }
)
