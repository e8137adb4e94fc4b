"""Axolotl's target-module semantics: what `lora_target_linear` adds to `lora_target_modules`.

Mirrors axolotl.loaders.adapter.find_all_linear_names and _build_peft_lora_config: the last name
component of every torch.nn.Linear and of every module whose class name contains "Linear"
(bitsandbytes' Linear4bit/Linear8bitLt included; LlamaLinearScalingRotaryEmbedding excluded),
minus the output embedding's name for the model type, unioned with lora_target_modules. A
regex string combined with lora_target_linear becomes one more *name* in the list, exactly as
Axolotl does it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..model_facts import any_selected, is_linear_like
from ..profiles import Profile


def linear_names(model: Any, profile: Profile) -> list[str]:
    """Axolotl's find_all_linear_names, sorted (Axolotl returns them in set order)."""
    names = {name.split(".")[-1] for name, module in model.named_modules() if is_linear_like(module)}
    names.discard(profile.embedding_layers(getattr(model.config, "model_type", ""))[1])
    return sorted(names)


def peft_conversion(model: Any, targets: list[str] | str) -> Any:
    """PEFT's transformers-5 config conversion run on a throwaway LoraConfig, as Axolotl's probe does: the
    rewritten config (its target_modules and target_parameters), or None when PEFT converts nothing here."""
    try:
        from peft import LoraConfig
        from peft.utils.transformers_weight_conversion import (
            convert_peft_config_for_transformers,
            get_model_conversion_mapping,
        )
    except ImportError:  # transformers 4 or an older PEFT: nothing is converted
        return None
    probe = LoraConfig(target_modules=targets if isinstance(targets, str) else list(targets))
    try:
        convert_peft_config_for_transformers(probe, model=model, conversions=get_model_conversion_mapping(model))
    except Exception:  # a conversion PEFT cannot do here is one it will not do at injection either
        return None
    return probe if probe.target_parameters else None


def fused_leaves(model: Any) -> dict[str, str]:
    """transformers' checkpoint conversion of this model: a per-expert leaf name -> the fused parameter holding
    it (gate_proj -> gate_up_proj, Mixtral's w2 -> down_proj); empty on a model with no conversion."""
    try:
        from transformers.conversion_mapping import get_model_conversion_mapping
    except ImportError:  # transformers 4: checkpoints load as they are
        return {}
    out: dict[str, str] = {}
    for step in get_model_conversion_mapping(model):
        sources, fused = getattr(step, "source_patterns", None) or [], getattr(step, "target_patterns", None) or []
        if len(fused) != 1:
            continue
        for source in sources:
            if source.endswith(".weight"):  # a per-expert weight merged into one parameter, not a renamed path
                out[source.removesuffix(".weight").rsplit(".", 1)[-1]] = fused[0].rsplit(".", 1)[-1]
    return out


def _fused_into(model: Any, targets: list[str] | str, probe: Any) -> dict[str, tuple[str, ...]]:
    """Target entry -> the fused parameters PEFT's conversion made of it (gate_proj -> gate_up_proj): the
    parameter named as PEFT renames the entry, kept only when PEFT's conversion produced it. A regex entry
    is resolved by PEFT as a whole: every parameter the conversion added is its."""
    made = set(probe.target_parameters)
    if isinstance(targets, str):
        return {targets: tuple(sorted(made))}
    leaves = fused_leaves(model)
    out: dict[str, tuple[str, ...]] = {}
    for name in targets:
        head, _, leaf = name.rpartition(".")
        fused = f"{head}.{leaves[leaf]}" if head and leaf in leaves else leaves.get(leaf)
        if fused and fused != name and fused in made:
            out[name] = (fused,)
    return out


@dataclass(frozen=True)
class TargetPlan:
    """What goes into LoraConfig.target_modules, and what lora_target_linear contributed."""

    target_modules: list[str] | str
    linear_names: list[str] | None  # None when lora_target_linear is off
    target_parameters: list[str] | str
    unmatched: tuple[str, ...] = ()  # listed names no module carries, in target_modules order
    # of those, the names PEFT moves to fused expert parameters (Mixtral's w1, ...)
    converted: frozenset[str] = frozenset()
    # what PEFT's transformers-5 conversion adds to target_parameters (gate_up_proj, gate.weight, ...)
    conversion_parameters: tuple[str, ...] = ()
    # target entry -> the fused parameters the conversion made of it under another name (gate_proj -> gate_up_proj)
    fused_into: dict[str, tuple[str, ...]] = field(default_factory=dict)


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
    if isinstance(modules, list):
        names = [n for n, _ in model.named_modules() if n]
        unmatched = [t for t in modules if not any_selected(names, [t])]
    probe = peft_conversion(model, modules) if modules else None
    if probe is None:
        return TargetPlan(modules, found, target_parameters or [], tuple(unmatched))
    converted = set(unmatched) - set(probe.target_modules or [])
    return TargetPlan(
        modules,
        found,
        target_parameters or [],
        tuple(unmatched),
        frozenset(converted),
        tuple(sorted(probe.target_parameters)),
        _fused_into(model, modules, probe),
    )


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
