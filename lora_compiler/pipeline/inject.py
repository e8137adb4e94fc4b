"""Ground truth from PEFT itself: inject the LoraConfig into the meta skeleton and list what it wrapped.

PEFT may rewrite the config while injecting (under transformers 5 it turns MoE expert
target_modules into fused target_parameters), so injection works on a copy and the report
says what PEFT actually did, not what the config asked for. Two savings keep this cheap at any
size, both held equal to the plain way by tests: PEFT sees one layer of each kind (stacks.py),
and the model is put back from a snapshot rather than by PEFT's unload().
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

from ..results.parts import SavedModule, WrappedModule


class InjectionError(Exception):
    pass


@dataclass(frozen=True)
class SavedTensor:
    """One tensor of the adapter file, as PEFT's get_peft_model_state_dict names it (without base_model.model.)."""

    name: str
    shape: tuple[int, ...]
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
    # Per module (in `modules` order), its trainable parameters as (constant, per unit of rank), when
    # every wrapped layer takes the config's global r and alpha; None when another rank cannot be derived.
    rank_terms: list[tuple[int, int]] | None = None
    # Every parameter of the PeftModel (freezing.Parameter), when asked for: Axolotl's post-load
    # freezing matches their names, so the whole model is injected (no stack collapse).
    parameters: tuple[Any, ...] | None = None
    tensors: list[SavedTensor] = field(default_factory=list)  # what save_pretrained writes (adapter_file.py)
    rank: int = 0  # the LoraConfig's global r these tensors were injected at
    # modules_to_save as the PeftModel's config holds it, so as save_pretrained writes it: a classification
    # task type adds the task heads the installed PEFT names (0.21: classifier, score; 0.22: pre_classifier too)
    saved_modules_to_save: tuple[str, ...] | None = None
    # The LoraConfig fields PEFT rewrote while injecting, in its on-disk form (peftcfg.on_disk): what
    # save_pretrained writes for them instead of what Axolotl built.
    rewritten: dict[str, Any] = field(default_factory=dict)


def at_rank(inj: Injection, r: int, alpha: float) -> Injection:
    """The injection PEFT gives for the same config with global rank r and lora_alpha alpha.

    Only for an injection with rank_terms: then every wrapped layer is a plain (or DoRA) LoRA
    Linear or fused-expert ParamWrapper whose A and B matrices are linear in r and whose other
    trainable tensors (bias, magnitude) do not depend on it, so nothing else PEFT reports can
    change with r. tests/unit/pipeline/test_inject.py holds it equal to PEFT's own injection across ranks.
    """
    assert inj.rank_terms is not None
    params = [const + per_rank * r for const, per_rank in inj.rank_terms]
    delta = sum(params) - sum(m.params for m in inj.modules)
    modules = [replace(m, r=r, alpha=float(alpha), params=n) for m, n in zip(inj.modules, params)]
    return replace(
        inj,
        modules=modules,
        trainable_params=inj.trainable_params + delta,
        all_params=inj.all_params + delta,
        tensors=[_at_rank(t, inj.rank, r) for t in inj.tensors],
        rank=r,
    )


def _at_rank(tensor: SavedTensor, was: int, r: int) -> SavedTensor:
    """A saved tensor at another global rank: A matrices hold k*r rows, B matrices k*r columns (k experts)."""
    shape = list(tensor.shape)
    if ".lora_A." in tensor.name or tensor.name.endswith(".lora_embedding_A"):
        shape[0] = shape[0] // was * r
    elif ".lora_B." in tensor.name or tensor.name.endswith(".lora_embedding_B"):
        shape[-1] = shape[-1] // was * r
    else:
        return tensor
    params = 1
    for dim in shape:
        params *= dim
    return SavedTensor(tensor.name, tuple(shape), params)


def injection_keys(lora_config: Any) -> tuple[str, str]:
    """Two keys of the config that is injected: equal first keys inject alike; equal second keys differ
    at most in the global r and lora_alpha (carried_to_rank may then reuse one result for the other)."""
    config = injected_config(lora_config)
    return _config_key(config), _config_key(config, without=("r", "lora_alpha"))


_RANK_FIELDS = frozenset({"r", "lora_alpha", "rank_pattern", "alpha_pattern"})


def carried_to_rank(seen: Injection, lora_config: Any) -> Injection | None:
    """`seen`'s result carried to lora_config's r and lora_alpha, when its counts are linear in the rank and
    PEFT's rewrite of the config did not depend on them (a fused expert's rank is a multiple of r)."""
    if seen.rank_terms is None or _RANK_FIELDS & seen.rewritten.keys():
        return None
    return at_rank(seen, lora_config.r, lora_config.lora_alpha)


def _config_key(lora_config: Any, without: tuple[str, ...] = ()) -> str:
    """The LoraConfig's fields but `without`, sets sorted."""

    def plain(value: Any) -> Any:
        if isinstance(value, (set, frozenset)):
            return sorted(value, key=str)
        return str(value)

    fields = {k: v for k, v in lora_config.to_dict().items() if k not in without}
    return json.dumps(fields, sort_keys=True, default=plain)


def injected_config(lora_config: Any) -> Any:
    """The copy of lora_config that is injected: the fields that cannot change the inventory are neutral.

    Dropout never changes what is wrapped or counted; zeroing it mirrors Axolotl's patch that lets
    PEFT's ParamWrapper accept fused-expert targets when the YAML's dropout is not 0. Data-dependent
    initialisations (LoftQ, PiSSA, OLoRA, ...) need real weights and, for LoftQ, bitsandbytes on a
    GPU; none of them changes which modules are wrapped or how many parameters.
    """
    config = copy.deepcopy(lora_config)
    config.lora_dropout = 0.0
    config.init_lora_weights = True
    config.loftq_config = {}
    return config


_BASE_SUFFIX = re.compile(r"(\.base_layer)+$")


def inject(model: Any, lora_config: Any, collapse_stacks: bool = True, parameters: bool = False) -> Injection:
    """Apply a copy of lora_config to `model` on the meta device, inventory it, and put the model back.

    With collapse_stacks, PEFT sees one layer of each kind where the config allows it (stacks.py)
    and the inventory is copied to the twins; a refusal or a message naming a layer is then
    checked on the whole model. On success the model is left as it was, so a batch can reuse it;
    after an InjectionError it may be half-wrapped and must not be reused. With `parameters`, the
    result lists every parameter of the wrapped model (and stacks are not collapsed).
    """
    from .stacks import collapse

    config = injected_config(lora_config)
    snapshot = _Snapshot(model)
    collapsed = collapse(model, config) if collapse_stacks and not parameters else None
    try:
        inj = _inject(model, config, bool(config.target_parameters), snapshot, parameters)
    except InjectionError:
        if collapsed is None:
            raise
        snapshot.restore()
        return inject(model, lora_config, collapse_stacks=False)
    if collapsed is None:
        return inj
    if any(collapsed.names_in(w) for w in inj.warnings):
        return inject(model, lora_config, collapse_stacks=False)
    modules, terms, added = collapsed.expand_all(inj.modules, inj.rank_terms)
    saved, _, added_saved = collapsed.expand_all(inj.modules_to_save)
    tokens, _, added_tokens = collapsed.expand_all(inj.trainable_tokens)
    tensors = collapsed.expand_all(inj.tensors)[0]
    added += added_saved + added_tokens
    return replace(
        inj,
        modules=modules,
        modules_to_save=saved,
        trainable_tokens=tokens,
        rank_terms=terms,
        tensors=tensors,
        trainable_params=inj.trainable_params + added,
        all_params=inj.all_params + collapsed.removed_params + added,
    )


def _inject(model: Any, config: Any, asked_params: bool, snapshot: _Snapshot, parameters: bool = False) -> Injection:
    import torch
    from peft import get_peft_model

    from .peftcfg import on_disk
    from .skeleton import skip_init

    built = on_disk(config.to_dict())  # PEFT rewrites the config in place while injecting
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # Not low_cpu_mem_usage: PEFT then re-creates parameters under init_empty_weights and
            # breaks the sharing of tied modules_to_save copies, which miscounts them.
            with torch.device("meta"), skip_init():
                peft_model = get_peft_model(model, config)
        except Exception as exc:  # every PEFT refusal becomes a finding, whatever its type
            raise InjectionError(str(exc).strip() or type(exc).__name__) from None
    applied = peft_model.peft_config["default"]
    after = on_disk(applied.to_dict())
    trainable, total = peft_model.get_nb_trainable_parameters()
    modules, layers, saved, tokens = _inventory(peft_model.base_model.model)
    terms = _rank_terms(layers, config)
    tensors = _saved_tensors(peft_model)
    listed = None
    if parameters:
        from .freezing import Parameter

        listed = tuple(
            Parameter(n, p.numel(), p.shape[0] if p.dim() else None, p.requires_grad)
            for n, p in peft_model.named_parameters()
        )
    snapshot.restore()
    return Injection(
        modules=modules,
        modules_to_save=saved,
        trainable_tokens=tokens,
        trainable_params=int(trainable),
        all_params=int(total),
        effective_target_modules=_plain(applied.target_modules),
        effective_target_parameters=sorted(applied.target_parameters)
        if applied.target_parameters is not None
        else None,
        converted_to_parameters=bool(applied.target_parameters) and not asked_params,
        warnings=sorted({str(w.message).strip() for w in caught if _relevant(w)}),
        rank_terms=terms,
        parameters=listed,
        tensors=tensors,
        rank=int(config.r),
        saved_modules_to_save=None if applied.modules_to_save is None else tuple(applied.modules_to_save),
        rewritten={k: v for k, v in after.items() if k not in built or built[k] != v},
    )


def _saved_tensors(peft_model: Any) -> list[SavedTensor]:
    """The adapter's state dict as save_pretrained takes it (save_embedding_layers="auto"), without the Hub:
    PEFT's vocabulary-resize check would look the base model up, and a skeleton is never resized."""
    from peft.utils import get_peft_model_state_dict

    config = peft_model.peft_config["default"]
    named, config.base_model_name_or_path = config.base_model_name_or_path, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = get_peft_model_state_dict(peft_model)
    finally:
        config.base_model_name_or_path = named
    tensors = (SavedTensor(k.removeprefix("base_model.model."), tuple(v.shape), v.numel()) for k, v in state.items())
    return sorted(tensors, key=lambda t: t.name)


class _Snapshot:
    """What PEFT changes on the model it wraps, recorded so it can be put back exactly.

    PEFT swaps child modules for wrappers, freezes parameters, attaches peft_config, and may edit
    the model config (layer_replication sets num_hidden_layers, PeftModel sets pretraining_tp).
    Putting those back is cheaper than PEFT's unload(), which rebuilds each base layer from its
    wrapper (a fifth of the pipeline on large models), and exact by construction: afterwards
    the model is the very tree of objects recorded before injection.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        modules = list(model.modules())
        self.children = [(m, dict(m._modules)) for m in modules]
        self.grads = [(p, p.requires_grad) for p in model.parameters()]
        configs = {id(c): c for m in modules if (c := vars(m).get("config")) is not None and hasattr(c, "__dict__")}
        self.configs = [(c, dict(vars(c))) for c in configs.values()]

    def restore(self) -> None:
        for module, children in self.children:
            module._modules.clear()
            module._modules.update(children)
        for param, requires_grad in self.grads:
            param.requires_grad_(requires_grad)
        for config, state in self.configs:
            vars(config).clear()
            vars(config).update(state)
        vars(self.model).pop("peft_config", None)


def _inventory(root: Any) -> tuple[list[WrappedModule], list[Any], list[SavedModule], list[SavedModule]]:
    """Wrapped modules (with their LoRA layers, in the same order), modules_to_save and trainable tokens."""
    from peft.tuners.lora import LoraLayer
    from peft.utils.other import ModulesToSaveWrapper

    try:
        from peft.utils.other import TrainableTokensWrapper
    except ImportError:  # peft < 0.15
        TrainableTokensWrapper = ()  # type: ignore[assignment,misc]
    wrapped: list[tuple[WrappedModule, Any]] = []
    saved: list[SavedModule] = []
    tokens: list[SavedModule] = []
    for name, module in root.named_modules():
        if isinstance(module, LoraLayer):
            wrapped.append((_describe(name, module), module))
        elif isinstance(module, ModulesToSaveWrapper):
            base = module.original_module
            saved.append(SavedModule(name, type(base).__name__, _own_trainable(module)))
        elif isinstance(module, TrainableTokensWrapper):
            base = module.base_layer if hasattr(module, "base_layer") else module
            tokens.append(SavedModule(name, type(base).__name__, _own_trainable(module)))
    key = lambda m: m.name  # noqa: E731
    wrapped.sort(key=lambda pair: pair[0].name)
    return [m for m, _ in wrapped], [layer for _, layer in wrapped], sorted(saved, key=key), sorted(tokens, key=key)


_RANK_TENSORS = {"lora_A.default.weight", "lora_B.default.weight"}
_FIXED_TENSORS = {"lora_B.default.bias", "lora_magnitude_vector.default.weight"}


def _rank_terms(layers: list[Any], config: Any) -> list[tuple[int, int]] | None:
    """Each wrapped layer's trainable count split into (constant, per unit of r), in the order given;
    None unless every layer is one whose count is affine in the config's global r."""
    from peft.tuners import lora

    kinds = tuple(getattr(lora, k) for k in ("Linear", "ParamWrapper") if hasattr(lora, k))
    if config.rank_pattern or config.alpha_pattern:
        return None
    terms: list[tuple[int, int]] = []
    for layer in layers:
        own = {n: p for n, p in layer.named_parameters() if p.requires_grad and not n.startswith("base_layer.")}
        a, b = own.get("lora_A.default.weight"), own.get("lora_B.default.weight")
        if (
            type(layer) not in kinds
            or layer.r.get("default") != config.r
            or layer.lora_alpha.get("default") != config.lora_alpha
            or a is None
            or b is None
            or a.shape[0] % config.r
            or b.shape[1] % config.r
            or not set(own) - _RANK_TENSORS <= _FIXED_TENSORS
        ):
            return None
        fixed = sum(p.numel() for n, p in own.items() if n in _FIXED_TENSORS)
        terms.append((fixed, (a.numel() + b.numel()) // config.r))
    return terms


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
    return sum(p.numel() for n, p in module.named_parameters() if p.requires_grad and not n.startswith("base_layer."))


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int) else None


def _plain(value: Any) -> list[str] | str | None:
    if value is None or isinstance(value, str):
        return value
    return sorted(value)


def _relevant(w: warnings.WarningMessage) -> bool:
    """PEFT's advice about the adapter, not library deprecation noise."""
    return "peft" in (w.filename or "") and not issubclass(w.category, (DeprecationWarning, FutureWarning))
