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
- DeepSpeed ZeRO partitions the optimizer state (stage 1), gradients (2) and parameters (3, ceil(numel / N) of
  each), and steps a float32 master copy of the trainable parameters in one flat partition (zero_partition).
  Optimizer state, master and stage-3 parameter partitions measured (scripts/deepspeed_shards.py, DeepSpeed
  0.18.9 on CPU ranks); gradient partitions restated.
- Offloading (FSDP offload_params; DeepSpeed offload_optimizer / offload_param to cpu or nvme) moves those
  parts to host memory: they are counted `on_host`, not `on_device`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import inputs
from ..results.parts import DeviceRow, ShardingRecord

ELEMENTWISE = ("adamw_torch", "adamw_torch_fused", "adamw_hf", "sgd")  # state shaped like the (sharded) tensor
# The files Axolotl ships in deepspeed_configs/ (axolotl-ai-cloud/axolotl at 067b021c8), used when a YAML names
# one by its repository path and no such file is at hand: name -> (stage, offload_optimizer, offload_param,
# bf16.enabled, fp16.enabled).
AXOLOTL_DEEPSPEED = {
    "zero1.json": (1, None, None, "auto", "auto"),
    "zero1_torch_compile.json": (1, None, None, "auto", "auto"),
    "zero2.json": (2, "cpu", None, "auto", "auto"),
    "zero2_torch_compile.json": (2, "cpu", None, "auto", "auto"),
    "zero3.json": (3, None, None, "auto", "auto"),
    "zero3_bf16.json": (3, None, None, True, None),
    "zero3_bf16_cpuoffload_all.json": (3, "cpu", "cpu", True, None),
    "zero3_bf16_cpuoffload_params.json": (3, None, "cpu", True, None),
}


@dataclass(frozen=True)
class Sharding:
    by: str  # "FSDP2", "FSDP1 FULL_SHARD", "DeepSpeed ZeRO-2"
    source: str  # the YAML key or the JSON file the plan was read from
    sharded: tuple[str, ...] = ()
    offloaded: tuple[str, ...] = ()
    per_tensor_rows: bool = False  # FSDP2's dim-0 shards (else ceil(numel / N) partitions)
    cast: int | None = None  # bytes per element the engine casts every float parameter to (DeepSpeed bf16/fp16)
    exact: bool = False
    note: str | None = None  # why a figure is approximate or missing

    def record(self) -> ShardingRecord:
        """What the report says of it."""
        return ShardingRecord(self.by, self.source, self.sharded, self.offloaded, self.exact, self.note)


def plan(values: Mapping[str, Any], yaml_dir: Path | None) -> Sharding | None:
    """The sharding this YAML asks for, or None for a run on one device (or plain data parallelism)."""
    if values.get("deepspeed"):
        return _deepspeed(values["deepspeed"], yaml_dir, values)
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
    named = (
        fsdp.get("sharding_strategy")
        or fsdp.get("fsdp_sharding_strategy")
        or next((f.upper() for f in flags if f.endswith("_shard")), "FULL_SHARD")
    )
    strategy = str(named).upper()
    if strategy == "NO_SHARD":
        return Sharding("FSDP1 NO_SHARD", "fsdp_config", (), offloaded, exact=True)
    note = "FSDP1 pads one flat parameter per wrapped unit, figured here per tensor: within N elements per unit"
    if strategy.startswith("HYBRID"):
        note += "; HYBRID_SHARD shards within a node, so N is the devices of one node"
    return Sharding(f"FSDP1 {strategy}", "fsdp_config", all_state, offloaded, note=note)


def yaml_dir(file: str | None) -> Path | None:
    """The folder a YAML's relative DeepSpeed path may be relative to (besides the working directory)."""
    return Path(file).parent if file and inputs.is_file(file) else None


def _deepspeed_file(value: str, folder: Path | None) -> Path | None:
    path = inputs.expanduser(value)
    candidates = [path] if path.is_absolute() else [Path(inputs.cwd()) / path] + ([folder / path] if folder else [])
    return next((c for c in candidates if inputs.is_file(c)), None)


def _deepspeed(value: Any, yaml_dir: Path | None, values: Mapping[str, Any]) -> Sharding:
    source, zero = _deepspeed_zero(value, yaml_dir)
    if zero is None:
        return Sharding(
            "DeepSpeed", source, note=f"{source}: not found or not DeepSpeed JSON, so its ZeRO stage is unknown"
        )
    stage, opt_dev, param_dev, bf16, fp16 = zero
    # "auto" is filled from the training arguments, i.e. the YAML's bf16 / fp16 (transformers' HfTrainerDeepSpeedConfig)
    half = any(
        flag is True or (flag == "auto" and values.get(key) in (True, "auto"))
        for flag, key in ((bf16, "bf16"), (fp16, "fp16"))
    )
    if stage not in (0, 1, 2, 3):
        return Sharding("DeepSpeed", source, note=f"{source}: zero_optimization.stage {stage!r} is not 0-3")
    sharded = (
        (("optimizer_state", "master_weights") if stage >= 1 else ())
        + (("gradients",) if stage >= 2 else ())
        + (("base_weights", "trainable") if stage == 3 else ())
    )
    offloaded = (("optimizer_state", "master_weights") if opt_dev in ("cpu", "nvme") else ()) + (
        ("base_weights", "trainable") if param_dev in ("cpu", "nvme") and stage == 3 else ()
    )
    note = (
        "optimizer state, float32 master and stage-3 parameter partitions measured on CPU ranks; gradient "
        "partitions restated"
    )
    if half:
        note += "; the engine casts every float parameter to 16 bits (module.bfloat16() / half()), adapters too"
    if stage == 0:
        note += "; stage 0 replicates, and its bf16/fp16 optimizer wrappers' float32 copies are not counted"
    return Sharding(f"DeepSpeed ZeRO-{stage}", source, sharded, offloaded, note=note, cast=2 if half else None)


def _deepspeed_zero(value: Any, yaml_dir: Path | None) -> tuple[str, tuple[Any, ...] | None]:
    """(where the config came from, (stage, offload_optimizer device, offload_param device, bf16.enabled,
    fp16.enabled)), or None if unread."""
    try:
        if isinstance(value, Mapping):
            return "deepspeed", _zero_of(value)
        found, path = _deepspeed_file(str(value), yaml_dir), Path(str(value))
        if found:
            return str(value), _zero_of(json.loads(inputs.content(found, found.read_bytes()).decode("utf-8")))
    except (OSError, ValueError, AttributeError):
        return str(value) if not isinstance(value, Mapping) else "deepspeed", None
    if path.parent.name == "deepspeed_configs" and path.name in AXOLOTL_DEEPSPEED:
        return f"{value} (as Axolotl ships it)", AXOLOTL_DEEPSPEED[path.name]
    return str(value), None


def _zero_of(config: Mapping[str, Any]) -> tuple[Any, ...]:
    zero = config.get("zero_optimization") or {}
    device = lambda key: (zero.get(key) or {}).get("device")  # noqa: E731
    enabled = lambda key: (config.get(key) or {}).get("enabled")  # noqa: E731
    return zero.get("stage", 0), device("offload_optimizer"), device("offload_param"), enabled("bf16"), enabled("fp16")


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
    elements: int | None = None  # of the sharded part, for flat partitions (ZeRO-3, FSDP1)

    @property
    def bytes(self) -> int:
        return self.sharded + self.replicated


def per_device(
    sharding: Sharding,
    base: list[Held],
    trained: list[tuple[tuple[int, ...], str, bool]],
    optimizer: str,
    devices: Iterable[int],
    state_of: Any,
    size_of: Mapping[str, int],
) -> tuple[DeviceRow, ...]:
    """One entry per device count: each part's bytes on the busiest device (rank 0), and where they live.

    trained holds (shape, dtype, is_embedding) per trained tensor; state_of is memory's optimizer-state rule."""
    out = []
    base = [
        replace(h, sharded=sharding.cast * h.elements) if sharding.cast and not h.quantised and h.elements else h
        for h in base
    ]
    for n in devices:

        def part(name: str, held: list[Held]) -> int:
            if name not in sharding.sharded:
                return sum(h.bytes for h in held)
            return sum(_shard(h, h.rows if sharding.per_tensor_rows else h.elements, n) for h in held)

        tensors = [
            Held(
                shape[0] if shape else 1,
                (sharding.cast or size_of[dtype]) * math.prod(shape),
                elements=math.prod(shape),
            )
            for shape, dtype, _ in trained
        ]
        stage = _stage(sharding)
        trainable, gradients = part("trainable", tensors), part("gradients", tensors)
        entry: dict[str, int | None] = {
            "base_weights": None if unmodelled_shards(sharding, base) else part("base_weights", base),
            "trainable": trainable,
            "gradients": gradients,
            "optimizer_state": _state(sharding, trained, optimizer, n, state_of),
        }
        if stage and "master_weights" in sharding.sharded:
            entry["master_weights"] = 4 * zero_partition(stage, trained, n)
        sizes = {p: b for p, b in entry.items() if b is not None}
        known = len(sizes) == len(entry)
        out.append(
            DeviceRow(
                n,
                entry["base_weights"],
                trainable,
                gradients,
                entry["optimizer_state"],
                master_weights=entry.get("master_weights"),
                on_device=sum(b for p, b in sizes.items() if p not in sharding.offloaded) if known else None,
                on_host=sum(b for p, b in sizes.items() if p in sharding.offloaded) if known else None,
            )
        )
    return tuple(out)


def _shard(held: Held, units: int | None, n: int) -> int:
    """One device's bytes of a parameter split into `units` rows or elements across n devices (plus what every
    device keeps whole). Callers leave out parameters whose split is unknown (unmodelled_shards)."""
    assert units is not None, "a sharded parameter of unknown layout"
    return held.sharded // units * math.ceil(units / n) + held.replicated


def unmodelled_shards(sharding: Sharding, base: list[Held]) -> bool:
    """Whether base weights are sharded in a way not modelled: quantised weights outside FSDP2 (measured there
    with Axolotl's bitsandbytes patches), or a quantised layout FSDP2 is not known to split."""
    if "base_weights" not in sharding.sharded:
        return False
    return any(h.quantised and (h.rows is None or not sharding.per_tensor_rows or h.sharded % h.rows) for h in base)


def zero_partition(stage: int, trained: list[tuple[tuple[int, ...], str, bool]], n: int) -> int:
    """Elements of one rank's float32 master partition. Stages 1-2 flatten the trainable tensors into one buffer
    padded to a multiple of 2N (stage_1_and_2.py nccl_start_alignment_factor); stage 3 concatenates each
    parameter's own partition, ceil(numel / N). Measured (scripts/deepspeed_shards.py)."""
    if stage == 3:
        return sum(math.ceil(math.prod(shape) / n) for shape, _, _ in trained)
    total = sum(math.prod(shape) for shape, _, _ in trained)
    return math.ceil(total / (2 * n)) * 2 * n // n


def _stage(sharding: Sharding) -> int | None:
    return int(sharding.by.rsplit("-", 1)[1]) if sharding.by.startswith("DeepSpeed ZeRO-") else None


def _state(
    sharding: Sharding, trained: list[tuple[tuple[int, ...], str, bool]], optimizer: str, n: int, state_of: Any
) -> int | None:
    if "optimizer_state" not in sharding.sharded:
        return state_of(optimizer, trained)
    if optimizer not in ELEMENTWISE:
        return None  # factored (Adafactor) or quantised (bitsandbytes) state over shards: not modelled
    if sharding.per_tensor_rows:
        return state_of(optimizer, [(_rows(shape, n), dtype, emb) for shape, dtype, emb in trained])
    stage = _stage(sharding)
    if stage is not None:  # ZeRO: the optimizer steps one flat float32 partition
        return state_of(optimizer, [((zero_partition(stage, trained, n),), "F32", False)])
    # FSDP1: one flat parameter per wrapped unit, figured per tensor in its dtype
    return state_of(optimizer, [((math.ceil(math.prod(shape) / n),), dtype, emb) for shape, dtype, emb in trained])
