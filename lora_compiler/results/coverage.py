"""What each target entry reached: modules (or parameters) per kind of block, and decoder layers.

An entry is one item of lora_target_modules (or the regex it is), one name lora_target_linear collected,
or one item of lora_target_parameters. A wrapped module counts for every entry PEFT's matcher says
selects it (model_facts.peft_selects: a regex full match, or the name's trailing dotted components); a
fused parameter PEFT made of a module entry counts for that entry too: through its owner's path when it
keeps the entry's name (experts.down_proj from down_proj), through the name PEFT's conversion gave it
otherwise (experts.gate_up_proj from gate_proj and from up_proj, pipeline/targets.py `fused_into`). The report's `coverage` holds the entries and the decoder-layer totals;
rules/coverage.py turns them into findings at each entry's YAML line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..model_facts import block_kind, decoder_layer, peft_selects
from .parts import Coverage, CoverageEntry, WrappedModule


def entries(spec: Any, linear_names: Sequence[str] | None) -> list[tuple[str, str, int | None]]:
    """(YAML key, entry, list index) for every target entry of the YAML."""
    out: list[tuple[str, str, int | None]] = []
    given = spec.lora_target_modules
    if isinstance(given, str):
        out.append(("lora_target_modules", given, None))
    else:
        out += [("lora_target_modules", name, i) for i, name in enumerate(given or [])]
    explicit = set(given or []) if not isinstance(given, str) else set()
    if spec.lora_target_linear:
        out += [("lora_target_linear", name, None) for name in linear_names or [] if name not in explicit]
    out += [("lora_target_parameters", name, i) for i, name in enumerate(spec.lora_target_parameters or [])]
    return out


def _matched_name(module: WrappedModule) -> list[str]:
    """The names an entry may select a wrapped module or parameter by: its path, and a parameter's owner."""
    name = module.name
    if module.kind != "parameter":
        return [name]
    owner = name.rsplit(".", 1)[0]
    return [name, owner] if name.endswith(".weight") else [name]


def coverage(
    spec: Any,
    linear_names: Sequence[str] | None,
    modules: Sequence[WrappedModule],
    all_names: Iterable[str],
    classes: dict[str, str],
    num_layers: int | None,
    fused_into: Mapping[str, tuple[str, ...]] | None = None,
) -> Coverage:
    """The report's `coverage` (schemas/targets.schema.json); `fused_into`: entry -> the fused parameters
    PEFT's conversion made of it under another name."""
    layers_of = {m.name: decoder_layer(m.name, classes) for m in modules}
    leaves: dict[str, set[int]] = {}
    for name in all_names:  # which decoder layers hold a module of each leaf name (what an entry could reach)
        index = decoder_layer(name, classes)
        if index is not None:
            leaves.setdefault(name.rsplit(".", 1)[-1], set()).add(index)
    out: list[CoverageEntry] = []
    for key, entry, index in entries(spec, linear_names):
        is_parameter_entry = key == "lora_target_parameters"
        targets = entry if key == "lora_target_modules" and index is None else [entry]  # a regex, or one name
        fused = [] if is_parameter_entry else list((fused_into or {}).get(entry, ()))
        reached = [
            m
            for m in modules
            if (m.kind == "parameter" or not is_parameter_entry)
            and (
                any(peft_selects(n, targets) for n in _matched_name(m))
                or (m.kind == "parameter" and bool(fused) and peft_selects(m.name, fused))
            )
        ]
        blocks: dict[str, int] = {}
        for m in reached:
            kind = block_kind(m.name.rsplit(".", 1)[0] if m.kind == "parameter" else m.name, classes)
            blocks[kind] = blocks.get(kind, 0) + 1
        layers = {layers_of[m.name] for m in reached} - {None}
        leaf = entry.rsplit(".", 1)[-1]
        possible = leaves.get(leaf, set()) if index is not None or key == "lora_target_linear" else set()
        out.append(
            CoverageEntry(
                key, entry, index, len(reached), dict(sorted(blocks.items())), len(layers), len(possible) or None
            )
        )
    adapted = {layers_of[m.name] for m in modules} - {None}
    return Coverage(tuple(out), num_layers, len(adapted))
