"""PEFT's LoraConfig as axolotl.loaders.adapter builds it, from the one field table (fields.FIELDS)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .. import inputs
from ..results.parts import ConfigRewrite
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
    """The LoraConfig in PEFT's on-disk form, sets sorted, keys in its fields' order (as built, not as saved)."""
    return on_disk(config.to_dict())


def saved_config(config: Any, rewritten: Mapping[str, Any]) -> dict[str, Any]:
    """The adapter_config.json PeftModel.save_pretrained writes for the adapter Axolotl trains from `config`.

    `rewritten`: the fields PEFT changed in the config while injecting (inject.Injection.rewritten: fused
    experts turned into target_parameters with their rank and alpha multiplied, all-linear expanded, a task's
    head added to modules_to_save); save_pretrained writes the injected config, with inference_mode true.
    (It also adds auto_mapping when task_type is None, which Axolotl never leaves it.)
    """
    return in_peft_order({**on_disk(config.to_dict()), **rewritten, "inference_mode": True})


def in_peft_order(values: dict[str, Any]) -> dict[str, Any]:
    """Keys ordered as the installed PEFT's PeftConfigMixin.save_pretrained orders them.

    PEFT >= 0.22 sorts every dict but those whose order decides a match (rank_pattern, alpha_pattern: the
    first matching key wins), with its own config._sort_keys; older PEFT dumps with sort_keys=True, every
    dict sorted. The installed PEFT's function is used where it has one, so its list of kept orders applies.
    """
    from peft import config as peft_config

    sort = getattr(peft_config, "_sort_keys", None)
    return dict(sort(values)) if callable(sort) else _sorted_keys(values)


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def on_disk(values: Mapping[str, Any]) -> dict[str, Any]:
    """A LoraConfig's to_dict() as JSON values: sets as sorted lists (PEFT writes them in set order, which
    is no order), tuples as lists, PEFT's enums as their values."""
    return {k: _sorted_sets(v) for k, v in values.items()}


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


def rewrites(config: Any, rewritten: Mapping[str, Any], model_type: str) -> tuple[ConfigRewrite, ...]:
    """The report's peft_rewrites: each field PEFT rewrote while injecting, Axolotl's value beside the saved one."""
    built = on_disk(config.to_dict())
    return tuple(
        ConfigRewrite(name, built.get(name), value, _reason(name, built, rewritten, model_type))
        for name, value in sorted(rewritten.items())
    )


def _reason(name: str, built: Mapping[str, Any], rewritten: Mapping[str, Any], model_type: str) -> str:
    """Why PEFT changed `name`, from what else it changed (PEFT's tuners_utils.inject_adapter and
    utils/transformers_weight_conversion.py make these rewrites)."""
    fused = rewritten.get("target_parameters")
    if name in ("rank_pattern", "alpha_pattern") and fused:
        base = built["r"] if name == "rank_pattern" else built["lora_alpha"]
        added = {k: v for k, v in rewritten[name].items() if k not in (built.get(name) or {})}
        what = "r" if name == "rank_pattern" else "lora_alpha"
        parts = ", ".join(f"`{k}` x{v / base:g}" for k, v in added.items())
        return (
            f"a fused expert parameter holds several projections: PEFT multiplies its {what} by their number ({parts})"
        )
    if name in ("target_parameters", "target_modules") and fused:
        return (
            f"PEFT's transformers 5 conversion targets {model_type}'s fused expert weights as target_parameters "
            "(convert_peft_config_for_transformers)"
        )
    if name == "target_modules" and isinstance(built.get(name), str):
        return f"PEFT expands {built[name]!r} to the names of the layers it matched"
    if name == "target_modules" and built.get(name) is None:
        return f"PEFT fills in its default target modules for {model_type}"
    if name == "modules_to_save":
        return f"PEFT adds the head of task_type {built.get('task_type')} to modules_to_save"
    return "PEFT rewrote it in get_peft_model"
