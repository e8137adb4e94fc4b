"""Read a saved PEFT adapter directory (`lora_model_dir`) without loading it: bounded, never a pickle.

Only `adapter_config.json` and the JSON header of `adapter_model.safetensors` are read: tensors are
never loaded, and a pickle `adapter_model.bin` is never opened, since unpickling a stranger's file
runs its code. Problems are findings (positioned at `at` in the config's Document when one is given);
`rules.adapter_dir` checks what was read against the model and the YAML.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from .. import inputs
from ..pipeline.document import Document, read_bounded
from ..results.findings import Finding, Severity
from ..rulebook.saved_adapter import (
    ADAPTER_DIR_CONFIG_INVALID,
    ADAPTER_DIR_HEADER_INVALID,
    ADAPTER_DIR_MISSING,
    ADAPTER_DIR_PICKLE,
)

if TYPE_CHECKING:
    from ..rulebook.registry import Rule

CONFIG_NAME = "adapter_config.json"
SAFETENSORS_NAME = "adapter_model.safetensors"
PICKLE_NAME = "adapter_model.bin"
# Real adapter headers are KBs (about 150 bytes a tensor: 4 MB is 25,000 tensors). The parsed header costs
# about 20x its size in memory, so this bound also bounds lint's memory.
MAX_HEADER_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 2 * 1024 * 1024


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
    info = p.stat()
    if not stat.S_ISREG(info.st_mode):
        raise HeaderError("not a regular file")
    size = info.st_size
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
    path: str | Path,
    *,
    doc: Document | None = None,
    at: tuple[Any, ...] = ("lora_model_dir",),
    allow_pickle: bool = False,
) -> tuple[AdapterDir | None, list[Finding]]:
    """Read a directory's adapter_config.json and safetensors header; None when it is unusable."""
    p = inputs.expanduser(path)
    if not inputs.is_dir(p):
        return None, [
            finding(
                doc,
                ADAPTER_DIR_MISSING,
                f"{path} is not a local directory",
                at,
                hint="download the adapter first (hf download <repo> --local-dir <dir>)",
            )
        ]
    config_file = p / CONFIG_NAME
    try:
        config = json.loads(read_bounded(config_file, MAX_CONFIG_BYTES).decode("utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        return None, [
            finding(
                doc,
                ADAPTER_DIR_MISSING,
                f"{path} has no {CONFIG_NAME}",
                at,
                hint="point lora_model_dir at a directory written by PEFT's save_pretrained",
            )
        ]
    except (OSError, ValueError, RecursionError) as exc:
        return None, [
            finding(
                doc,
                ADAPTER_DIR_CONFIG_INVALID,
                f"{config_file} cannot be used: {str(exc)[:200]}",
                at,
                hint="re-save the adapter with PEFT's save_pretrained",
            )
        ]
    weights, pickled = p / SAFETENSORS_NAME, p / PICKLE_NAME
    inputs.identity(weights)  # only its header is read: size, times and inode stand for the rest
    if weights.is_symlink() and not weights.exists():
        return None, [
            finding(
                doc,
                ADAPTER_DIR_HEADER_INVALID,
                f"{weights} is a symlink to a missing file ({os.readlink(weights)})",
                at,
                hint="fetch the content first (git annex get / git lfs pull), then run again",
            )
        ]
    if inputs.is_file(weights):
        try:
            return AdapterDir(p, config, read_safetensors_header(weights)), []
        except (HeaderError, OSError) as exc:
            return None, [
                finding(
                    doc,
                    ADAPTER_DIR_HEADER_INVALID,
                    f"{weights}: {exc}",
                    at,
                    hint="the file is damaged or not safetensors; re-save the adapter",
                )
            ]
    if inputs.is_file(pickled):
        if allow_pickle:
            return AdapterDir(p, config, None), [
                finding(
                    doc,
                    ADAPTER_DIR_PICKLE,
                    f"{pickled} is a pickle: its shapes are not checked, and loading it runs whatever code it contains",
                    at,
                    hint="convert it to adapter_model.safetensors",
                )
            ]
        return None, [
            finding(
                doc,
                ADAPTER_DIR_PICKLE.at_level(Severity.ERROR),
                f"{pickled} is a pickle, which can run arbitrary code when loaded; it is refused",
                at,
                hint="convert it to safetensors in a sandbox, or pass allow_pickle=True if you trust it",
            )
        ]
    return None, [
        finding(
            doc,
            ADAPTER_DIR_MISSING,
            f"{path} has no {SAFETENSORS_NAME}",
            at,
            hint="point lora_model_dir at a directory written by PEFT's save_pretrained",
        )
    ]


def finding(doc: Document | None, rule: Rule, message: str, at: tuple[Any, ...], hint: str | None = None) -> Finding:
    """`rule`'s finding at `at` in the config's document, or (no document) naming `at` only."""
    if doc is None:
        return rule.finding(message, hint=hint, key=".".join(map(str, at)))
    return rule.at(doc, message, at, hint=hint)


def _ints(value: Any) -> TypeGuard[list[int]]:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
