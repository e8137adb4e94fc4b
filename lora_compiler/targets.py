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

# axolotl.loaders.utils.get_linear_embedding_layers: (input embedding, output embedding) by model type.
EMBEDDING_LAYERS: dict[str, tuple[str, str]] = {
    "gpt_neox": ("embed_in", "embed_out"),
    "falcon": ("word_embeddings", "lm_head"),
    "nemotron_h": ("embeddings", "lm_head"),
}
DEFAULT_EMBEDDING_LAYERS = ("embed_tokens", "lm_head")
_NOT_LINEAR = ("LlamaLinearScalingRotaryEmbedding",)


def embedding_layers(model_type: str) -> tuple[str, str]:
    return EMBEDDING_LAYERS.get(model_type, DEFAULT_EMBEDDING_LAYERS)


def is_linear_like(module: Any) -> bool:
    import torch

    name = type(module).__name__
    return isinstance(module, torch.nn.Linear) or ("Linear" in name and name not in _NOT_LINEAR)


def linear_names(model: Any) -> list[str]:
    """Axolotl's find_all_linear_names, sorted (Axolotl returns them in set order)."""
    names = {name.split(".")[-1] for name, module in model.named_modules() if is_linear_like(module)}
    names.discard(embedding_layers(getattr(model.config, "model_type", ""))[1])
    return sorted(names)


def output_layer_name(model: Any) -> str | None:
    """The output embedding's module name, found by identity as PEFT's all-linear does."""
    try:
        head = model.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return None
    if head is None:
        return None
    return next((name for name, module in model.named_modules() if module is head), None)


def conv1d_names(model: Any) -> list[str]:
    """Last names of transformers' Conv1D layers (GPT-2 style), which lora_target_linear skips."""
    return sorted({n.split(".")[-1] for n, m in model.named_modules() if type(m).__name__ == "Conv1D"})


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


def plan_targets(
    target_modules: list[str] | str | None,
    target_linear: bool | None,
    target_parameters: list[str] | str | None,
    model: Any,
) -> TargetPlan:
    modules: list[str] | str = target_modules or []
    found = None
    if target_linear:
        found = linear_names(model)
        as_list = modules if isinstance(modules, list) else [modules]
        modules = sorted(set(as_list) | set(found))
    elif isinstance(modules, list):
        modules = sorted(set(modules))
    return TargetPlan(modules, found, target_parameters or [])
