"""Ground truth from PEFT itself: inject the LoraConfig into the meta skeleton and list what it wrapped.

PEFT may rewrite the config while injecting (under transformers 5 it turns MoE expert
target_modules into fused target_parameters), so injection works on a copy and the report
says what PEFT actually did, not what the config asked for.
"""

from __future__ import annotations

import copy
import re
import warnings
from dataclasses import dataclass, field
from typing import Any


class InjectionError(Exception):
    pass


@dataclass(frozen=True)
class WrappedModule:
    name: str
    type: str
    kind: str  # module | parameter
    in_features: int | None
    out_features: int | None
    r: int
    alpha: float
    params: int
    num_experts: int | None = None


@dataclass(frozen=True)
class SavedModule:
    name: str
    type: str
    params: int


@dataclass
class Injection:
    modules: list[WrappedModule]
    modules_to_save: list[SavedModule]
    trainable_tokens: list[SavedModule]
    trainable_params: int
    all_params: int
    effective_target_modules: list[str] | str | None
    effective_target_parameters: list[str] | None
    converted_to_parameters: bool  # PEFT rewrote expert target_modules into target_parameters
    warnings: list[str] = field(default_factory=list)


_BASE_SUFFIX = re.compile(r"(\.base_layer)+$")


def inject(model: Any, lora_config: Any) -> Injection:
    """Apply a copy of lora_config to `model` on the meta device, inventory it, and unload it again.

    On success the model is left as it was (PEFT's unload restores every original module); after
    an InjectionError it may be half-wrapped and must not be reused.
    """
    import torch
    from peft import get_peft_model

    config = copy.deepcopy(lora_config)
    asked_params = bool(config.target_parameters)
    # Dropout never changes what is wrapped or counted; zeroing it mirrors Axolotl's patch that lets
    # PEFT's ParamWrapper accept fused-expert targets when the YAML's dropout is not 0.
    config.lora_dropout = 0.0
    # Data-dependent initialisations (LoftQ, PiSSA, OLoRA, ...) need real weights and, for LoftQ,
    # bitsandbytes on a GPU; none of them changes which modules are wrapped or how many parameters.
    config.init_lora_weights = True
    config.loftq_config = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # Not low_cpu_mem_usage: PEFT then re-creates parameters under init_empty_weights and
            # breaks the sharing of tied modules_to_save copies, which miscounts them.
            with torch.device("meta"):
                peft_model = get_peft_model(model, config)
        except Exception as exc:  # every PEFT refusal becomes a finding, whatever its type
            raise InjectionError(str(exc).strip() or type(exc).__name__) from None
    applied = peft_model.peft_config["default"]
    trainable, total = peft_model.get_nb_trainable_parameters()
    modules, saved, tokens = _inventory(peft_model.base_model.model)
    base = peft_model.unload()  # hand the skeleton back unchanged, so a batch can reuse it
    if "peft_config" in vars(base):  # older PEFT leaves its config on the model after unload
        del base.peft_config
    return Injection(
        modules=modules,
        modules_to_save=saved,
        trainable_tokens=tokens,
        trainable_params=int(trainable),
        all_params=int(total),
        effective_target_modules=_plain(applied.target_modules),
        effective_target_parameters=_plain(applied.target_parameters),
        converted_to_parameters=bool(applied.target_parameters) and not asked_params,
        warnings=sorted({str(w.message).strip() for w in caught if _relevant(w)}),
    )


def _inventory(root: Any) -> tuple[list[WrappedModule], list[SavedModule], list[SavedModule]]:
    from peft.tuners.lora import LoraLayer
    from peft.utils.other import ModulesToSaveWrapper

    try:
        from peft.utils.other import TrainableTokensWrapper
    except ImportError:  # peft < 0.15
        TrainableTokensWrapper = ()  # type: ignore[assignment,misc]
    wrapped: list[WrappedModule] = []
    saved: list[SavedModule] = []
    tokens: list[SavedModule] = []
    for name, module in root.named_modules():
        if isinstance(module, LoraLayer):
            wrapped.append(_describe(name, module))
        elif isinstance(module, ModulesToSaveWrapper):
            base = module.original_module
            saved.append(SavedModule(name, type(base).__name__, _own_trainable(module)))
        elif TrainableTokensWrapper and isinstance(module, TrainableTokensWrapper):
            base = module.base_layer if hasattr(module, "base_layer") else module
            tokens.append(SavedModule(name, type(base).__name__, _own_trainable(module)))
    key = lambda m: m.name  # noqa: E731
    return sorted(wrapped, key=key), sorted(saved, key=key), sorted(tokens, key=key)


def _describe(name: str, layer: Any) -> WrappedModule:
    adapter = "default"
    parameter = getattr(layer, "parameter_name", None)
    base = layer.get_base_layer()
    if parameter:
        clean = _BASE_SUFFIX.sub("", name) + "." + parameter
        experts = getattr(layer, "num_experts", None)
        if experts is None:
            param = getattr(base, parameter, None)
            experts = int(param.shape[0]) if param is not None and param.dim() == 3 else None
        kind, type_name = "parameter", f"{type(base).__name__}.{parameter}"
    else:
        clean, experts, kind, type_name = name, None, "module", type(base).__name__
    return WrappedModule(
        name=clean,
        type=type_name,
        kind=kind,
        in_features=_int_or_none(getattr(layer, "in_features", None)),
        out_features=_int_or_none(getattr(layer, "out_features", None)),
        r=int(layer.r[adapter]),
        alpha=float(layer.lora_alpha[adapter]),
        params=_own_trainable(layer),
        num_experts=experts,
    )


def _own_trainable(module: Any) -> int:
    """Trainable parameters a wrapper adds itself, not those of a wrapper nested in its base layer."""
    return sum(
        p.numel() for n, p in module.named_parameters() if p.requires_grad and not n.startswith("base_layer.")
    )


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int) else None


def _plain(value: Any) -> list[str] | str | None:
    if value is None or isinstance(value, str):
        return value
    return sorted(value)


def _relevant(w: warnings.WarningMessage) -> bool:
    """PEFT's advice about the adapter, not library deprecation noise."""
    return "peft" in (w.filename or "") and not issubclass(w.category, (DeprecationWarning, FutureWarning))
