"""The YAML -> PEFT LoraConfig mapping, field by field as axolotl.loaders.adapter builds it."""

from __future__ import annotations

import re
from typing import Any

from .fields import key_for_message
from .spec import AdapterSpec
from .targets import TargetPlan


class PeftConfigError(Exception):
    def __init__(self, message: str, key: str | None) -> None:
        super().__init__(message)
        self.key = key


def task_type_for(architecture: str) -> str:
    """Axolotl's _get_peft_task_type: from the loaded model's class name."""
    if "SequenceClassification" in architecture:
        return "SEQ_CLS"
    if "TokenClassification" in architecture:
        return "TOKEN_CLS"
    return "CAUSAL_LM"


def lora_kwargs(spec: AdapterSpec, plan: TargetPlan, architecture: str) -> dict[str, Any]:
    """Keyword arguments of LoraConfig, in Axolotl's order of precedence (LoftQ, then init weights)."""
    extra: dict[str, Any] = {}
    if spec.loftq_bits:
        extra["loftq_config"] = {"loftq_bits": spec.loftq_bits}
        extra["init_lora_weights"] = "loftq"
    if spec.peft_init_lora_weights:
        extra["init_lora_weights"] = spec.peft_init_lora_weights
    if spec.peft_use_dora:
        extra["use_dora"] = spec.peft_use_dora
    if spec.peft_use_rslora:
        extra["use_rslora"] = spec.peft_use_rslora
    if spec.lora_rank_pattern:
        extra["rank_pattern"] = dict(spec.lora_rank_pattern)
    if spec.lora_alpha_pattern:
        extra["alpha_pattern"] = dict(spec.lora_alpha_pattern)
    if spec.peft_layer_replication:
        extra["layer_replication"] = [list(pair) for pair in spec.peft_layer_replication]
    if spec.peft_trainable_token_indices:
        extra["trainable_token_indices"] = spec.peft_trainable_token_indices
    if spec.peft_ensure_weight_tying is not None:
        extra["ensure_weight_tying"] = spec.peft_ensure_weight_tying
    return dict(
        r=spec.lora_r,
        lora_alpha=spec.lora_alpha,
        target_modules=plan.target_modules,
        target_parameters=plan.target_parameters,
        layers_to_transform=spec.peft_layers_to_transform,
        layers_pattern=spec.peft_layers_pattern,
        lora_dropout=spec.lora_dropout,
        fan_in_fan_out=spec.lora_fan_in_fan_out,
        modules_to_save=spec.lora_modules_to_save or None,
        # Axolotl 0.19 declares no lora_exclude_modules field: validate_config drops the key, so its
        # LoraConfig never excludes anything (rules/model_rules.py, exclude-modules-ignored, says so).
        exclude_modules=None,
        bias="none",
        task_type=task_type_for(architecture),
        **extra,
    )


def build_lora_config(spec: AdapterSpec, plan: TargetPlan, architecture: str) -> Any:
    """The LoraConfig Axolotl's load_lora(..., config_only=True) returns, with base model identity set."""
    from peft import LoftQConfig, LoraConfig

    kwargs = lora_kwargs(spec, plan, architecture)
    if "loftq_config" in kwargs:
        kwargs["loftq_config"] = LoftQConfig(**kwargs["loftq_config"])
    try:
        config = LoraConfig(**kwargs)
    except TypeError as exc:  # a field this PEFT version does not have
        bad = re.search(r"'(\w+)'", str(exc))
        field = bad.group(1) if bad else "?"
        raise PeftConfigError(
            f"the installed peft does not support LoraConfig.{field}: {exc}", key_for_message(field, spec)
        ) from None
    except ImportError as exc:
        raise PeftConfigError(
            f"PEFT needs a package to build this LoraConfig: {exc}", key_for_message(str(exc), spec)
        ) from None
    except Exception as exc:  # PEFT validates in __post_init__ with ValueError and friends
        raise PeftConfigError(f"PEFT refuses this LoraConfig: {exc}", key_for_message(str(exc), spec)) from None
    config.base_model_name_or_path = spec.base_model
    config.revision = spec.revision_of_model
    return config


def adapter_config_dict(config: Any) -> dict[str, Any]:
    """PEFT's on-disk form (what save_pretrained writes), with every set sorted."""
    return _sorted_sets(config.to_dict())


def _sorted_sets(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, dict):
        return {k: _sorted_sets(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sorted_sets(v) for v in value]
    if hasattr(value, "value") and type(value).__module__.startswith("peft"):  # PEFT enums
        return value.value
    return value
