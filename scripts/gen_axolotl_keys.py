"""Regenerate lora_compiler/profiles/axolotl_keys-VERSION.json: the tree of keys an Axolotl release's config may hold.

Run with the Python of a venv where the real axolotl is installed (it is imported, read, never
run on a config): `.venv-axolotl-0.21.0/bin/python scripts/gen_axolotl_keys.py` writes
lora_compiler/profiles/axolotl_keys-0.21.0.json (the profile of that release names it). Walks
AxolotlInputConfig's pydantic fields recursively and writes, per path ("" for the top level,
"peft", "peft.loftq_config", "fsdp_config", "datasets[]", "datasets[].type", ...), the field names
and aliases accepted there, and per plugin module the keys its args class adds when `plugins:` lists
it; `types` the top-level scalar fields lint type-checks; `builtin` lists the plugins a release registers without `plugins:` (0.21: context and expert
parallelism); `deprecated`, per path, the keys Axolotl keeps only to refuse or warn about (DeprecatedParameters,
`Field(deprecated=...)`, a description that starts with "Deprecated"), which "did you mean" never proposes.
Axolotl ignores (drops) every other key: pydantic's default extra="ignore".
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import types
import typing
from importlib.metadata import version
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import AliasChoices, AliasPath, BaseModel

PLUGIN_ARGS = (  # integrations with an args class (0.19.0; the last three since 0.21.0, skipped where absent)
    "cut_cross_entropy.CutCrossEntropyArgs",
    "grokfast.GrokfastArgs",
    "kd.KDArgs",
    "lm_eval.LMEvalArgs",
    "spectrum.SpectrumArgs",
    "liger.LigerArgs",
    "kernels.KernelsArgs",
    "diffusion.DiffusionArgs",
    "mora.MoraArgs",
    "hatchery.args.HatcheryArgs",
    "nemo_gym.NemoGymArgs",
    "swanlab.SwanLabConfig",
    "densemixer.args.DenseMixerArgs",
    "expert_parallel.ExpertParallelArgs",
    "context_parallel.args.ContextParallelArgs",
    "diffusion_decision.args.DiffusionDecisionArgs",
    "coreweave.args.CoreWeaveArgs",
)


def keys_of(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(name)
        if field.alias:
            names.add(field.alias)
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
        for choice in choices:
            names.add(str(choice.path[0]) if isinstance(choice, AliasPath) else str(choice))
    return names


def members(tp: Any) -> list[tuple[str, type[BaseModel]]]:
    """(suffix, model) for the pydantic models inside a field type: '' direct, '[]' list items."""
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [("", tp)]
    if origin is typing.Annotated:
        return members(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return [m for arg in get_args(tp) for m in members(arg)]
    if origin in (list, tuple, set, frozenset):
        return [("[]" + s, m) for arg in get_args(tp) if arg is not Ellipsis for s, m in members(arg)]
    return []


RETIRED = re.compile(r"\[?deprecated\b", re.IGNORECASE)


def retired(model: type[BaseModel]) -> set[str]:
    """The keys of `model` that Axolotl keeps only to refuse or warn about them."""
    from axolotl.utils.schemas.deprecated import DeprecatedParameters

    names: set[str] = set()
    for name, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        description = str(extra.get("description") or field.description or "")
        if (
            field.deprecated
            or RETIRED.match(description)
            or (issubclass(model, DeprecatedParameters) and name in DeprecatedParameters.model_fields)
        ):
            names |= keys_of_field(name, field)
    return names


def walk(
    model: type[BaseModel],
    path: str,
    out: dict[str, set[str]],
    old: dict[str, set[str]],
    seen: tuple[type, ...] = (),
) -> None:
    out.setdefault(path, set()).update(keys_of(model))
    old.setdefault(path, set()).update(retired(model))
    if model in seen:
        return
    for name, field in model.model_fields.items():
        for suffix, sub in members(field.annotation):
            walk(sub, (f"{path}.{name}" if path else name) + suffix, out, old, (*seen, model))


SCALARS = {int: "int", float: "float", str: "str", bool: "bool"}


def scalar_types(model: type[BaseModel]) -> dict[str, str]:
    """Top-level fields whose type is one plain scalar ("int", or "int?" when None is allowed) and that no
    field validator of mode before/wrap/plain reshapes first: the types lint can check from the YAML."""
    reshaped = {
        f
        for dec in model.__pydantic_decorators__.field_validators.values()
        if dec.info.mode in ("before", "wrap", "plain")
        for f in dec.info.fields
    }
    out: dict[str, str] = {}
    for name, field in model.model_fields.items():
        tp, optional = field.annotation, False
        while get_origin(tp) is typing.Annotated:
            tp = get_args(tp)[0]
        if get_origin(tp) in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            optional = len(args) < len(get_args(tp))
            tp = args[0] if len(args) == 1 else None
        if tp in SCALARS and name not in reshaped and not field.metadata:
            for key in keys_of_field(name, field):
                out[key] = SCALARS[tp] + ("?" if optional else "")
    return dict(sorted(out.items()))


def keys_of_field(name: str, field: Any) -> set[str]:
    names = {name} | ({field.alias} if field.alias else set())
    alias = field.validation_alias
    for choice in alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []:
        names.add(str(choice.path[0]) if isinstance(choice, AliasPath) else str(choice))
    return names


def main() -> None:
    from axolotl.utils.schemas.config import AxolotlInputConfig

    paths: dict[str, set[str]] = {}
    old: dict[str, set[str]] = {}
    walk(AxolotlInputConfig, "", paths, old)
    plugins: dict[str, list[str]] = {}
    for dotted in PLUGIN_ARGS:
        module, cls = f"axolotl.integrations.{dotted}".rsplit(".", 1)
        plugin = module.removesuffix(".args")
        try:
            args = getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError):  # not in this release
            continue
        plugins[plugin] = sorted(keys_of(args))
    base = importlib.import_module("axolotl.integrations.base")
    builtin = sorted(p for p in plugins if any(b.startswith(p + ".") for b in getattr(base, "BUILTIN_PLUGINS", ())))
    release = version("axolotl")
    doc = {
        "axolotl": release,
        "generated_by": "scripts/gen_axolotl_keys.py",
        "builtin": builtin,
        "deprecated": {p: sorted(k) for p, k in sorted(old.items()) if k},
        "paths": {p: sorted(k) for p, k in sorted(paths.items())},
        "plugins": plugins,
        "types": scalar_types(AxolotlInputConfig),
    }
    out = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parent.parent / "lora_compiler" / "profiles" / f"axolotl_keys-{release}.json"
    )
    out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(doc['paths'][''])} top-level keys, {len(paths) - 1} nested paths, {len(plugins)} plugins -> {out}")


if __name__ == "__main__":
    main()
