"""The size of the adapter_model.safetensors an Axolotl run saves, to the byte, before it runs.

The tensors are the ones PEFT's get_peft_model_state_dict returns on the meta skeleton (inject.py), so
their names and shapes are PEFT's own. Their dtypes follow what Axolotl and PEFT do to them (read from
Axolotl 0.19.0/0.21.0 and PEFT 0.20.0/0.21.2, single process): the model loads in the YAML's dtype
(Axolotl utils/config resolve_dtype: bf16 or bfloat16 -> bfloat16; else load_in_8bit, fp16 or float16 ->
float16; else float32); PEFT's tuner tensors (LoRA A/B, lora_embedding_A/B, DoRA magnitudes, trainable-token
deltas, target_parameters LoRA) are upcast to float32 unless peft_autocast_adapter_dtype: false (then they
keep the base layer's dtype, float32 over 8-bit weights; Axolotl 0.21's lora_fp32_gradients makes them
float32 again); full copies (modules_to_save, base embedding layers PEFT saves beside embedding LoRA) keep
the dtype their module has after Axolotl's loading passes (loading.py: the model dtype, MoE routers named
`gate` float32, under QLoRA with FSDP in 0.20+ norms and embeddings float32 too). save_pretrained clones
tied tensors rather than dropping them, so every key is written. The file is safetensors' layout: an
8-byte header length, the JSON header (`__metadata__` {"format": "pt"} first, tensors in data order:
dtype descending in safetensors' order, then name) padded with spaces to a multiple of 8, then the data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..profiles import find
from ..results.parts import AdapterFile

# safetensors' Dtype enum, highest first: the order its writer puts tensors in
_ORDER = (
    "U64",
    "I64",
    "F64",
    "U32",
    "I32",
    "F32",
    "BF16",
    "F16",
    "U16",
    "I16",
    "F8_E4M3",
    "F8_E5M2",
    "I8",
    "U8",
    "BOOL",
)
DTYPE_BYTES = {"F64": 8, "F32": 4, "BF16": 2, "F16": 2}  # per element, by safetensors dtype name
DTYPE_NAMES = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}
_TUNER = (
    ".lora_A.",
    ".lora_B.",
    ".lora_embedding_A",
    ".lora_embedding_B",
    ".lora_magnitude_vector",
    ".trainable_tokens_delta",
)


def load_dtype(values: Mapping[str, Any]) -> str:
    """The torch dtype Axolotl loads the model in (resolve_dtype; bf16: auto taken as a bf16-capable GPU)."""
    if values.get("bf16") in (True, "auto") or values.get("bfloat16") is True:
        return "bfloat16"
    if values.get("load_in_8bit") is True or values.get("fp16") is True or values.get("float16") is True:
        return "float16"
    return "float32"


def model_dtype(values: Mapping[str, Any]) -> str:
    """load_dtype as a safetensors dtype name (F32, BF16, F16)."""
    return DTYPE_NAMES[load_dtype(values)]


def tensor_bytes(dtype: str, shape: Iterable[int]) -> int:
    return DTYPE_BYTES[dtype] * math.prod(shape)


def unknown_because(values: Mapping[str, Any]) -> str | None:
    """Why the file size cannot be known from the YAML, or None."""
    if values.get("deepspeed"):
        return "DeepSpeed saves through its own engine, in its own precision"
    if values.get("tokens") or values.get("added_tokens_overrides"):
        return "added tokens resize the embeddings to the tokenizer's length, which PEFT then saves"
    return None


def saved_dtype(key: str, values: Mapping[str, Any], axolotl: str, held: Mapping[str, str]) -> str:
    """The safetensors dtype of one saved tensor (key without base_model.model.). held: loading.base_load's
    dtype per base parameter; a full copy keeps its module's, a tuner tensor not upcast its base layer's."""
    model = model_dtype(values)
    owner = key.split(".lora_", 1)[0].split(".token_adapter", 1)[0]
    base = held.get(f"{owner.removesuffix('.base_layer')}.weight", model)
    copy = held.get(key.replace(".base_layer.", "."), model)
    if any(part in key for part in _TUNER):
        upcast = values.get("peft_autocast_adapter_dtype") is not False
        fp32_grads = values.get("lora_fp32_gradients") is True and find(axolotl).lora_fp32_gradients
        return "F32" if upcast or fp32_grads or base == "F32" or values.get("load_in_8bit") is True else model
    return copy if copy in DTYPE_BYTES else model


def file_size(tensors: Iterable[tuple[str, str, tuple[int, ...]]]) -> int:
    """Bytes of the safetensors file holding (key, dtype, shape) tensors, as safetensors writes it."""
    entries = sorted(tensors, key=lambda t: (_ORDER.index(t[1]), t[0]))
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for key, dtype, shape in entries:
        size = tensor_bytes(dtype, shape)
        header[key] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = len(json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode())
    return 8 + text + (-text % 8) + offset


def adapter_file(
    tensors: Iterable[Any], values: Mapping[str, Any], axolotl: str, held: Mapping[str, str]
) -> AdapterFile:
    """The report's `adapter_file`: bytes, tensor count and bytes per dtype, or why they are unknown."""
    why = unknown_because(values)
    if why:
        return AdapterFile(None, unknown_because=why)
    keyed = [
        (f"base_model.model.{t.name}", saved_dtype(t.name, values, axolotl, held), tuple(t.shape)) for t in tensors
    ]
    by_dtype: dict[str, int] = {}
    for _, dtype, shape in keyed:
        by_dtype[dtype] = by_dtype.get(dtype, 0) + tensor_bytes(dtype, shape)
    return AdapterFile(file_size(keyed), len(keyed), dict(sorted(by_dtype.items())), load_dtype(values))
