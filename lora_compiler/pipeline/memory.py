"""Static training memory: what a run holds before any activation, from the skeleton and the YAML.

Base weights as Axolotl loads them (Axolotl 0.21 loaders/model.py): the model dtype (adapter_file.load_dtype);
with `adapter: qlora` and `load_in_4bit` a bitsandbytes 4-bit load with Axolotl's BitsAndBytesConfig (nf4,
double quantisation, blocksize 64, `bnb_config_kwargs` on top), with `adapter: lora` and `load_in_8bit` an
8-bit load. Which Linear layers stay unquantised is transformers' own decision (the quantizer's
get_modules_to_not_convert and should_convert_module, run on the skeleton: the output layer unless
llm_int8_skip_modules replaces that default). Storage per quantised weight, as bitsandbytes keeps it: 4-bit
packed bytes (numel / 2) and its QuantState (absmax per 64-weight block: float32, or uint8 with double
quantisation plus a float32 absmax per 256 blocks and a 256-entry float32 code; a 16-entry float32 code);
8-bit: int8 weights and a float32 scale per output row. MoE routers (`gate`) are float32 (Axolotl's cast).
Fused MoE experts are no Linear: they stay unquantised unless `quantize_moe_experts: true`.

Trainable tensors are the adapter's (adapter_file's tensors less the base embedding layers PEFT saves beside
embedding LoRA), in their dtype; gradients match them. Optimizer state by the YAML's `optimizer` (default
adamw_torch_fused), as torch and transformers allocate it at the first step: AdamW two moments in the
parameter's dtype and a float32 step per tensor; SGD without momentum nothing; Adafactor factored second
moments (rows + columns) for matrices, a full one for vectors, and a float32 RMS per tensor. bitsandbytes'
AdamW (two states), Lion and RMSprop (one), as transformers builds them (trainer_optimizer.py: 8-bit when the
name says 8bit; nn.Embedding weights overridden to 32-bit): float32 states, or for 8-bit tensors of at least
4096 elements uint8 states with a float32 absmax per 256-element block and one shared 256-entry float32 map
per state; paged states hold the same bytes in CUDA unified memory. Others are reported as not modelled.
Totals are per run; where the YAML shards (FSDP, DeepSpeed), sharding.py says what one device holds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..model_facts import is_fused_expert
from ..results.parts import StaticMemory
from .adapter_file import DTYPE_BYTES, DTYPE_NAMES, saved_dtype, tensor_bytes
from .loading import quantization
from .sharding import Held, Sharding, per_device, unmodelled_shards

ADAMW = ("adamw_torch", "adamw_torch_fused", "adamw_hf")
BNB_STATES = {
    "adamw_bnb_8bit": 2,
    "adamw_8bit": 2,
    "paged_adamw_8bit": 2,
    "paged_adamw_32bit": 2,
    "lion_8bit": 1,
    "lion_32bit": 1,
    "paged_lion_8bit": 1,
    "paged_lion_32bit": 1,
    "rmsprop_bnb": 1,
    "rmsprop_bnb_8bit": 1,
    "rmsprop_bnb_32bit": 1,
}
MODELLED = (*ADAMW, "sgd", "adafactor", *BNB_STATES)
MIN_8BIT_SIZE, BNB_BLOCK = 4096, 256  # bitsandbytes Optimizer8bit defaults


def _storage_item(quant: Mapping[str, Any] | None) -> int:
    """Bytes of one bnb_4bit_quant_storage element (a float dtype; 0 for uint8 and others, which are not modelled
    under sharding)."""
    name = str((quant or {}).get("bnb_4bit_quant_storage")).removeprefix("torch.")
    return DTYPE_BYTES.get(DTYPE_NAMES.get(name, ""), 0)


def _packed(numel: int) -> int:
    """bitsandbytes' packed 4-bit storage: two weights a byte."""
    return math.ceil(numel / 2)


def _four_bit_state(numel: int, double: bool) -> int:
    """Its QuantState: absmax per 64-weight block (uint8 with double quantisation, plus a float32 absmax per 256
    blocks and a 256-entry float32 code; else float32), and the 16-entry float32 code."""
    blocks = math.ceil(numel / 64)
    stats = blocks + 4 * math.ceil(blocks / 256) + 4 * 256 if double else 4 * blocks
    return stats + 4 * 16


def _base_params(model: Any, held: Mapping[str, str], quant: Mapping[str, Any] | None) -> list[Held]:
    """Each base parameter as loaded (loading.base_load's holds), tied parameters once: its bytes, and how they
    split by rows where a sharder splits them (a 4-bit weight is a column of quant-storage elements)."""
    out, seen = [], set()
    for name, module in model.named_modules():
        for pname, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            numel, shape, how = param.numel(), tuple(param.shape), held[f"{name}.{pname}" if name else pname]
            if how == "4bit-experts":  # Axolotl's utils/nf4.py: not measured here
                out.append(Held(None, _packed(numel), _four_bit_state(numel, True), quantised=True))
            elif how == "4bit":
                packed, item = _packed(numel), _storage_item(quant)
                out.append(
                    Held(
                        packed // item if item else None,
                        packed,
                        _four_bit_state(numel, bool(quant and quant["bnb_4bit_use_double_quant"])),
                        quantised=True,
                    )
                )
            elif how == "8bit":
                out.append(Held(module.out_features, numel, 4 * module.out_features, quantised=True))
            else:
                out.append(Held(shape[0] if shape else 1, DTYPE_BYTES[how] * numel, elements=numel))
    return out


def _optimizer_bytes(optimizer: str, shape: tuple[int, ...], size: int, embedding: bool) -> int:
    numel = math.prod(shape)
    if optimizer in BNB_STATES:
        eight = "8bit" in optimizer and not embedding and numel >= MIN_8BIT_SIZE
        return BNB_STATES[optimizer] * (numel + 4 * math.ceil(numel / BNB_BLOCK) if eight else 4 * numel)
    if optimizer in ADAMW:
        return 2 * numel * size + 4
    if optimizer == "sgd":
        return 0
    if len(shape) >= 2:  # adafactor: exp_avg_sq_row + exp_avg_sq_col, float32, and RMS
        return 4 * (math.prod(shape[:-1]) + math.prod(shape[:-2]) * shape[-1]) + 4
    return 4 * numel + 4


def _optimizer_state(optimizer: str, trained: list[tuple[tuple[int, ...], str, bool]]) -> int | None:
    """State bytes after the first step; 8-bit bitsandbytes maps are one tensor per state, shared."""
    if optimizer not in MODELLED:
        return None
    state = sum(_optimizer_bytes(optimizer, shape, DTYPE_BYTES[dtype], emb) for shape, dtype, emb in trained)
    if (
        "8bit" in optimizer
        and optimizer in BNB_STATES
        and any(not emb and math.prod(shape) >= MIN_8BIT_SIZE for shape, _, emb in trained)
    ):
        state += BNB_STATES[optimizer] * 256 * 4
    return state


def _is_embedding_weight(model: Any, key: str) -> bool:
    """A trained nn.Embedding weight (a modules_to_save copy), which transformers keeps at 32-bit state."""
    import torch

    owner, _, leaf = key.rpartition(".")
    if leaf != "weight" or ".lora_" in key or "token_adapter" in key:
        return False
    try:
        return isinstance(model.get_submodule(owner), torch.nn.Embedding)
    except AttributeError:
        return False


def static_memory(
    model: Any,
    tensors: Iterable[Any],
    values: Mapping[str, Any],
    axolotl: str,
    held: Mapping[str, str],
    sharding: Sharding | None,
    model_type: str | None = None,
    devices: Iterable[int] = (2, 4, 8),
) -> StaticMemory:
    """The report's `static_memory` (schemas/targets.schema.json); held: loading.base_load's answer, sharding:
    sharding.plan's."""
    optimizer = values.get("optimizer") or "adamw_torch_fused"
    trained = [
        (tuple(t.shape), saved_dtype(t.name, values, axolotl, held), _is_embedding_weight(model, t.name))
        for t in tensors
        if not t.name.endswith(".base_layer.weight")
    ]
    adapter = sum(tensor_bytes(dtype, shape) for shape, dtype, _ in trained)
    state = _optimizer_state(optimizer, trained)
    quant = quantization(values, model_type)
    params = _base_params(model, held, quant)
    base = sum(h.bytes for h in params)
    notes = []
    if state is None:
        notes.append(f"optimizer {optimizer}: its state is not modelled")
    elif optimizer.startswith("paged_"):
        notes.append("paged optimizer: its state lives in CUDA unified memory, which the driver may evict to CPU RAM")
    if quant and values.get("quantize_moe_experts") is True:
        notes.append(
            "fused experts counted as Axolotl's quantize_moe_experts 4-bit storage, restated from its "
            "source, not measured"
        )
    elif quant and any(is_fused_expert(n, m, p) for n, m in model.named_modules() for p in m.parameters(recurse=False)):
        notes.append(
            "fused MoE experts are not Linear layers: bitsandbytes leaves them unquantised "
            "(quantize_moe_experts: true quantises them)"
        )
    if sharding and unmodelled_shards(sharding, params):
        notes.append(
            f"{sharding.by}: how quantised base weights shard is not modelled, so per-device base weights are unknown"
        )
    return StaticMemory(
        label="static: excludes activations",
        base_weights=base,
        trainable=adapter,
        gradients=adapter,
        optimizer=optimizer,
        optimizer_state=state,
        total=None if state is None else base + 2 * adapter + state,
        quantization=quant,
        sharding=sharding.record() if sharding else None,
        per_device=per_device(sharding, params, trained, optimizer, devices, _optimizer_state, DTYPE_BYTES)
        if sharding and sharding.sharded
        else None,
        notes=tuple(notes),
    )
