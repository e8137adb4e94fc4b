"""PEFT's LoraConfig as axolotl.loaders.adapter builds it, from the one field table (fields.FIELDS)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .. import inputs
from .fields import key_for_message, lora_kwargs, targets_key, yaml_key
from .spec import AdapterSpec
from .targets import TargetPlan


class PeftConfigError(Exception):
    def __init__(self, message: str, key: str | None) -> None:
        super().__init__(message)
        self.key = key


def build_lora_config(spec: AdapterSpec, plan: TargetPlan, architecture: str) -> Any:
    """The LoraConfig Axolotl's load_lora(..., config_only=True) returns, with base model identity set."""
    from peft import LoftQConfig, LoraConfig

    inputs.dist("peft")  # its code decides the LoraConfig and everything injected after it
    kwargs = lora_kwargs(spec, plan, architecture)
    known = {f.name for f in dataclasses.fields(LoraConfig)}
    missing = next((name for name in kwargs if name not in known), None)
    if missing is not None:  # a field this PEFT version does not have
        key = targets_key(yaml_key(missing), spec.lora_target_modules, spec.lora_target_linear)
        raise PeftConfigError(f"the installed peft does not support LoraConfig.{missing}", key)
    if "loftq_config" in kwargs:
        kwargs["loftq_config"] = LoftQConfig(**kwargs["loftq_config"])
    try:
        config = LoraConfig(**kwargs)
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
