"""Axolotl's deprecated and remapped keys (`axolotl/utils/schemas/deprecated.py`), checked from the YAML alone.

DeprecatedParameters keeps each retired key as a schema field so a field validator can speak about it: a
removed key raises DeprecationWarning (which pydantic lets through: the run stops), a deprecated one logs a
warning and the run goes on. These keys stay in the profile's key tree, so the unknown-key rule calls them
known; the rules here say what replaced them. Each field validator runs on pydantic's coerced value (lax
mode), so `flash_attn_rms_norm: "false"` is false; a value of the wrong type is the type rule's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from ...results.findings import Severity
from .validator import Check, Found, Validator, Values, out_of_scope, register

SOURCE = "utils/schemas/deprecated.py:DeprecatedParameters.validate_"
INVALID = object()


@cache
def _adapter(tp: type) -> Any:
    from pydantic import TypeAdapter

    shape: Any = tp | None  # a type form, which mypy cannot name here
    return TypeAdapter(shape)


def coerced(value: Any, tp: type) -> Any:
    """`value` as pydantic's lax mode makes it for an optional field of type `tp`, or INVALID."""
    from pydantic import ValidationError

    if tp is object:
        return value
    try:
        return _adapter(tp).validate_python(value)
    except ValidationError:
        return INVALID


def truthy(value: Any) -> bool:
    return bool(value)


def given(value: Any) -> bool:
    return value is not None


def field_check(key: str, tp: type, fires: Callable[[Any], bool], message: str) -> Check:
    """A field validator's check: it runs only when the YAML holds the key, on the coerced value."""

    def check(v: Values) -> Found | None:
        if key not in v:
            return None
        value = coerced(v[key], tp)
        return (message, key) if value is not INVALID and fires(value) else None

    return check


def _removed(
    key: str, tp: type, fires: Callable[[Any], bool], message: str, fix: str, refused: Any, accepted: Any, **kw: Any
) -> Validator:
    return Validator(
        f"axolotl-removed-{key.replace('_', '-')}",
        f"{key}, which Axolotl no longer supports.",
        SOURCE + key,
        field_check(key, tp, fires, message),
        fix=fix,
        refused={key: refused},
        accepted={key: accepted},
        **kw,
    )


def _deprecated(key: str, tp: type, message: str, fix: str, refused: Any) -> Validator:
    return Validator(
        f"axolotl-deprecated-{key.replace('_', '-')}",
        f"{key}, which Axolotl deprecated.",
        SOURCE + key,
        field_check(key, tp, given, message),
        fix=fix,
        level=Severity.WARNING,
        refused={key: refused},
        accepted={key: None},
    )


TRL_GONE = "it has been removed in TRL >= 0.29.0"
ROPE_FIX = "Move rope_scaling under model_config (model_config: {rope_scaling: ...}), where it overrides config.json."

VALIDATORS: tuple[Validator, ...] = (
    _removed(
        "max_packed_sequence_len",
        int,
        truthy,
        "`max_packed_sequence_len` is no longer supported",
        fix="Drop it; pack samples with sample_packing: true, up to sequence_len tokens per row.",
        refused=2048,
        accepted=0,
    ),
    _removed(
        "rope_scaling",
        object,
        truthy,
        "`rope_scaling` is no longer supported, it should now be be a key under `model_config`",
        fix=ROPE_FIX,
        refused={"type": "linear", "factor": 2.0},
        accepted={},
        until="0.20.0",
    ),
    _removed(
        "rope_scaling",
        object,
        truthy,
        "`rope_scaling` is no longer supported, it should now be a key under `model_config`",
        fix=ROPE_FIX,
        refused={"type": "linear", "factor": 2.0},
        accepted={},
        since="0.20.0",
    ),
    _deprecated(
        "dpo_beta",
        float,
        "dpo_beta is deprecated, use rl_beta instead",
        fix="Rename dpo_beta to rl_beta (Axolotl copies it there when rl_beta is unset).",
        refused=0.1,
    ),
    _deprecated(
        "evaluation_strategy",
        str,
        "evaluation_strategy is deprecated, use eval_strategy instead",
        fix="Rename evaluation_strategy to eval_strategy (Axolotl copies it there when eval_strategy is unset).",
        refused="steps",
    ),
    _deprecated(
        "eval_table_size",
        int,
        "eval_table_size is deprecated and superseded by generate_samples config. Please use generate_samples: "
        "true and num_generation_samples instead. The LogPredictionCallback is replaced by the new sample "
        "generation feature.",
        fix="Drop eval_table_size; set generate_samples: true and num_generation_samples.",
        refused=5,
    ),
    _deprecated(
        "eval_max_new_tokens",
        int,
        "eval_max_new_tokens is deprecated and superseded by generate_samples config. Please use "
        "generation_max_new_tokens instead.",
        fix="Rename eval_max_new_tokens to generation_max_new_tokens.",
        refused=128,
    ),
    _removed(
        "dpo_use_logits_to_keep",
        bool,
        given,
        f"`dpo_use_logits_to_keep` is no longer supported, {TRL_GONE}",
        fix="Drop dpo_use_logits_to_keep: TRL removed it (from its 0.29.0), and nothing replaces it.",
        refused=False,
        accepted=None,
    ),
    _removed(
        "dpo_generate_during_eval",
        bool,
        given,
        f"`dpo_generate_during_eval` is no longer supported, {TRL_GONE}",
        fix="Drop dpo_generate_during_eval; to see generations during training use generate_samples: true.",
        refused=False,
        accepted=None,
    ),
    _removed(
        "dpo_norm_loss",
        bool,
        given,
        "`dpo_norm_loss` is no longer supported, due to breaking changes in TRL >= 0.29.0",
        fix="Drop dpo_norm_loss: TRL changed DPO's losses (from its 0.29.0), and Axolotl has no replacement.",
        refused=False,
        accepted=None,
    ),
    _removed(
        "rpo_alpha",
        float,
        given,
        "`rpo_alpha` has been deprecated in TRL >= 0.29.0, and now requires passing multiple loss types, which is "
        "not yet supported by Axolotl.",
        fix="Drop rpo_alpha: RPO now needs several DPO loss types at once, which Axolotl does not support yet.",
        refused=1.0,
        accepted=None,
    ),
    _removed(
        "s2_attention",
        bool,
        truthy,
        "`s2_attention` (shifted-sparse attention) is no longer supported.",
        fix="Drop s2_attention; choose an attention backend with attn_implementation.",
        refused=True,
        accepted=False,
    ),
    _removed(
        "flash_attn_rms_norm",
        bool,
        truthy,
        "`flash_attn_rms_norm` is no longer supported.",
        fix="Drop flash_attn_rms_norm: Axolotl no longer patches RMSNorm with flash-attn's kernel.",
        refused=True,
        accepted=False,
    ),
)

# The rename of a RemappedParameters alias is silent and harmless on its own (Axolotl reads the new name
# everywhere); it drops a value only when the YAML writes both spellings: the alias wins.
REMAPPED = {
    "model_config": "overrides_of_model_config",
    "model_kwargs": "overrides_of_model_kwargs",
    "model_type": "type_of_model",
    "model_revision": "revision_of_model",
}


def both_spellings(v: Values) -> Found | None:
    for alias, name in REMAPPED.items():
        if alias in v and v.get(name) is not None:  # the alias wins even when it is null
            return (
                f"`{alias}` is read into `{name}`, so the `{name}` written alongside it is dropped",
                name,
            )
    return None


REMAP = Validator(
    "axolotl-remapped-key-twice",
    "A remapped key written under both its names; Axolotl keeps the alias.",
    ", ".join(f"utils/schemas/deprecated.py:RemappedParameters.{name}" for name in REMAPPED.values()),
    both_spellings,
    fix="Write the setting once, under model_config, model_kwargs, model_type or model_revision.",
    level=Severity.INFO,
    refused={"model_type": "AutoModelForCausalLM", "type_of_model": "LlamaForCausalLM"},
    accepted={"model_type": "AutoModelForCausalLM"},
)

register((*VALIDATORS, REMAP))

out_of_scope(
    {
        # check_neftune (mode before) renames a truthy noisy_embedding_alpha to neftune_noise_alpha, or refuses
        # both set, before this field validator runs: its warning never fires, and the rename changes nothing.
        SOURCE + "noisy_embedding_alpha": "no-effect",
    }
)
