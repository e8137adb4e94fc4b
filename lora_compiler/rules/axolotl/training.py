"""Axolotl's start-up validators of attention backends, batch sizes, padding and reward models, from the YAML alone.

Mirrors AttentionValidationMixin, the first checks of TrainingValidationMixin (schemas/validation.py) and
AxolotlInputConfig.normalize_attn_implementation (schemas/config.py), whose legacy-flag mapping every
attention check reads. mode="before" validators see the raw YAML; mode="after" ones see pydantic's coerced
values and the attention backend the normalizer chose, so `on` and `attention` restate both. The rest of
TrainingValidationMixin is in training_2.py; SystemValidationMixin, schemas/training.py and schemas/model.py
in training_3.py.
"""

from __future__ import annotations

from typing import Any

from ...results.findings import Severity
from .backends import CANONICAL_ATTN, LEGACY_ATTN, PACKING_ATTN, base, chosen, legacy_flags
from .validator import Check, Found, Validator, Values, register, when

TRUE_WORDS = frozenset({"1", "on", "t", "true", "y", "yes"})


def on(value: Any) -> bool:
    """A bool field as a mode="after" validator sees it: pydantic's lax coercion (a string "yes" is True)."""
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return isinstance(value, (bool, int, float)) and value == 1


def attention(v: Values) -> str | None:
    """The backend the mode="after" validators see, when it is a name (a non-string is a type error)."""
    impl = chosen(v)[0]
    return impl if isinstance(impl, str) else None


def _gemma4_hybrid(v: Values) -> Found | None:
    impl = v.get("attn_implementation")
    if v.get("gemma4_hybrid_attn_impl") and impl and impl != "flash_attention_2":
        return (
            "gemma4_hybrid_attn_impl requires attn_implementation=flash_attention_2 (sliding-window layers run "
            f"under FA2); got {impl!r}.",
            "attn_implementation",
        )
    return None


def _legacy_with_attn(v: Values) -> Found | None:
    impl, flags = v.get("attn_implementation"), legacy_flags(v)
    if impl and flags:
        return (
            f"attn_implementation={impl!r} cannot be combined with legacy attention flags "
            f"({', '.join(sorted(flags))}). The legacy flags are deprecated — set only `attn_implementation`.",
            sorted(flags)[0],
        )
    return None


def _legacy_flag(v: Values) -> Found | None:
    flags = legacy_flags(v)
    if v.get("attn_implementation") or not flags:
        return None
    return (
        f"`{flags[0]}: true` is deprecated and will be removed in a future release. Use "
        f"`attn_implementation: {LEGACY_ATTN[flags[0]]}` instead.",
        flags[0],
    )


def _packing_attention(v: Values, since_0_21: bool) -> str | None:
    """The backend check_sample_packing_without_attention warns about ("" for none), or None when it is quiet."""
    if not on(v.get("sample_packing")):
        return None
    diffusion = v.get("diffusion_lm")
    if since_0_21 and diffusion is not None:  # a native diffusion run packs on its own terms
        if not isinstance(diffusion, dict) or not on(diffusion.get("from_causal_lm")):
            return None
    attn = attention(v)
    if not attn:
        return ""
    if attn not in CANONICAL_ATTN | {"varlen"} and "/" not in attn:
        return None  # refused by validate_attn_implementation before this validator runs
    return None if base(attn) in PACKING_ATTN or attn in ("sdpa", "eager") else attn


def _packing_without_attention(since_0_21: bool) -> Check:
    def check(v: Values) -> Found | None:
        if _packing_attention(v, since_0_21) != "":
            return None
        return (
            "`sample_packing` without an attention backend does not handle cross-sample decontamination. Set "
            "`attn_implementation` to a packing-capable backend (e.g. flash_attention_2).",
            "sample_packing",
        )

    return check


def _packing_leaks(since_0_21: bool) -> Check:
    def check(v: Values) -> Found | None:
        attn = _packing_attention(v, since_0_21)
        if not attn:
            return None
        return (
            f"`sample_packing` with `attn_implementation={attn!r}` does not handle cross-sample decontamination. "
            "Use a packing-capable backend (e.g. flash_attention_2, flex_attention, sdpa, eager) to isolate samples.",
            "attn_implementation",
        )

    return check


def _reward_pad(v: Values) -> Found | None:
    if v.get("reward_model") and not v.get("pad_to_sequence_len"):
        key = "pad_to_sequence_len" if "pad_to_sequence_len" in v else "reward_model"
        return "`pad_to_sequence_len: true` is recommended when using reward_model", key
    return None


def _reward_defaults(key: str, labels: int, model_type: str, earlier: str | None) -> Check:
    """set_reward_model_defaults: num_labels and model_type filled in for a (process) reward model, unless an
    `earlier` branch of the same validator already filled them."""

    def check(v: Values) -> Found | None:
        if not v.get(key) or (earlier and v.get(earlier)):
            return None
        filled = []
        if v.get("num_labels") is None:
            filled.append(f"num_labels: {labels}")
        if not (v.get("type_of_model") or v.get("model_type")):
            filled.append(f"model_type: {model_type}")
        if not filled:
            return None
        return f"`{key}: true` silently sets {' and '.join(filled)}", key

    return check


PACKING = {"sample_packing": True}
DIFFUSION_PLUGIN = "axolotl.integrations.diffusion.DiffusionPlugin"  # a causal model runs diffusion_lm only with it
VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-gemma4-hybrid-attn",
        "gemma4_hybrid_attn_impl with an attention backend other than flash_attention_2.",
        "utils/schemas/config.py:AxolotlInputConfig.normalize_attn_implementation",
        _gemma4_hybrid,
        fix="Set attn_implementation: flash_attention_2 (or leave it out) with gemma4_hybrid_attn_impl.",
        refused={"gemma4_hybrid_attn_impl": True, "attn_implementation": "sdpa"},
        accepted={"gemma4_hybrid_attn_impl": True, "attn_implementation": "flash_attention_2"},
    ),
    Validator(
        "axolotl-attn-legacy-flags",
        "attn_implementation together with a legacy attention flag (flash_attention, sdp_attention, ...).",
        "utils/schemas/config.py:AxolotlInputConfig.normalize_attn_implementation",
        _legacy_with_attn,
        fix="Drop the legacy flag and keep attn_implementation alone.",
        refused={"attn_implementation": "sdpa", "flash_attention": True},
        accepted={"attn_implementation": "sdpa", "flash_attention": False},
    ),
    Validator(
        "axolotl-attn-legacy-flag",
        "A legacy attention flag (flash_attention: true, ...) instead of attn_implementation.",
        "utils/schemas/config.py:AxolotlInputConfig.normalize_attn_implementation",
        _legacy_flag,
        fix="Replace the flag with the attn_implementation value the message names.",
        level=Severity.WARNING,
        refused={"flash_attention": True},
        accepted={"attn_implementation": "flash_attention_2"},
    ),
    Validator(
        "axolotl-packing-no-attention",
        "sample_packing without an attention backend, so packed samples attend to each other.",
        "utils/schemas/validation.py:AttentionValidationMixin.check_sample_packing_without_attention",
        _packing_without_attention(False),
        fix="Set attn_implementation to a packing-capable backend such as flash_attention_2 or sdpa.",
        level=Severity.WARNING,
        until="0.21.0",
        refused=PACKING,
        accepted={**PACKING, "attn_implementation": "sdpa"},
    ),
    Validator(
        "axolotl-packing-no-attention",
        "sample_packing without an attention backend, so packed samples attend to each other.",
        "utils/schemas/validation.py:AttentionValidationMixin.check_sample_packing_without_attention",
        _packing_without_attention(True),
        fix="Set attn_implementation to a packing-capable backend such as flash_attention_2 or sdpa.",
        level=Severity.WARNING,
        since="0.21.0",
        refused={**PACKING, "diffusion_lm": {"from_causal_lm": True}, "plugins": [DIFFUSION_PLUGIN]},
        accepted={**PACKING, "attn_implementation": "sdpa"},
    ),
    Validator(
        "axolotl-packing-attention-leaks",
        "sample_packing with an attention backend that cannot keep packed samples apart.",
        "utils/schemas/validation.py:AttentionValidationMixin.check_sample_packing_without_attention",
        _packing_leaks(False),
        fix="Use a packing-capable backend (flash_attention_2, flex_attention, sdpa, eager) with sample_packing.",
        level=Severity.WARNING,
        until="0.21.0",
        refused={**PACKING, "attn_implementation": "kernels-community/flash-attn"},
        accepted={**PACKING, "attn_implementation": "eager"},
    ),
    Validator(
        "axolotl-packing-attention-leaks",
        "sample_packing with an attention backend that cannot keep packed samples apart.",
        "utils/schemas/validation.py:AttentionValidationMixin.check_sample_packing_without_attention",
        _packing_leaks(True),
        fix="Use a packing-capable backend (flash_attention_2, flex_attention, sdpa, eager) with sample_packing.",
        level=Severity.WARNING,
        since="0.21.0",
        refused={**PACKING, "attn_implementation": "kernels-community/flash-attn"},
        accepted={**PACKING, "attn_implementation": "eager"},
    ),
    Validator(
        "axolotl-scaling-softmax-flex",
        "scaling_softmax without flex attention.",
        "utils/schemas/validation.py:AttentionValidationMixin.check_scaling_softmax_requires_flex",
        when(
            lambda v: on(v.get("scaling_softmax")) and attention(v) != "flex_attention",
            "scaling_softmax requires flex attention. Add `attn_implementation: flex_attention` to your config.",
            "scaling_softmax",
        ),
        fix="Set attn_implementation: flex_attention, or drop scaling_softmax.",
        refused={"scaling_softmax": True, "attn_implementation": "sdpa"},
        accepted={"scaling_softmax": True, "attn_implementation": "flex_attention"},
    ),
    Validator(
        "axolotl-batch-size-fields",
        "batch_size without micro_batch_size or gradient_accumulation_steps.",
        "utils/schemas/validation.py:TrainingValidationMixin.check_batch_size_fields",
        when(
            lambda v: not (v.get("micro_batch_size") or v.get("gradient_accumulation_steps")) and v.get("batch_size"),
            "At least two of micro_batch_size, gradient_accumulation_steps, batch_size must be set",
            "batch_size",
        ),
        fix="Set micro_batch_size next to batch_size (or gradient_accumulation_steps instead of batch_size).",
        refused={"micro_batch_size": None, "gradient_accumulation_steps": None, "batch_size": 8},
        accepted={"gradient_accumulation_steps": None, "batch_size": 8},
    ),
    Validator(
        "axolotl-packing-pad-false",
        "sample_packing with pad_to_sequence_len: false.",
        "utils/schemas/validation.py:TrainingValidationMixin.hint_sample_packing_padding",
        when(
            lambda v: v.get("sample_packing") and v.get("pad_to_sequence_len") is False,
            "`pad_to_sequence_len: true` is recommended when using sample_packing",
            "pad_to_sequence_len",
        ),
        fix="Set pad_to_sequence_len: true (or leave it out: Axolotl then sets it).",
        level=Severity.WARNING,
        refused={**PACKING, "attn_implementation": "sdpa", "pad_to_sequence_len": False},
        accepted={**PACKING, "attn_implementation": "sdpa", "pad_to_sequence_len": True},
    ),
    Validator(
        "axolotl-packing-pad-default",
        "sample_packing without pad_to_sequence_len, which Axolotl then turns on.",
        "utils/schemas/validation.py:TrainingValidationMixin.hint_sample_packing_padding",
        when(
            lambda v: v.get("sample_packing") and v.get("pad_to_sequence_len") is None and not v.get("reward_model"),
            "Setting `pad_to_sequence_len: true` to prevent memory leaks when sample_packing",
            "sample_packing",
        ),
        fix="Write pad_to_sequence_len: true to keep what the YAML says and what runs the same.",
        level=Severity.INFO,
        refused={**PACKING, "attn_implementation": "sdpa"},
        accepted={**PACKING, "attn_implementation": "sdpa", "pad_to_sequence_len": True},
    ),
    Validator(
        "axolotl-reward-model-pad",
        "reward_model without pad_to_sequence_len: true.",
        "utils/schemas/validation.py:TrainingValidationMixin.hint_reward_model_pad",
        _reward_pad,
        fix="Set pad_to_sequence_len: true for a reward model.",
        level=Severity.WARNING,
        refused={"reward_model": True, "pad_to_sequence_len": False},
        accepted={"reward_model": True, "pad_to_sequence_len": True},
    ),
    Validator(
        "axolotl-reward-model-defaults",
        "reward_model without num_labels or model_type, which Axolotl fills in.",
        "utils/schemas/validation.py:TrainingValidationMixin.set_reward_model_defaults",
        _reward_defaults("reward_model", 1, "AutoModelForSequenceClassification", None),
        fix="Write num_labels and model_type explicitly.",
        level=Severity.INFO,
        refused={"reward_model": True, "pad_to_sequence_len": True},
        accepted={
            "reward_model": True,
            "pad_to_sequence_len": True,
            "num_labels": 1,
            "model_type": "AutoModelForSequenceClassification",
        },
    ),
    Validator(
        "axolotl-prm-defaults",
        "process_reward_model without num_labels or model_type, which Axolotl fills in.",
        "utils/schemas/validation.py:TrainingValidationMixin.set_reward_model_defaults",
        _reward_defaults("process_reward_model", 2, "AutoModelForTokenClassification", "reward_model"),
        fix="Write num_labels and model_type explicitly.",
        level=Severity.INFO,
        refused={"process_reward_model": True},
        accepted={"process_reward_model": True, "num_labels": 2, "model_type": "AutoModelForTokenClassification"},
    ),
)

register(VALIDATORS)
