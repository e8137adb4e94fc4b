"""Will a saved PEFT adapter directory (`lora_model_dir`) load onto this model? Decided without loading it.

Shared by `load_lora` (which refuses before PEFT is called) and lint. Only `adapter_config.json` and
the JSON header of `adapter_model.safetensors` are read: tensors are never loaded, and a pickle
`adapter_model.bin` is never opened, since unpickling a stranger's file runs its code. Every
function is pure and returns `Finding`s; pass the config's `yamldoc.Document` to position them at
the `lora_model_dir` key (or at `at`), and at the YAML key a saved value differs from.

Key naming follows PEFT's `get_peft_model_state_dict`: `base_model.model.<module>.lora_A.weight`
([r, in_features]), `.lora_B.weight` ([out_features, r]), `.lora_embedding_A` ([r, num_embeddings]),
`.lora_embedding_B` ([embedding_dim, r]), `.lora_magnitude_vector` (DoRA, [out_features]), and
`base_model.model.<module>.<param>` for modules_to_save. transformers' Conv1D stores its weight as
[in, out], so its in_features is weight.shape[0].
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .fields import COMPARED_FIELDS
from .findings import Finding, Severity
from .model_facts import layer_features
from .yamldoc import Document

CONFIG_NAME = "adapter_config.json"
SAFETENSORS_NAME = "adapter_model.safetensors"
PICKLE_NAME = "adapter_model.bin"
MAX_HEADER_BYTES = 100 * 1024 * 1024  # real adapter headers are KBs; a larger claim is corrupt or hostile
MAX_CONFIG_BYTES = 10 * 1024 * 1024
MAX_LISTED = 5  # findings of one rule per directory; the last says how many more there are

_PREFIX = "base_model.model."
_LORA_KEY = re.compile(
    r"^(?P<module>.+?)(?:\.base_layer)*\.(?P<part>lora_A\.weight|lora_B\.weight|lora_embedding_A|lora_embedding_B"
    r"|lora_magnitude_vector)$"
)
_BASE_SUFFIX = re.compile(r"(\.base_layer)+$")
_TUNER_PART = re.compile(r"\.(?:lora|hada|lokr|oft|shira)_")

class HeaderError(ValueError):
    """A safetensors file whose header cannot be trusted."""


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class AdapterDir:
    """What was read from an adapter directory. `tensors` is None when there is no safetensors file."""

    path: Path
    config: dict[str, Any]
    tensors: dict[str, TensorInfo] | None


def read_safetensors_header(path: str | Path, max_header_bytes: int = MAX_HEADER_BYTES) -> dict[str, TensorInfo]:
    """Tensor names, dtypes and shapes from a safetensors header, in memory bounded by `max_header_bytes`."""
    p = Path(path)
    size = p.stat().st_size
    with p.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise HeaderError(f"the file has {size} bytes, fewer than the 8-byte header length")
        length = int.from_bytes(head, "little")
        if length > max_header_bytes:
            raise HeaderError(f"the header claims {length:,} bytes; more than {max_header_bytes:,} is refused")
        if 8 + length > size:
            raise HeaderError(f"truncated: the header claims {length:,} bytes but the file has {size:,}")
        raw = fh.read(length)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise HeaderError(f"the header is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise HeaderError("the header is not a JSON object")
    tensors: dict[str, TensorInfo] = {}
    end = 0
    for name, entry in data.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (_ints(shape) and _ints(offsets) and len(offsets) == 2 and offsets[0] <= offsets[1]):
            raise HeaderError(f"tensor '{str(name)[:100]}' has no valid shape and data_offsets")
        tensors[name] = TensorInfo(str(entry.get("dtype")), tuple(shape))
        end = max(end, offsets[1])
    if 8 + length + end > size:
        raise HeaderError(f"truncated: tensor data ends at byte {8 + length + end:,} but the file has {size:,}")
    return tensors


def read_adapter_dir(
    path: str | Path, *, doc: Document | None = None, at: tuple[Any, ...] = ("lora_model_dir",),
    allow_pickle: bool = False,
) -> tuple[AdapterDir | None, list[Finding]]:
    """Read a directory's adapter_config.json and safetensors header; None when it is unusable."""
    p = Path(path).expanduser()
    if not p.is_dir():
        return None, [_finding(doc, "adapter-dir-missing", f"{path} is not a local directory", at,
                               hint="download the adapter first (hf download <repo> --local-dir <dir>)")]
    config_file = p / CONFIG_NAME
    try:
        if config_file.stat().st_size > MAX_CONFIG_BYTES:
            raise ValueError(f"more than {MAX_CONFIG_BYTES:,} bytes")
        config = json.loads(config_file.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return None, [_finding(doc, "adapter-dir-missing", f"{path} has no {CONFIG_NAME}", at,
                               hint="point lora_model_dir at a directory written by PEFT's save_pretrained")]
    except (OSError, ValueError, RecursionError) as exc:
        return None, [_finding(doc, "adapter-dir-config-invalid", f"{config_file} cannot be used: {str(exc)[:200]}",
                               at, hint="re-save the adapter with PEFT's save_pretrained")]
    weights, pickled = p / SAFETENSORS_NAME, p / PICKLE_NAME
    if weights.is_file():
        try:
            return AdapterDir(p, config, read_safetensors_header(weights)), []
        except (HeaderError, OSError) as exc:
            return None, [_finding(doc, "adapter-dir-header-invalid", f"{weights}: {exc}", at,
                                   hint="the file is damaged or not safetensors; re-save the adapter")]
    if pickled.is_file():
        if allow_pickle:
            return AdapterDir(p, config, None), [_finding(
                doc, "adapter-dir-pickle", f"{pickled} is a pickle: its shapes are not checked, and loading it "
                "runs whatever code it contains", at, Severity.WARNING,
                hint="convert it to adapter_model.safetensors")]
        return None, [_finding(
            doc, "adapter-dir-pickle", f"{pickled} is a pickle, which can run arbitrary code when loaded; "
            "it is refused", at,
            hint="convert it to safetensors in a sandbox, or pass allow_pickle=True if you trust it")]
    return None, [_finding(doc, "adapter-dir-missing", f"{path} has no {SAFETENSORS_NAME}", at,
                           hint="point lora_model_dir at a directory written by PEFT's save_pretrained")]


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
    missing: list[str] = []
    wrong: list[str] = []
    ranks: dict[str, dict[str, int]] = {}
    for key, info in sorted(adapter.tensors.items()):
        name = key.removeprefix(_PREFIX)
        match = _LORA_KEY.match(name)
        if match is None:
            head = _TUNER_PART.split(name, maxsplit=1)
            owner = _BASE_SUFFIX.sub("", head[0]) if len(head) > 1 else None  # e.g. a LoHa or lora_B.bias key
            if owner is not None and owner not in modules and owner not in missing:
                missing.append(owner)
            elif name in params and params[name] != info.shape:
                wrong.append(f"{name}: saved shape {list(info.shape)}, this model has {list(params[name])}")
            continue
        module_name, part = match["module"], match["part"]
        module = modules.get(module_name)
        if module is None:
            if module_name not in missing:
                missing.append(module_name)
            continue
        problem = _shape_problem(module, part, info.shape, ranks.setdefault(module_name, {}))
        if problem:
            wrong.append(f"{module_name}: saved {part.removesuffix('.weight')} has shape {list(info.shape)}, "
                         f"but {problem}")
    absent = [f"{adapter.path} adapts {m}, which this model has no module for" for m in missing]
    # transformers 5 renames some architectures' modules on load (MoE experts) and PEFT follows: not sure to fail
    severity = Severity.WARNING if _converts_checkpoints(base) else Severity.ERROR
    out = _listed(doc, "adapter-dir-target-missing", absent, at, severity,
                  "the adapter was trained on another architecture; use its base model")
    return out + _listed(doc, "adapter-dir-shape-mismatch", wrong, at, Severity.ERROR,
                         "the adapter was trained on a base model of another size; use its base model")


def check_config_agrees(
    adapter: AdapterDir, expected: Any, *, doc: Document | None = None, at: tuple[Any, ...] = ("lora_model_dir",)
) -> list[Finding]:
    """Warnings where the YAML and the saved adapter_config.json differ: PEFT loads the saved values.

    `expected` is the LoraConfig compile builds for the YAML, or its on-disk dict.
    """
    from .peftcfg import adapter_config_dict

    mine = dict(expected) if isinstance(expected, Mapping) else adapter_config_dict(expected)
    saved = adapter.config
    source = adapter.path / CONFIG_NAME
    out: list[Finding] = []
    for field, key in ((f.name, f.key or "adapter") for f in COMPARED_FIELDS):
        if _norm(mine.get(field)) != _norm(saved.get(field)):
            if key == "lora_target_modules" and doc is not None and ("lora_target_modules",) not in doc.key_pos:
                key = "lora_target_linear"
            where = (key,) if doc is not None and (key,) in doc.key_pos else at
            out.append(_finding(doc, "adapter-dir-config-differs",
                                f"{key}: the YAML gives {field} {_show(mine.get(field))}, {source} has "
                                f"{_show(saved.get(field))}; PEFT loads the saved value", where, Severity.WARNING,
                                hint=f"make {key} match the adapter, or drop lora_model_dir to train a new one"))
    ours, theirs = mine.get("base_model_name_or_path"), saved.get("base_model_name_or_path")
    if ours and theirs and not _same_model(ours, theirs):
        where = ("base_model",) if doc is not None and ("base_model",) in doc.key_pos else at
        out.append(_finding(doc, "adapter-dir-base-model-differs",
                            f"the adapter in {adapter.path} was trained on {theirs}, the YAML's base_model is {ours}",
                            where, Severity.WARNING, hint="an adapter only means something on its own base model"))
    return out


def check_adapter_dir(
    path: str | Path,
    model: Any = None,
    expected: Any = None,
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


def _converts_checkpoints(model: Any) -> bool:
    """Whether transformers converts checkpoints of this model type on load (transformers 5 MoE models)."""
    try:
        from transformers.conversion_mapping import get_checkpoint_conversion_mapping
    except ImportError:
        return False
    return get_checkpoint_conversion_mapping(getattr(getattr(model, "config", None), "model_type", None)) is not None


def _listed(doc: Document | None, rule: str, messages: list[str], at: tuple[Any, ...], severity: Severity,
            hint: str) -> list[Finding]:
    shown = messages[:MAX_LISTED]
    if len(messages) > MAX_LISTED:
        shown[-1] += f" (and {len(messages) - MAX_LISTED} more like it)"
    return [_finding(doc, rule, m, at, severity, hint) for m in shown]


def _finding(doc: Document | None, rule: str, message: str, at: tuple[Any, ...],
             severity: Severity = Severity.ERROR, hint: str | None = None) -> Finding:
    if doc is None:
        return Finding(rule, severity, message, hint=hint, key=".".join(map(str, at)))
    return doc.finding(rule, message, at, severity, hint=hint)


def _ints(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)


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
