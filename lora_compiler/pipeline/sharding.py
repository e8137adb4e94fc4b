"""Where the YAML shards training state across devices, and what one device then holds.

Axolotl 0.21 reads FSDP from `fsdp_config` (or the legacy `fsdp` list) with `fsdp_version` at the top level or
inside it (default 1, utils/schemas/validation.py), and DeepSpeed from `deepspeed`: a JSON file (or a mapping)
whose zero_optimization.stage and offload_optimizer / offload_param devices decide what is partitioned.
The device count is not in the YAML (it is the launcher's), so figures are given per device count asked for.

- FSDP2 (fully_shard) shards every parameter on dim 0, padded: each device holds ceil(dim0 / N) rows of it, and
  gradients and optimizer state follow the shard. Measured (scripts/fsdp_shards.py, rank 0 after one step).
  Quantised weights under Axolotl's FSDP2 patches (monkeypatch/fsdp2_qlora.py): the packed 4-bit storage, a
  column of bnb_4bit_quant_storage elements, and int8 weights shard by rows, while each shard keeps the whole
  quantisation state (absmax, code, int8 row scales). Measured (scripts/fsdp_qlora_shards.py).
- FSDP1 FULL_SHARD / SHARD_GRAD_OP / HYBRID_SHARD shard the same state through one flat parameter per wrapped
  unit, padded once per unit: figured per tensor (ceil(numel / N)), so within N elements per wrapped unit.
  HYBRID_SHARD shards within a node: N is the node's device count. NO_SHARD replicates.
- DeepSpeed ZeRO partitions the optimizer state (stage 1), gradients (2) and parameters (3), ceil(numel / N)
  each, and keeps a float32 master copy of the trainable parameters in the optimizer's partition (stage 1+),
  restated from DeepSpeed's ZeRO optimizers, not measured here.
- Offloading (FSDP offload_params; DeepSpeed offload_optimizer / offload_param to cpu or nvme) moves those
  parts to host memory: they are counted `on_host`, not `on_device`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

PARTS = ("base_weights", "trainable", "gradients", "optimizer_state", "master_weights")
ELEMENTWISE = ("adamw_torch", "adamw_torch_fused", "adamw_hf", "sgd")  # state shaped like the (sharded) tensor
# The files Axolotl ships in deepspeed_configs/ (axolotl-ai-cloud/axolotl at 067b021c8), used when a YAML names
# one by its repository path and no such file is at hand: name -> (stage, offload_optimizer, offload_param).
AXOLOTL_DEEPSPEED = {
    "zero1.json": (1, None, None), "zero1_torch_compile.json": (1, None, None),
    "zero2.json": (2, "cpu", None), "zero2_torch_compile.json": (2, "cpu", None),
    "zero3.json": (3, None, None), "zero3_bf16.json": (3, None, None),
    "zero3_bf16_cpuoffload_all.json": (3, "cpu", "cpu"), "zero3_bf16_cpuoffload_params.json": (3, None, "cpu"),
}


@dataclass(frozen=True)
class Sharding:
    by: str  # "FSDP2", "FSDP1 FULL_SHARD", "DeepSpeed ZeRO-2"
    source: str  # the YAML key or the JSON file the plan was read from
    sharded: tuple[str, ...] = ()
    offloaded: tuple[str, ...] = ()
    per_tensor_rows: bool = False  # FSDP2's dim-0 shards (else ceil(numel / N) partitions)
    exact: bool = False
    note: str | None = None  # why a figure is approximate or missing

    def record(self) -> dict[str, Any]:
        return {"by": self.by, "source": self.source, "sharded": list(self.sharded),
                "offloaded": list(self.offloaded), "exact": self.exact, "note": self.note}


def plan(values: Mapping[str, Any], yaml_dir: Path | None) -> Sharding | None:
    """The sharding this YAML asks for, or None for a run on one device (or plain data parallelism)."""
    if values.get("deepspeed"):
        return _deepspeed(values["deepspeed"], yaml_dir)
    fsdp, legacy = values.get("fsdp_config") or {}, values.get("fsdp") or []
    if not (fsdp or legacy) or not isinstance(fsdp, Mapping):
        return None
    version = values.get("fsdp_version") or fsdp.get("fsdp_version") or fsdp.get("version") or 1
    flags = [str(f).lower() for f in (legacy if isinstance(legacy, list) else str(legacy).split())]
    offload = (fsdp.get("offload_params") or fsdp.get("fsdp_offload_params") or "offload" in flags) is True
    offloaded = ("base_weights", "trainable", "gradients", "optimizer_state") if offload else ()
    all_state = ("base_weights", "trainable", "gradients", "optimizer_state")
    if str(version) == "2":
        return Sharding("FSDP2", "fsdp_config", all_state, offloaded, per_tensor_rows=True, exact=True)
    named = fsdp.get("sharding_strategy") or fsdp.get("fsdp_sharding_strategy") \
        or next((f.upper() for f in flags if f.endswith("_shard")), "FULL_SHARD")
    strategy = str(named).upper()
    if strategy == "NO_SHARD":
        return Sharding("FSDP1 NO_SHARD", "fsdp_config", (), offloaded, exact=True)
    note = "FSDP1 pads one flat parameter per wrapped unit, figured here per tensor: within N elements per unit"
    if strategy.startswith("HYBRID"):
        note += "; HYBRID_SHARD shards within a node, so N is the devices of one node"
    return Sharding(f"FSDP1 {strategy}", "fsdp_config", all_state, offloaded, note=note)


def yaml_dir(file: str | None) -> Path | None:
    """The folder a YAML's relative DeepSpeed path may be relative to (besides the working directory)."""
    return Path(file).parent if file and Path(file).is_file() else None


def sharding_inputs(values: Mapping[str, Any], folder: Path | None) -> str:
    """The text of the DeepSpeed JSON this YAML names, so that a cached compile changes when the file does."""
    found = _deepspeed_file(values.get("deepspeed"), folder) if isinstance(values.get("deepspeed"), str) else None
    try:
        return found.read_text(encoding="utf-8", errors="replace") if found else ""
    except OSError:
        return ""


def _deepspeed_file(value: str, folder: Path | None) -> Path | None:
    path = Path(value).expanduser()
    candidates = [path] if path.is_absolute() else [Path.cwd() / path] + ([folder / path] if folder else [])
    return next((c for c in candidates if c.is_file()), None)


def _deepspeed(value: Any, yaml_dir: Path | None) -> Sharding:
    source, zero = _deepspeed_zero(value, yaml_dir)
    if zero is None:
        return Sharding("DeepSpeed", source, note=f"{source}: not found or not DeepSpeed JSON, so its ZeRO stage is unknown")
    stage, opt_dev, param_dev = zero
    if stage not in (0, 1, 2, 3):
        return Sharding("DeepSpeed", source, note=f"{source}: zero_optimization.stage {stage!r} is not 0-3")
    sharded = (("optimizer_state", "master_weights") if stage >= 1 else ()) + (("gradients",) if stage >= 2 else ()) \
        + (("base_weights", "trainable") if stage == 3 else ())
    offloaded = (("optimizer_state", "master_weights") if opt_dev in ("cpu", "nvme") else ()) \
        + (("base_weights", "trainable") if param_dev in ("cpu", "nvme") and stage == 3 else ())
    note = "restated from DeepSpeed's ZeRO partitioning (flat buffers padded once), not measured here"
    if stage == 0:
        note += "; stage 0 replicates, and its bf16/fp16 optimizer wrappers' float32 copies are not counted"
    return Sharding(f"DeepSpeed ZeRO-{stage}", source, sharded, offloaded, note=note)


def _deepspeed_zero(value: Any, yaml_dir: Path | None) -> tuple[str, tuple[Any, Any, Any] | None]:
    """(where the config came from, (stage, offload_optimizer device, offload_param device)) or None if unread."""
    try:
        if isinstance(value, Mapping):
            return "deepspeed", _zero_of(value)
        found, path = _deepspeed_file(str(value), yaml_dir), Path(str(value))
        if found:
            return str(value), _zero_of(json.loads(found.read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError):
        return str(value) if not isinstance(value, Mapping) else "deepspeed", None
    if path.parent.name == "deepspeed_configs" and path.name in AXOLOTL_DEEPSPEED:
        return f"{value} (as Axolotl ships it)", AXOLOTL_DEEPSPEED[path.name]
    return str(value), None


def _zero_of(config: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    zero = config.get("zero_optimization") or {}
    device = lambda key: (zero.get(key) or {}).get("device")  # noqa: E731
    return zero.get("stage", 0), device("offload_optimizer"), device("offload_param")


def _rows(shape: tuple[int, ...], n: int) -> tuple[int, ...]:
    return (math.ceil(shape[0] / n), *shape[1:]) if shape else shape


@dataclass(frozen=True)
class Held:
    """One base parameter as a device holds it: `sharded` bytes split by rows (None: how it shards is not
    known), plus `replicated` bytes every device keeps whole (bitsandbytes' quantisation state)."""

    rows: int | None
    sharded: int
    replicated: int = 0
    quantised: bool = False

    @property
    def bytes(self) -> int:
        return self.sharded + self.replicated


def per_device(sharding: Sharding, base: list[Held], trained: list[tuple[tuple[int, ...], str, bool]],
               optimizer: str, devices: Iterable[int], state_of: Any, size_of: Mapping[str, int]) -> list[dict[str, Any]]:
    """One entry per device count: each part's bytes on the busiest device (rank 0), and where they live.

    trained holds (shape, dtype, is_embedding) per trained tensor; state_of is memory's optimizer-state rule."""
    out = []
    for n in devices:
        def part(name: str, held: list[Held]) -> int:
            if name not in sharding.sharded:
                return sum(h.bytes for h in held)
            if sharding.per_tensor_rows:
                return sum(h.sharded // h.rows * math.ceil(h.rows / n) + h.replicated for h in held)  # type: ignore[operator]
            return sum(math.ceil(h.sharded / n) + h.replicated for h in held)

        tensors = [Held(shape[0] if shape else 1, size_of[dtype] * math.prod(shape)) for shape, dtype, _ in trained]
        entry: dict[str, Any] = {
            "devices": n,
            "base_weights": None if unmodelled_shards(sharding, base) else part("base_weights", base),
            "trainable": part("trainable", tensors), "gradients": part("gradients", tensors),
            "optimizer_state": _state(sharding, trained, optimizer, n, state_of),
        }
        if sharding.by.startswith("DeepSpeed ZeRO") and "master_weights" in sharding.sharded:
            entry["master_weights"] = sum(4 * math.ceil(math.prod(s) / n) for s, _, _ in trained)
        parts = [p for p in PARTS if p in entry]
        known = all(entry[p] is not None for p in parts)
        entry["on_device"] = sum(entry[p] for p in parts if p not in sharding.offloaded) if known else None
        entry["on_host"] = sum(entry[p] for p in parts if p in sharding.offloaded) if known else None
        out.append(entry)
    return out


def unmodelled_shards(sharding: Sharding, base: list[Held]) -> bool:
    """Whether base weights are sharded in a way not modelled: quantised weights outside FSDP2 (measured there
    with Axolotl's bitsandbytes patches), or a quantised layout FSDP2 is not known to split."""
    if "base_weights" not in sharding.sharded:
        return False
    return any(h.quantised and (h.rows is None or not sharding.per_tensor_rows or h.sharded % h.rows) for h in base)


def _state(sharding: Sharding, trained: list[tuple[tuple[int, ...], str, bool]], optimizer: str, n: int,
           state_of: Any) -> int | None:
    if "optimizer_state" not in sharding.sharded:
        return state_of(optimizer, trained)
    if optimizer not in ELEMENTWISE:
        return None  # factored (Adafactor) or quantised (bitsandbytes) state over shards: not modelled
    if sharding.per_tensor_rows:
        return state_of(optimizer, [(_rows(shape, n), dtype, emb) for shape, dtype, emb in trained])
    # ZeRO: the state of a float32 partition of each tensor (the master copy's); FSDP1: of the tensor's dtype
    zero = sharding.by.startswith("DeepSpeed")
    return state_of(optimizer, [((math.ceil(math.prod(shape) / n),), "F32" if zero else dtype, emb)
                                for shape, dtype, emb in trained])
