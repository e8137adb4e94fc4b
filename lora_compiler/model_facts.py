"""Facts about models and PEFT's name rules, each defined once.

Every other module asks here: which names PEFT's matcher selects, what a fused expert, a router, a
tower or an output layer is, and where a config keeps its expert count. Target and exclusion
matching goes through PEFT's own `check_target_module_exists`, so a PEFT release that changes the
rule changes it for every feature at once.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any

# Config keys holding the number of routed experts, in the order they are looked up.
EXPERT_COUNT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
ROUTER_NAMES = ("gate", "router", "wg")
# PEFT initialisations that rewrite the base weights when PEFT loads the adapter (PiSSA, OLoRA and CorDA
# subtract the initial adapter; LoftQ replaces the weights): an engine that does not read init_lora_weights
# serves such an adapter over weights it was not trained against. Matched as prefixes (pissa_niter_4).
BASE_CHANGING_INITS = ("pissa", "olora", "corda", "loftq")
_NOT_LINEAR = ("LlamaLinearScalingRotaryEmbedding",)
_EXPERT = re.compile(r"expert", re.I)
# A module's tower: the first component of its path, from the root, whose name (split on "_" and
# digits) or class name says so; a connector's name wins over the tower it connects ("mm_projector").
_TOWER_NAMES: dict[str, re.Pattern[str]] = {
    "connector": re.compile(r"^(projector|connector|aligner|resampler|qformer|merger)$"),
    "vision": re.compile(r"^(vision|visual|image|img|vit|siglip|clip|vq|vqmodel|video|vpm|davit)$"),
    "audio": re.compile(r"^(audio|speech|sound|whisper|mel|encodec)$"),
}
_TOWER_CLASSES = {"vision": re.compile(r"vision|visual|image|vit|vqvae"), "audio": re.compile(r"audio|speech|encodec")}


def ties_embeddings(config: Any) -> bool:
    """Whether the model shares one matrix between its input embedding and output layer (a multimodal
    config keeps the flag on its text config)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return bool(getattr(config, "tie_word_embeddings", False) or getattr(text, "tie_word_embeddings", False))


def is_linear_like(module: Any) -> bool:
    """Axolotl's find_all_linear_names test: torch.nn.Linear, or a class whose name contains Linear."""
    import torch

    name = type(module).__name__
    return isinstance(module, torch.nn.Linear) or ("Linear" in name and name not in _NOT_LINEAR)


def is_conv1d(module: Any) -> bool:
    """transformers' Conv1D (GPT-2 style), which keeps its weight as (in, out)."""
    return type(module).__name__ == "Conv1D"


def conv1d_names(model: Any) -> list[str]:
    """Last names of transformers' Conv1D layers, which lora_target_linear skips."""
    return sorted({n.split(".")[-1] for n, m in model.named_modules() if is_conv1d(m)})


def layer_features(module: Any) -> tuple[str, int, int] | None:
    """(class name, in, out) as PEFT sizes LoRA for a layer, from shapes alone (works on meta tensors).

    Conv1D keeps its weight as (in, out); an Embedding's in and out are its vocabulary and width.
    """
    import torch

    name = type(module).__name__
    if is_conv1d(module) and getattr(module, "weight", None) is not None:
        return name, int(module.weight.shape[0]), int(module.weight.shape[1])
    if isinstance(module, torch.nn.Embedding):
        return name, module.num_embeddings, module.embedding_dim
    fan_in, fan_out = getattr(module, "in_features", None), getattr(module, "out_features", None)
    if isinstance(fan_in, int) and isinstance(fan_out, int):
        return name, fan_in, fan_out
    return None


def adaptable(model: Any, exclude: list[str] | set[str] | str | None) -> list[dict[str, Any]]:
    """Every module and fused expert parameter LoRA could wrap, in model order, wrapped or not.

    Linear-like modules and Conv1D layers by (in, out); fused experts by (experts, in, out).
    `excluded` is PEFT's exclude_modules test.
    """
    out: list[dict[str, Any]] = []
    for name, module in model.named_modules():
        if is_linear_like(module) or is_conv1d(module):
            features = layer_features(module)
            out.append(
                {
                    "name": name,
                    "type": type(module).__name__,
                    "kind": "module",
                    "in_features": features[1] if features else None,
                    "out_features": features[2] if features else None,
                    "num_experts": None,
                }
            )
        for pname, param in module.named_parameters(recurse=False):
            if is_fused_expert(name, module, param):
                out.append(
                    {
                        "name": f"{name}.{pname}" if name else pname,
                        "type": f"{type(module).__name__}.{pname}",
                        "kind": "parameter",
                        "in_features": int(param.shape[2]),
                        "out_features": int(param.shape[1]),
                        "num_experts": int(param.shape[0]),
                    }
                )
    excluded = set(peft_selected([c["name"] for c in out], exclude))
    return [{**c, "excluded": c["name"] in excluded} for c in out]


def is_fused_expert(path: str, module: Any, param: Any) -> bool:
    """A 3D parameter holding every expert of an MoE block (transformers 5 fuses them).

    The module's path or class name says "expert": Mixtral's `...mlp.experts.gate_up_proj`, or a
    block whose class is e.g. `Qwen3MoeExperts`.
    """
    return param.dim() == 3 and _EXPERT.search(f"{path}.{type(module).__name__}") is not None


def fused_experts(model: Any) -> list[tuple[str, Any, str, Any]]:
    """(module path, module, parameter name, parameter) of every fused expert parameter, in model order."""
    return [
        (path, module, pname, param)
        for path, module in model.named_modules()
        for pname, param in module.named_parameters(recurse=False)
        if is_fused_expert(path, module, param)
    ]


def num_experts(config: Any) -> int | None:
    """The number of routed experts of a (text) config, None for a dense model."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    for key in EXPERT_COUNT_KEYS:
        value = getattr(text, key, None)
        if isinstance(value, int) and value > 1:
            return value
    return None


def is_router(name: str, module: Any, experts: int) -> bool:
    """An MoE router: a *Router class, or a Linear named gate/router/wg with one output per expert."""
    cls = type(module).__name__
    return "Router" in cls or (
        name.rsplit(".", 1)[-1] in ROUTER_NAMES
        and is_linear_like(module)
        and getattr(module, "out_features", None) == experts
    )


def output_layer_name(model: Any) -> str | None:
    """The output embedding's module name, found by identity as PEFT's all-linear does."""
    try:
        head = model.get_output_embeddings()
    except (AttributeError, NotImplementedError):
        return None
    if head is None:
        return None
    return next((name for name, module in model.named_modules() if module is head), None)


def tower(path: str, classes: dict[str, str] | None = None) -> tuple[str, str] | None:
    """(kind, component) of the vision/audio tower or connector a module belongs to; None for the language model.

    kind is vision, audio or connector; component is the path component that said so. `classes`
    (module path -> class name) lets a plainly named component speak through its class (Pix2Struct's
    encoder), never the model holding every tower (AyaVisionModel at "model") nor a language model.
    """
    parts = path.split(".")
    for depth, part in enumerate(parts, 1):
        tokens = [t for t in re.split(r"[_\d]+", part.lower()) if t]
        generic = classes is not None and depth < len(parts) and not {"model", "language", "text", "lm"} & set(tokens)
        cls = classes.get(".".join(parts[:depth]), "").lower() if generic and classes else ""
        for kind, pattern in _TOWER_NAMES.items():
            if any(pattern.match(t) for t in tokens) or (kind in _TOWER_CLASSES and _TOWER_CLASSES[kind].search(cls)):
                return kind, part
    return None


def tower_kind(path: str, classes: dict[str, str] | None = None) -> str:
    """text, vision, audio or connector."""
    found = tower(path, classes)
    return found[0] if found else "text"


def tower_component(path: str, classes: dict[str, str] | None = None) -> str | None:
    """The path component naming the tower (e.g. vision_tower), None for the language model."""
    found = tower(path, classes)
    return found[1] if found else None


def module_classes(model: Any) -> dict[str, str]:
    """Module path -> class name, for `tower`."""
    return {name: type(module).__name__ for name, module in model.named_modules()}


def _matcher_config(targets: list[str] | set[str] | str) -> Any:
    return SimpleNamespace(
        target_modules=targets if isinstance(targets, str) else list(targets),
        target_parameters=None,
        exclude_modules=None,
        modules_to_save=None,
        layers_to_transform=None,
        layers_pattern=None,
    )


def valid_regex(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):  # the last two: pathological nesting or repeat counts
        return False
    return True


def peft_selected(names: Iterable[str], targets: list[str] | set[str] | str | None) -> list[str]:
    """The names PEFT's target_modules / exclude_modules matcher selects, in the order given.

    Asks PEFT's own check_target_module_exists: a string is a full-match regex (an invalid one
    selects nothing); list entries match the whole name or its trailing dotted components, so
    `lm_head` selects `model.lm_head` but not `model.xlm_head`.
    """
    return list(_selecting(names, targets))


def _selecting(names: Iterable[str], targets: list[str] | set[str] | str | None) -> Iterator[str]:
    from peft.tuners.tuners_utils import check_target_module_exists

    if not targets or isinstance(targets, str) and not valid_regex(targets):
        return
    config = _matcher_config(targets)
    yield from (n for n in names if check_target_module_exists(config, n))


def any_selected(names: Iterable[str], targets: list[str] | set[str] | str | None) -> bool:
    """True if PEFT's matcher selects at least one of `names` (stops at the first)."""
    return next(_selecting(names, targets), None) is not None


def peft_selects(name: str, targets: list[str] | set[str] | str | None) -> bool:
    """`peft_selected` for one name."""
    return any_selected([name], targets)


def peft_saves(name: str, modules_to_save: Iterable[str]) -> bool:
    """The installed PEFT's modules_to_save test (utils.other._set_trainable), as `saves_partial_names` finds it:
    a plain `endswith` up to PEFT 0.21 (`head` saves `lm_head`), a whole trailing name from PEFT 0.22 on."""
    if saves_partial_names():
        return suffix_saves(name, modules_to_save)
    return any(name == m or name.endswith(f".{m}") for m in modules_to_save)


def suffix_saves(name: str, modules_to_save: Iterable[str]) -> bool:
    """PEFT 0.21's modules_to_save test: a plain `endswith`, with no dot boundary (`lm_head` saves `xlm_head`)."""
    return any(name.endswith(m) for m in modules_to_save)


@functools.cache
def saves_partial_names() -> bool:
    """Whether the installed PEFT's modules_to_save takes a partial name: asked of PEFT itself, which wraps
    (or not) an `lm_head` for modules_to_save=["head"] on a two-layer probe."""
    import torch
    from peft import LoraConfig, inject_adapter_in_model

    probe = torch.nn.Module()
    probe.add_module("target", torch.nn.Linear(1, 1))
    probe.add_module("lm_head", torch.nn.Linear(1, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inject_adapter_in_model(LoraConfig(r=1, target_modules=["target"], modules_to_save=["head"]), probe)
    return type(probe.lm_head).__name__ != "Linear"


def peft_wraps(module: Any) -> bool:
    """Whether the installed PEFT's LoRA wraps a module of this class as a target (its layer dispatch asked
    on a copy): a Linear, an Embedding, a convolution yes; a custom router (JambaTopKRouter) no."""
    import copy

    import torch
    from peft import LoraConfig, inject_adapter_in_model

    probe = torch.nn.Module()
    probe.add_module("target", copy.deepcopy(module))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inject_adapter_in_model(LoraConfig(r=1, target_modules=["target"]), probe)
    except Exception:  # PEFT refuses the class (ValueError: "Target module ... is not supported")
        return False
    return True


def pattern_key_matches(pattern: str, name: str) -> bool:
    """PEFT's rank_pattern / alpha_pattern key test: a regex anchored at a name boundary at the end."""
    return valid_regex(pattern) and re.match(rf"(.*\.)?({pattern})$", name) is not None


REGEX_BUDGET_SECONDS = 1.0  # per pattern, over all module names: real patterns take microseconds


def slow_pattern(
    patterns: list[tuple[str, str]], names: list[str], seconds: float = REGEX_BUDGET_SECONDS
) -> tuple[str, str] | None:
    """The first (key, pattern) whose matching over `names`, as PEFT does it, exceeds the time budget.

    PEFT applies re.fullmatch to every module name (and rank/alpha keys as `(.*\\.)?(key)$`), so a
    catastrophically backtracking pattern hangs it; the same work is done here under a timer first.
    The timer is SIGALRM, which the regex engine checks: main thread only (elsewhere no budget)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return None

    class _Expired(Exception):
        pass

    def expire(signum: int, frame: object) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        for key, pattern in patterns:
            if not valid_regex(pattern):
                continue
            compiled = re.compile(pattern)
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                for name in names:
                    compiled.fullmatch(name)
            except _Expired:
                return key, pattern
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return None


BLOCK_KINDS = (
    "attention",
    "MLP",
    "mixer",
    "routed experts",
    "shared experts",
    "router",
    "vision tower",
    "projector",
    "audio tower",
    "output layer",
    "embedding",
    "other",
)
_TOWER_BLOCK = {"vision": "vision tower", "audio": "audio tower", "connector": "projector"}
_LAYER_INDEX = re.compile(r"(?:^|\.)(?:layers|h|blocks|layer|decoder_layers)\.(\d+)(?:\.|$)")


def block_kind(path: str, classes: dict[str, str] | None = None) -> str:
    """The kind of block a module (or a parameter's owner) sits in, one of BLOCK_KINDS.

    Towers by tower(); then the path's own words (shared_expert before experts, routers by their names);
    then the class of the nearest enclosing module that names attention, a Mamba / linear-attention mixer
    or an MLP (Nemotron-H calls every block `mixer`: its class tells attention from Mamba).
    """
    found = tower(path, classes)
    if found:
        return _TOWER_BLOCK[found[0]]
    parts = path.split(".")
    leaf = parts[-1]
    if leaf in ("lm_head", "embed_out", "output"):
        return "output layer"
    if leaf in ("embed_tokens", "wte", "word_embeddings", "embeddings"):
        return "embedding"
    if any("shared_expert" in p for p in parts):
        return "shared experts"
    if "experts" in parts:
        return "routed experts"
    if leaf in ROUTER_NAMES or "router" in parts:
        return "router"
    for depth in range(len(parts) - 1, 0, -1):
        cls = (classes or {}).get(".".join(parts[:depth]), "").lower()
        if "attention" in cls or "attn" in cls:
            return "attention"
        if any(w in cls for w in ("mamba", "mixer", "ssm", "gateddelta", "linearattention", "deltanet")):
            return "mixer"
        if "mlp" in cls or "feedforward" in cls:
            return "MLP"
    words = " ".join(parts[:-1])
    if "attn" in words or "attention" in words:
        return "attention"
    if "mixer" in parts or "mamba" in words or "linear_attn" in words:
        return "mixer"
    if any(p in ("mlp", "feed_forward", "ffn") for p in parts):
        return "MLP"
    return "other"


def decoder_layer(path: str, classes: dict[str, str] | None = None) -> int | None:
    """The decoder layer index of a language-model module (None in a tower or outside the layer stack)."""
    if tower(path, classes):
        return None
    found = _LAYER_INDEX.search(path)
    return int(found.group(1)) if found else None
