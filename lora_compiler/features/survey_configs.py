"""The survey's model configs: transformers' default config of a model type, cut to one layer of each
kind and repaired until it builds.

Starting from a default config (not a real checkpoint), `candidates` keeps one layer of each kind
wherever the kinds sit (not only among the first layers: Qwen3-Next's full attention every 4th
layer, GLM's sparse MLP after 3 dense ones), shrinks the widths with shrink.shrink_config, and
repairs what a plain shrink leaves inconsistent or the default leaves unset.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from .shrink import (
    FILL_NONE,
    HEAD_DIM,
    HIDDEN,
    LAYERS,
    MAMBA_HEADS,
    MAX_KINDS,
    PER_LAYER_OVERRIDES,
    TRAILING_LAYERS,
    Config,
    first_count,
    is_count,
    shrink_config,
)


def candidates(default: Config, causal_lm: bool) -> Iterator[tuple[str, Config, list[str]]]:
    """Configs to try, in order, with their level and the dotted keys repaired: shrunk, shrunk and
    repaired, layers only, as shipped. Repairs come only after the plain shrink, so a survey row
    names just the repairs its model needed. `causal_lm`: built with a causal-LM class (a decoder)."""
    layers = _kinds_needed(default)
    selected = _select_layers(default, layers)
    shrunk = shrink_config(selected, layers=layers)
    _restore_layers(default, selected, shrunk, layers)
    yield "shrunk", shrunk, []
    shrunk = copy.deepcopy(shrunk)
    if changed := _repair_shrunk(default, shrunk, "") + _fill(shrunk, causal_lm, ""):
        yield "shrunk", shrunk, sorted(changed)
    yield "layers-only", selected, sorted(_fill(selected, causal_lm, ""))
    yield "as-shipped", default, []


def _sub_configs(cfg: Config) -> list[str]:
    """Keys of nested model configs (text_config, T5Gemma 2's encoder), not per-layer overrides."""
    return [
        k
        for k, v in cfg.items()
        if isinstance(v, dict) and k not in PER_LAYER_OVERRIDES and (k.endswith("_config") or "model_type" in v)
    ]


def _kinds_needed(cfg: Config) -> int:
    """Layers that keep one of each layer kind in every (sub-)config (at least 2)."""
    old = first_count(cfg, LAYERS)
    return max([2, len(_first_of_kind(cfg, old)) if old else 0] + [_kinds_needed(cfg[k]) for k in _sub_configs(cfg)])


def _column(test: Callable[[Any, int], Any], value: Any) -> Callable[[int], Any]:
    """A layer-index test bound to one setting's value (a closure per setting, not per loop variable)."""
    return lambda i: test(value, i)


def _first_of_kind(cfg: Config, old: int) -> list[int]:
    """The first layer of each kind, a kind being a layer's values in every per-layer setting."""
    columns: list[Callable[[int], Any]] = []
    for key, value in cfg.items():
        if key in PER_LAYER_OVERRIDES and isinstance(value, dict):
            columns.append(_column(lambda v, i: any(int(k) == i for k in v), value))
        elif _index_list(value, old):
            columns.append(_column(lambda v, i: i in v, value))
        elif (
            isinstance(value, list)
            and len(value) == old
            and all(isinstance(x, (str, int)) for x in value)
            and (not all(is_count(x) or x == 0 for x in value) or len(set(value)) <= 2)
        ):  # kinds and flags, not sizes
            columns.append(_column(lambda v, i: v[i], value))
        elif is_count(value) and key.startswith("first_k_"):
            columns.append(_column(lambda v, i: i < v, value))
        elif is_count(value) and key in TRAILING_LAYERS:
            columns.append(_column(lambda v, i: i >= old - v, value))
    firsts: dict[tuple[Any, ...], int] = {}
    for i in range(old):
        firsts.setdefault(tuple(column(i) for column in columns), i)
    return sorted(firsts.values())[:MAX_KINDS]


def _select_layers(cfg: Config, layers: int) -> Config:
    """`cfg` cut to `layers` layers that include the first of each kind, in every (sub-)config.

    shrink_config truncates per-layer lists to the first layers, which drops the kinds that come
    later (Qwen3-Next's full attention every 4th layer, GLM's sparse MLP after 3 dense ones)."""
    subs = _sub_configs(cfg)
    out: dict[str, Any] = {k: (_select_layers(v, layers) if k in subs else v) for k, v in cfg.items()}
    old = first_count(cfg, LAYERS)
    for key in [k for k in cfg if k.endswith("_period") and is_count(cfg[k]) and is_count(cfg.get(k[:-7] + "_offset"))]:
        # Jamba: layer i is special when i % period == offset; both kinds within the first layers
        out[key] = max(min(cfg[key], layers), 2)
        out[key[:-7] + "_offset"] = min(cfg[key[:-7] + "_offset"], out[key] - 1)
    if not old or old <= layers:
        return out
    keep = _first_of_kind(cfg, old)
    keep = sorted(keep + [i for i in range(old) if i not in keep][: layers - len(keep)])
    for key, value in cfg.items():
        if key in LAYERS and is_count(value):
            out[key] = len(keep)
        elif key in PER_LAYER_OVERRIDES and isinstance(value, dict):
            width = max((len(str(k)) for k in value), default=1)
            out[key] = {str(j).zfill(width): v for j, i in enumerate(keep) for k, v in value.items() if int(k) == i}
        elif _index_list(value, old):
            out[key] = [j for j, i in enumerate(keep) if i in value]
        elif isinstance(value, list) and len(value) == old:
            out[key] = [value[i] for i in keep]
        elif is_count(value) and key.startswith("first_k_"):
            out[key] = sum(i < value for i in keep)
        elif is_count(value) and key in TRAILING_LAYERS:
            out[key] = sum(i >= old - value for i in keep)
    return out


def _restore_layers(default: Config, selected: Config, shrunk: Config, layers: int) -> None:
    """Undo shrink_config's own cut of what _select_layers chose (counts, per-layer lists), and
    shrink the nested configs shrink_config does not see (keys not ending in _config)."""
    old = first_count(default, LAYERS)
    for key, value in selected.items():
        original = default.get(key)
        if key in PER_LAYER_OVERRIDES and isinstance(value, dict):
            shrunk[key] = {k: shrink_config(v) if isinstance(v, dict) else v for k, v in value.items()}
        elif key in LAYERS or (
            old and isinstance(original, list) and (len(original) == old or _index_list(original, old))
        ):
            shrunk[key] = copy.deepcopy(value)
    for key in _sub_configs(selected):
        if not key.endswith("_config"):
            shrunk[key] = shrink_config(selected[key], layers=layers)
        _restore_layers(default[key], selected[key], shrunk[key], layers)


def _repair_shrunk(default: Config, cfg: Config, prefix: str) -> list[str]:
    """Consistency shrink_config does not keep; returns the dotted keys changed."""
    changed = [k for k, v in default.items() if v == 0 and is_count(cfg.get(k))]  # 0 is a switch (NoPE)
    cfg.update({k: 0 for k in changed})
    for key in [k for k in cfg if k.endswith("d_head") and is_count(cfg[k])]:  # XLNet's d_head = d_model // n_head
        cfg[key] = HEAD_DIM
        changed.append(key)
    hidden = first_count(cfg, HIDDEN)
    for heads, dim, expand in MAMBA_HEADS:
        if hidden and all(is_count(cfg.get(k)) for k in (heads, dim, expand)):
            cfg[dim], cfg[heads] = HEAD_DIM, cfg[expand] * hidden // HEAD_DIM
            changed += [heads, dim]
    changed = [prefix + k for k in dict.fromkeys(changed)]
    for key in _sub_configs(cfg):
        if isinstance(default.get(key), dict):
            changed += _repair_shrunk(default[key], cfg[key], f"{prefix}{key}.")
    return changed


def _fill(cfg: Config, causal_lm: bool, prefix: str) -> list[str]:
    """Values transformers' default config leaves unset but its model needs; returns the keys set."""
    changed = [k for k in FILL_NONE if k in cfg and cfg[k] is None]
    for key in changed:
        cfg[key] = FILL_NONE[key](cfg)
    if causal_lm and cfg.get("is_decoder") is False:  # a causal LM class is a decoder (Reformer asserts it)
        cfg["is_decoder"] = True
        changed.append("is_decoder")
    changed = [prefix + k for k in changed]
    for key in _sub_configs(cfg):
        changed += _fill(cfg[key], False, f"{prefix}{key}.")
    return changed


def _index_list(value: Any, old: int) -> bool:
    """A list of layer indices (mlp_only_layers, LFM2's full_attn_idxs), not per-layer flags (no_rope_layers)."""
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(is_count(v) or v == 0 for v in value)
        and all(a < b for a, b in zip(value, value[1:]))
        and value[-1] < old
        and (len(value) > 2 or old > 2)
    )
