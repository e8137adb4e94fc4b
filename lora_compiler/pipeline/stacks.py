"""Inject into one layer of each kind, then give every identical layer the same answer.

A 405B model is 126 copies of one decoder layer; PEFT spends about a millisecond on each module
it wraps, so injecting every copy is most of a cold compile and of each adapter in a batch. When
the LoraConfig names modules only by index-free names (no layer numbers, regexes, layer
selections or patterns), PEFT treats every copy of a layer alike, because it decides from a
module's type, shape and name suffix. Then it is enough to inject the model with each stack of
layers cut down to one layer of each kind (same module tree, types, shapes and settings) and to
copy that layer's answer to its twins. Anything that could break that reasoning (shared
weights, a name that reaches a stack itself, a PEFT message naming a layer) makes the caller
inject the whole model instead; tests/unit/pipeline/test_inject.py holds both ways equal.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any


@dataclass
class Stack:
    prefix: str  # e.g. "model.layers"
    module: Any  # the nn.ModuleList
    twins: dict[str, list[str]]  # kept layer index -> every index of its kind, itself first

    def expand(self, name: str) -> list[str]:
        for kept, indices in self.twins.items():
            head = f"{self.prefix}.{kept}."
            if name.startswith(head):
                return [f"{self.prefix}.{i}.{name[len(head) :]}" for i in indices]
        return [name]


@dataclass
class Collapse:
    stacks: list[Stack]  # outer stacks before the stacks found inside their kept layers
    removed_params: int  # base parameters of the layers left out

    def names_in(self, text: str) -> bool:
        return any(f"{s.prefix}." in text for s in self.stacks)

    def expand(self, name: str) -> list[str]:
        """`name` under a kept layer becomes the same name under each twin; other names stay.

        Inner stacks first: their prefixes run through a kept outer layer, which the outer stack's
        expansion then copies to its twins.
        """
        names = [name]
        for stack in reversed(self.stacks):
            names = [n for old in names for n in stack.expand(old)]
        return names

    def expand_all(self, entries: list[Any], extra: list[Any] | None = None) -> tuple[list[Any], list[Any] | None, int]:
        """Entries (with .name and .params) for the whole model, sorted by name; `extra` (one value per
        entry, such as its rank terms) copied alongside; and the trainable parameters the copies add."""
        pairs, added = [], 0
        for entry, value in zip(entries, extra if extra is not None else [None] * len(entries)):
            names = self.expand(entry.name)
            pairs += [(replace(entry, name=name), value) for name in names]
            added += entry.params * (len(names) - 1)
        pairs.sort(key=lambda pair: pair[0].name)
        return [e for e, _ in pairs], None if extra is None else [v for _, v in pairs], added


def collapse(model: Any, config: Any) -> Collapse | None:
    """Cut each stack of layers down to one layer of each kind, or return None and change nothing.

    Level by level: the outermost stacks (decoder layers, vision tower layers), then stacks inside
    the layers kept (MoE experts held as a list of modules). A level that cannot be collapsed
    safely stops the descent; the levels above it stay collapsed.
    """
    if not _index_free(config):
        return None
    collapsed: list[Stack] = []
    removed = 0
    found = _stacks(model, "")
    while found:
        level = [s for s in found if any(len(v) > 1 for v in s.twins.values())]
        if _reaches_a_stack(config, [s.prefix for s in level]) or _shares_objects(model, level):
            break
        for stack in level:
            layers = dict(stack.module._modules)
            for indices in stack.twins.values():
                removed += sum(p.numel() for i in indices[1:] for p in layers[i].parameters())
            stack.module._modules.clear()
            stack.module._modules.update({kept: layers[kept] for kept in stack.twins})
        collapsed += level
        found = [
            inner for s in found for kept in s.twins for inner in _stacks(s.module._modules[kept], f"{s.prefix}.{kept}")
        ]
    return Collapse(collapsed, removed) if collapsed else None


_NAMED_FIELDS = ("target_modules", "target_parameters", "exclude_modules", "modules_to_save", "trainable_token_indices")


def _listed_names(config: Any) -> list[str] | None:
    """Every module name the config lists; None when one field is a regex string (it matches full names)."""
    names: list[str] = []
    for field in _NAMED_FIELDS:
        value = getattr(config, field, None)
        if value is None or field == "trainable_token_indices" and isinstance(value, list):
            continue  # a list of token indices into the input embedding names no module
        if isinstance(value, str) or not all(isinstance(v, str) for v in value):
            return None
        names += [str(v) for v in value]  # a dict (trainable_token_indices) lists its module names as keys
    return names


def _index_free(config: Any) -> bool:
    if (
        config.layers_to_transform is not None
        or config.layers_pattern
        or config.rank_pattern
        or config.alpha_pattern
        or config.layer_replication
        or config.bias != "none"
    ):
        return False
    names = _listed_names(config)
    return names is not None and not any(part.isdigit() for name in names for part in name.split("."))


def _reaches_a_stack(config: Any, prefixes: list[str]) -> bool:
    """True if a listed name matches a stack or a module holding one (modules_to_save: [model])."""
    names = _listed_names(config) or []
    holders = {".".join(p.split(".")[:i]) for p in prefixes for i in range(1, p.count(".") + 2)}
    return any(h == n or h.endswith(f".{n}") for h in holders for n in names)


def _stacks(root: Any, base: str) -> list[Stack]:
    """The outermost ModuleLists of two or more layers under `root` (named from `base`), layers grouped by kind."""
    from torch import nn

    found: list[Stack] = []
    for name, module in root.named_modules():
        prefix = f"{base}.{name}" if base and name else base or name
        if not isinstance(module, nn.ModuleList) or len(module) < 2:
            continue
        if any(prefix.startswith(f"{s.prefix}.") for s in found):
            continue
        keys = list(module._modules)
        if keys != [str(i) for i in range(len(keys))]:
            continue
        kinds: dict[Any, list[str]] = {}
        for key in keys:
            kinds.setdefault(_signature(module._modules[key]), []).append(key)
        found.append(Stack(prefix, module, {indices[0]: indices for indices in kinds.values()}))
    return found


def _signature(layer: Any) -> tuple[Any, ...]:
    """Everything PEFT can see of a layer but its position: module tree, types, settings, shapes."""
    return tuple(
        (
            name,
            type(m).__module__,
            type(m).__qualname__,
            m.extra_repr(),
            tuple(
                (p, tuple(t.shape), str(t.dtype), t.requires_grad) for p, t in m._parameters.items() if t is not None
            ),
        )
        for name, m in layer.named_modules()
    )


def _shares_objects(model: Any, stacks: list[Stack]) -> bool:
    """True if a left-out layer shares a module or parameter with anything else (tied blocks)."""
    modules = Counter(id(m) for _, m in model.named_modules(remove_duplicate=False))
    params = Counter(id(p) for _, p in model.named_parameters(remove_duplicate=False))
    for stack in stacks:
        for indices in stack.twins.values():
            for key in indices[1:]:
                layer = stack.module._modules[key]
                if any(modules[id(m)] > 1 for m in layer.modules()) or any(
                    params[id(p)] > 1 for p in layer.parameters()
                ):
                    return True
    return False
