"""Keys Axolotl silently drops: typos, nested keys at the wrong level, plugin keys without their plugin.

Axolotl's pydantic models ignore (drop) unknown keys at every level, so a misspelt key silently
changes what is trained. The profile's key tree (`profiles/axolotl_keys-VERSION.json`, generated from that
real release by scripts/gen_axolotl_keys.py) says which keys each level accepts; a key is checked
against its own level, and "did you mean" only proposes keys of that level that Axolotl does not keep merely
to refuse or warn about (the tree's `deprecated`: removed keys are rules/axolotl/deprecated.py's findings).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from functools import cache
from importlib.resources import files
from typing import Any

from ..results.findings import Finding, Severity
from ..rulebook.registry import Docs, Stage, rule
from .context import Context

# Read raw by a rule of their own, which says more than "unknown" (rules/axolotl/, model_rules.py).
REPORTED_ELSEWHERE = frozenset(
    {
        "lora_exclude_modules",
        "fsdp",
        "unsloth_cross_entropy_loss",
        "unsloth_lora_mlp",
        "unsloth_lora_qkv",
        "unsloth_lora_o",
        "unsloth_rms_norm",
        "unsloth_rope",
    }
)


@cache
def key_tree(resource: str) -> dict[str, Any]:
    """The key tree a profile names (Profile.keys)."""
    return json.loads((files("lora_compiler") / resource).read_text(encoding="utf-8"))


def _plugin_keys(values: dict[str, Any], tree: dict[str, Any]) -> tuple[set[str], dict[str, str]]:
    """Keys the listed (or built-in) plugins add, and for every plugin key the plugin module that declares it."""
    listed = [str(p) for p in values.get("plugins") or [] if isinstance(p, str)] + tree.get("builtin", [])
    active: set[str] = set()
    owner: dict[str, str] = {}
    for module, keys in tree["plugins"].items():
        for key in keys:
            owner.setdefault(key, module)
        if any(p == module or p.startswith(module + ".") for p in listed):
            active.update(keys)
    return active, owner


def _nested(
    values: Any, path: str, at: tuple[Any, ...], paths: dict[str, list[str]]
) -> Iterator[tuple[str, tuple[Any, ...], str]]:
    """(level path, key path, key) for every key inside a block the tree types, recursively."""
    items = (
        [(f"{path}[]", (*at, i), v) for i, v in enumerate(values)] if isinstance(values, list) else [(path, at, values)]
    )
    for level, where, block in items:
        if level not in paths or not isinstance(block, dict):
            continue
        for key, value in block.items():
            yield level, (*where, key), key
            child = f"{level}.{key}" if level else str(key)
            if child in paths or f"{child}[]" in paths:
                yield from _nested(value, child, (*where, key), paths)


UNKNOWN_KEY = rule(
    "unknown-key",
    Severity.WARNING,
    Stage.CONFIG,
    "A key that Axolotl does not know at that level.",
    Docs(
        what="""Axolotl drops keys its schema does not declare, at the top level and inside typed blocks
      (peft, peft.loftq_config, fsdp_config, trl, datasets entries, ...), so a misspelt adapter key
      (lora_targt_modules), a nested key written at the top level (loftq_bits) or a typo inside a block
      (peft.loftq_config.loftq_bit) silently changes what is trained. A plugin's keys count only when
      `plugins:` lists that plugin.""",
        why="Axolotl drops keys its schema does not declare, so a misspelt key silently changes what is trained.",
        fix="Correct the spelling (the hint names the nearest known key), move the key to its block, or list the plugin that declares it.",
        source="axolotl/utils/schemas/config.py AxolotlInputConfig (the profile's key tree)",
    ),
)


@UNKNOWN_KEY.checks
def unknown_keys(ctx: Context) -> Iterable[Finding]:
    whole = key_tree(ctx.profile.keys)
    tree = whole["paths"]
    top = set(tree[""])
    active, owner = _plugin_keys(ctx.doc.values, whole)
    retired = {level: set(keys) for level, keys in whole.get("deprecated", {}).items()}
    nested_home = {k: p for p in sorted(tree, reverse=True) if p for k in tree[p]}
    for key in ctx.doc.values:
        if not isinstance(key, str) or key in top or key in active or key in REPORTED_ELSEWHERE:
            continue
        if key in owner:
            yield UNKNOWN_KEY.at(
                ctx.doc,
                f"'{key}' is a key of the plugin {owner[key]}: Axolotl ignores it unless plugins lists that plugin",
                key,
                hint=f"add the plugin of {owner[key]} to plugins:",
            )
        elif key in nested_home and key not in top:
            home = nested_home[key].replace("[]", "[...]")
            yield UNKNOWN_KEY.at(
                ctx.doc,
                f"'{key}' belongs under {home}: at the top level Axolotl ignores it",
                key,
                hint=f"move it into the {home} block",
            )
        else:
            yield _unknown(ctx, key, (key,), (top | active) - retired.get("", set()), "at the top level")
    for level, where, key in _nested({k: v for k, v in ctx.doc.values.items() if k in top}, "", (), tree):
        if level and isinstance(key, str) and key not in tree[level] and not _fsdp_prefixed(level, key, tree):
            yield _unknown(
                ctx, key, where, set(tree[level]) - retired.get(level, set()), f"in {level.replace('[]', '[...]')}"
            )


def _fsdp_prefixed(level: str, key: str, tree: dict[str, list[str]]) -> bool:
    """fsdp_config's fsdp_-prefixed spellings: Axolotl strips the prefix (check_fsdp_config_kwargs_prefix); FSDP1's
    options, which 0.20+ refuse by name (axolotl-fsdp1-removed says so)."""
    from .axolotl.conditions_0_20 import FSDP1_ONLY_REJECTED, unprefixed

    name = unprefixed(key)
    return level == "fsdp_config" and (name in FSDP1_ONLY_REJECTED or (name != key and name in tree[level]))


def _unknown(ctx: Context, key: str, where: tuple[Any, ...], level_keys: Iterable[str], place: str) -> Finding:
    close = difflib.get_close_matches(key, sorted(level_keys), n=1, cutoff=0.75)
    hint = f"did you mean '{close[0]}'?" if close else "remove it, or check Axolotl's config reference"
    return UNKNOWN_KEY.at(ctx.doc, f"unknown key '{key}' {place}: Axolotl ignores it", where, hint=hint)


_SCALARS = {"int": int, "float": float, "bool": bool, "str": str}


@cache
def _adapter(kind: str) -> Any:
    """pydantic's own validator for a key-tree type ("int", "int?" ...), in the lax mode Axolotl validates in."""
    from pydantic import TypeAdapter

    tp = _SCALARS[kind.rstrip("?")]
    shape: Any = tp | None if kind.endswith("?") else tp  # a type form, which mypy cannot name here
    return TypeAdapter(shape)


def _type_problem(value: Any, kind: str) -> str | None:
    """pydantic's message when it refuses `value` for a plain scalar field, or None."""
    from pydantic import ValidationError

    try:
        _adapter(kind).validate_python(value)
    except ValidationError as exc:
        return exc.errors()[0]["msg"]
    return None


AXOLOTL_KEY_TYPE = rule(
    "axolotl-key-type",
    Severity.ERROR,
    Stage.CONFIG,
    "A top-level key whose value Axolotl's schema refuses by type.",
    Docs(
        what="""Axolotl validates every top-level key with pydantic (lax mode): `warmup_steps: 0.1` is not an
      integer, an empty `output_dir:` is not a string, and Axolotl refuses the config at start-up. Checked for
      the fields of the profile's key tree whose type is one plain scalar (int, float, str, bool, optionally
      None) and that no field validator reshapes first; adapter keys are checked by `schema`.""",
        why="Axolotl refuses the config at start-up.",
        fix="Give the key a value of the type its schema declares.",
        source="axolotl/utils/schemas/config.py AxolotlInputConfig (pydantic, lax mode)",
    ),
)


@AXOLOTL_KEY_TYPE.checks
def key_types(ctx: Context) -> Iterable[Finding]:
    types = key_tree(ctx.profile.keys).get("types", {})
    for key, value in ctx.doc.values.items():
        kind = types.get(key) if isinstance(key, str) else None
        problem = _type_problem(value, kind) if kind else None
        if problem:
            yield AXOLOTL_KEY_TYPE.at(
                ctx.doc,
                f"Axolotl refuses this config at start-up: {key}: {problem} (got {value!r:.60})",
                key,
                prefer_value=value is not None,
                hint=f"give {key} a value of type {kind.rstrip('?')}"
                + (" or leave it out" if kind.endswith("?") or value is None else ""),
            )
