"""Will a saved PEFT adapter directory (`lora_model_dir`) load onto this model? Decided without loading it.

Shared by `load_lora` (which refuses before PEFT is called) and lint; `io.adapter_dir` reads the
directory (bounded, never a pickle); rulebook/saved_adapter.py declares every adapter-dir-* rule. Every check
is pure and returns `Finding`s; pass the config's `pipeline.document.Document` to position them at the
`lora_model_dir` key (or at `at`), and at the YAML key a saved value differs from.

Key naming follows PEFT's `get_peft_model_state_dict`: `base_model.model.<module>.lora_A.weight`
([r, in_features]), `.lora_B.weight` ([out_features, r]), `.lora_embedding_A` ([r, num_embeddings]),
`.lora_embedding_B` ([embedding_dim, r]), `.lora_magnitude_vector` (DoRA, [out_features]), and
`base_model.model.<module>.<param>` for modules_to_save. transformers' Conv1D stores its weight as
[in, out], so its in_features is weight.shape[0].
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..io.adapter_dir import CONFIG_NAME, AdapterDir, finding, read_adapter_dir
from ..model_facts import layer_features
from ..pipeline.document import Document
from ..pipeline.fields import COMPARED_FIELDS, targets_key
from ..results.findings import Finding, Severity
from ..rulebook.registry import Rule
from ..rulebook.saved_adapter import (
    ADAPTER_DIR_BASE_MODEL_DIFFERS,
    ADAPTER_DIR_CONFIG_DIFFERS,
    ADAPTER_DIR_SHAPE_MISMATCH,
    ADAPTER_DIR_TARGET_MISSING,
)
from .context import Context

MAX_LISTED = 5  # findings of one rule per directory; the last says how many more there are

_PREFIX = "base_model.model."
_LORA_KEY = re.compile(
    r"^(?P<module>.+?)(?:\.base_layer)*\.(?P<part>lora_A\.weight|lora_B\.weight|lora_embedding_A|lora_embedding_B"
    r"|lora_magnitude_vector)$"
)
_BASE_SUFFIX = re.compile(r"(\.base_layer)+$")
_TUNER_PART = re.compile(r"\.(?:lora|hada|lokr|oft|shira)_")


def check_model_fit(
    adapter: AdapterDir, model: Any, *, doc: Document | None = None, at: tuple[Any, ...] = ("lora_model_dir",)
) -> list[Finding]:
    """Errors where PEFT would fail loading: target modules the model lacks, tensors of the wrong shape.

    `model` is a transformers model, real or on the meta device (a PeftModel is unwrapped first).
    """
    if adapter.tensors is None:
        return []
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    modules = dict(base.named_modules())
    params = {n: tuple(p.shape) for n, p in base.named_parameters(remove_duplicate=False)}
    missing: dict[str, None] = {}  # ordered set: a hostile header names 25,000 modules, a list made it quadratic
    wrong: list[str] = []
    ranks: dict[str, dict[str, int]] = {}
    for key, info in sorted(adapter.tensors.items()):
        name = key.removeprefix(_PREFIX)
        match = _LORA_KEY.match(name)
        if match is None:
            head = _TUNER_PART.split(name, maxsplit=1)
            owner = _BASE_SUFFIX.sub("", head[0]) if len(head) > 1 else None  # e.g. a LoHa or lora_B.bias key
            if owner is not None and owner not in modules:
                missing[owner] = None
            elif name in params and params[name] != info.shape:
                wrong.append(f"{name}: saved shape {list(info.shape)}, this model has {list(params[name])}")
            continue
        module_name, part = match["module"], match["part"]
        module = modules.get(module_name)
        if module is None:
            missing[module_name] = None
            continue
        problem = _shape_problem(module, part, info.shape, ranks.setdefault(module_name, {}))
        if problem:
            wrong.append(
                f"{module_name}: saved {part.removesuffix('.weight')} has shape {list(info.shape)}, but {problem}"
            )
    wrong += _rank_problems(adapter.config, ranks)
    absent = [f"{adapter.path} adapts {m}, which this model has no module for" for m in missing]
    # transformers 5 renames some architectures' modules on load (MoE experts) and PEFT follows: not sure to fail
    missing_rule = ADAPTER_DIR_TARGET_MISSING.at_level(
        Severity.WARNING if _converts_checkpoints(base) else Severity.ERROR
    )
    out = _listed(
        doc,
        missing_rule,
        absent,
        at,
        "the adapter was trained on another architecture; use its base model",
    )
    return out + _listed(
        doc,
        ADAPTER_DIR_SHAPE_MISMATCH,
        wrong,
        at,
        "the adapter was trained on a base model of another size; use its base model",
    )


def check_config_agrees(
    adapter: AdapterDir,
    expected: Mapping[str, Any],
    *,
    doc: Document | None = None,
    at: tuple[Any, ...] = ("lora_model_dir",),
) -> list[Finding]:
    """Warnings where the YAML and the saved adapter_config.json differ: PEFT loads the saved values.

    `expected` is the adapter_config.json dict compile builds for the YAML.
    """
    mine = dict(expected)
    saved = adapter.config
    source = adapter.path / CONFIG_NAME
    out: list[Finding] = []
    for field, key in ((f.name, f.key or "adapter") for f in COMPARED_FIELDS):
        if _norm(mine.get(field)) != _norm(saved.get(field)):
            if doc is not None:
                key = targets_key(key, doc.values.get("lora_target_modules"), doc.values.get("lora_target_linear"))
            where = (key,) if doc is not None and (key,) in doc.key_pos else at
            out.append(
                finding(
                    doc,
                    ADAPTER_DIR_CONFIG_DIFFERS,
                    f"{key}: the YAML gives {field} {_show(mine.get(field))}, {source} has "
                    f"{_show(saved.get(field))}; PEFT loads the saved value",
                    where,
                    hint=f"make {key} match the adapter, or drop lora_model_dir to train a new one",
                )
            )
    ours, theirs = mine.get("base_model_name_or_path"), saved.get("base_model_name_or_path")
    if ours and theirs and not _same_model(str(ours), str(theirs)):  # a hostile file may hold a number
        where = ("base_model",) if doc is not None and ("base_model",) in doc.key_pos else at
        out.append(
            finding(
                doc,
                ADAPTER_DIR_BASE_MODEL_DIFFERS,
                f"the adapter in {adapter.path} was trained on {theirs}, the YAML's base_model is {ours}",
                where,
                hint="an adapter only means something on its own base model",
            )
        )
    return out


def check_adapter_dir(
    path: str | Path,
    model: Any = None,
    expected: Mapping[str, Any] | None = None,
    *,
    doc: Document | None = None,
    at: tuple[Any, ...] = ("lora_model_dir",),
    allow_pickle: bool = False,
) -> list[Finding]:
    """Every check at once: readable directory, then model fit (if `model`), then config agreement (if `expected`)."""
    adapter, out = read_adapter_dir(path, doc=doc, at=at, allow_pickle=allow_pickle)
    if adapter is not None and model is not None:
        out += check_model_fit(adapter, model, doc=doc, at=at)
    if adapter is not None and expected is not None:
        out += check_config_agrees(adapter, expected, doc=doc, at=at)
    return out


def _shape_problem(module: Any, part: str, shape: tuple[int, ...], ranks: dict[str, int]) -> str | None:
    """Why `shape` cannot be this module's `part`, or None. `ranks` pairs A's rank with B's per module."""
    features = layer_features(module)
    if features is None or len(shape) < 1:
        return None  # a layer type whose LoRA layout is not checked (e.g. fused expert parameters)
    kind, fan_in, fan_out = features
    described = f"this model's {kind} (in {fan_in}, out {fan_out})"
    if part == "lora_magnitude_vector":
        return None if shape[0] == fan_out else f"{described} needs [{fan_out}]"
    if len(shape) < 2:
        return f"{described} needs a matrix"
    side = part.removesuffix(".weight")[-1]  # "A" or "B"
    r, need = (shape[0], [shape[0], fan_in]) if side == "A" else (shape[1], [fan_out, shape[1]])
    other = ranks.get("B" if side == "A" else "A")
    ranks[side] = r
    if list(shape[:2]) != need:
        return f"{described} needs {need}"
    if other is not None and other != r:
        return f"its lora_A and lora_B disagree on the rank ({other} vs {r})"
    return None


def _rank_problems(config: Mapping[str, Any], ranks: dict[str, dict[str, int]]) -> list[str]:
    """Saved tensors whose rank is not the one the saved config gives their module: PEFT builds each layer
    with `rank_pattern`'s rank (its key matched as `(.*\\.)?(key)$`, the first that matches) else `r`, then
    fails loading the state dict."""
    from ..model_facts import slow_pattern, valid_regex

    r, pattern = config.get("r"), config.get("rank_pattern") or {}
    if not isinstance(r, int) or not isinstance(pattern, dict):
        return []  # adapter-dir-config-differs and PEFT's own validation speak to a malformed config
    keys = [k for k in pattern if isinstance(k, str) and valid_regex(rf"(.*\.)?({k})")]
    if slow_pattern([(k, rf"(.*\.)?({k})") for k in keys], sorted(ranks)):
        return []  # a backtracking key: regex-too-slow's business, not worth a hang here
    out = []
    for module, sides in sorted(ranks.items()):
        key = next((k for k in keys if re.fullmatch(rf"(.*\.)?({k})", module)), None)
        want = pattern[key] if key is not None else r
        saved = sides.get("A", sides.get("B"))
        if isinstance(want, int) and saved is not None and saved != want:
            source = f"rank_pattern['{key}']" if key is not None else "r"
            out.append(f"{module}: saved tensors have rank {saved}, but the saved config's {source} is {want}")
    return out


def _converts_checkpoints(model: Any) -> bool:
    """Whether transformers converts checkpoints of this model type on load (transformers 5 MoE models)."""
    try:
        from transformers.conversion_mapping import get_checkpoint_conversion_mapping
    except ImportError:
        return False
    return get_checkpoint_conversion_mapping(getattr(getattr(model, "config", None), "model_type", None)) is not None


def _listed(doc: Document | None, rule: Rule, messages: list[str], at: tuple[Any, ...], hint: str) -> list[Finding]:
    shown = messages[:MAX_LISTED]
    if len(messages) > MAX_LISTED:
        shown[-1] += f" (and {len(messages) - MAX_LISTED} more like it)"
    return [finding(doc, rule, m, at, hint) for m in shown]


def _norm(value: Any) -> Any:
    """Equal when PEFT would treat them the same: unset, empty and false alike; lists as sets."""
    if not value:
        return None
    if isinstance(value, (list, tuple, set)):
        return tuple(sorted(str(v) for v in value))
    return value


def _show(value: Any) -> str:
    value = _norm(value)
    return "unset" if value is None else repr(list(value) if isinstance(value, tuple) else value)


def _same_model(a: str, b: str) -> bool:
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.exists() and pb.exists():
        return pa.resolve() == pb.resolve()
    return a.rstrip("/") == b.rstrip("/")


@ADAPTER_DIR_SHAPE_MISMATCH.checks
def adapter_dir(ctx: Context) -> Iterable[Finding]:
    if ctx.spec.lora_model_dir:
        yield from check_adapter_dir(ctx.spec.lora_model_dir, ctx.skeleton.model, ctx.adapter_config, doc=ctx.doc)
