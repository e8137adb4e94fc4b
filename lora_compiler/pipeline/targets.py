"""Axolotl's target-module semantics: what `lora_target_linear` adds to `lora_target_modules`.

Mirrors axolotl.loaders.adapter.find_all_linear_names and _build_peft_lora_config: the last name
component of every torch.nn.Linear and of every module whose class name contains "Linear"
(bitsandbytes' Linear4bit/Linear8bitLt included; LlamaLinearScalingRotaryEmbedding excluded),
minus the output embedding's name for the model type, unioned with lora_target_modules. A
regex string combined with lora_target_linear becomes one more *name* in the list, exactly as
Axolotl does it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..model_facts import any_selected, is_linear_like
from ..profiles import Profile


def linear_names(model: Any, profile: Profile) -> list[str]:
    """Axolotl's find_all_linear_names, sorted (Axolotl returns them in set order)."""
    names = {name.split(".")[-1] for name, module in model.named_modules() if is_linear_like(module)}
    names.discard(profile.embedding_layers(getattr(model.config, "model_type", ""))[1])
    return sorted(names)


def peft_converted_names(model: Any, names: list[str]) -> set[str]:
    """Target names PEFT will move to fused expert parameters on this model (transformers 5 MoE).

    Runs PEFT's own config conversion on a throwaway config, as Axolotl's probe does, so a name
    such as Mixtral's w1 counts as found even though no module carries it any more.
    """
    try:
        from peft import LoraConfig
        from peft.utils.transformers_weight_conversion import (
            convert_peft_config_for_transformers,
            get_model_conversion_mapping,
        )
    except ImportError:  # transformers 4 or an older PEFT: nothing is converted
        return set()
    probe = LoraConfig(target_modules=list(names))
    try:
        convert_peft_config_for_transformers(probe, model=model, conversions=get_model_conversion_mapping(model))
    except Exception:  # a conversion PEFT cannot do here is one it will not do at injection either
        return set()
    if not probe.target_parameters:
        return set()
    return set(names) - set(probe.target_modules or [])


@dataclass(frozen=True)
class TargetPlan:
    """What goes into LoraConfig.target_modules, and what lora_target_linear contributed."""

    target_modules: list[str] | str
    linear_names: list[str] | None  # None when lora_target_linear is off
    target_parameters: list[str] | str
    unmatched: tuple[str, ...] = ()  # listed names no module carries, in target_modules order
    # of those, the names PEFT moves to fused expert parameters (Mixtral's w1, ...)
    converted: frozenset[str] = frozenset()


def plan_targets(
    target_modules: list[str] | str | None,
    target_linear: bool | None,
    target_parameters: list[str] | str | None,
    model: Any,
    profile: Profile,
) -> TargetPlan:
    modules: list[str] | str = target_modules or []
    found = None
    if target_linear:
        found = linear_names(model, profile)
        as_list = modules if isinstance(modules, list) else [modules]
        modules = sorted(set(as_list) | set(found))
    elif isinstance(modules, list):
        modules = sorted(set(modules))
    unmatched: list[str] = []
    converted: set[str] = set()
    if isinstance(modules, list):
        names = [n for n, _ in model.named_modules() if n]
        unmatched = [t for t in modules if not any_selected(names, [t])]
        converted = peft_converted_names(model, list(modules)) & set(unmatched) if unmatched else set()
    return TargetPlan(modules, found, target_parameters or [], tuple(unmatched), frozenset(converted))


def regex_patterns(spec: Any) -> list[tuple[str, str]]:
    """(YAML key, regex) for every pattern PEFT or the rules run over module names, in PEFT's own form."""
    out = [
        (key, value)
        for key in ("lora_target_modules", "lora_exclude_modules")
        if isinstance(value := getattr(spec, key, None), str)
    ]
    for key in ("lora_rank_pattern", "lora_alpha_pattern"):
        out += [(key, rf"(.*\.)?({pattern})$") for pattern in (getattr(spec, key, None) or {})]
    return out
