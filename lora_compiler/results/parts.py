"""The parts of a Report, as frozen values: what PEFT wrapped, what each target reached, what training holds.

The stages build them (pipeline/inject.py, memory.py, sharding.py, adapter_file.py, freezing.py and
results/coverage.py); rules, renderers, exporters and serving checks read their attributes. Field order is
the key order of schemas/targets.schema.json, which results/serialize.py writes and reads back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

OMITTED_IF_NONE = {"omitted_if_none": True}  # a key targets.json leaves out, rather than null, when unknown


@overload
def frozen_names(value: str) -> str: ...  # type: ignore[overload-overlap]  # a str is also a Sequence[str]


@overload
def frozen_names(value: Sequence[str]) -> tuple[str, ...]: ...


@overload
def frozen_names(value: None) -> None: ...
def frozen_names(value: Sequence[str] | str | None) -> tuple[str, ...] | str | None:
    """Target names as a frozen value holds them: one regex string, a tuple, or None."""
    return value if value is None or isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class WrappedModule:
    """One module (or fused expert parameter) PEFT wrapped with LoRA."""

    name: str
    type: str
    kind: str  # module | parameter
    in_features: int | None
    out_features: int | None
    r: int
    alpha: float
    params: int
    num_experts: int | None = None

    @property
    def suffix(self) -> str:
        """The name it is targeted by: its last component (for parameters, the parameter)."""
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class ConfigRewrite:
    """One LoraConfig field PEFT rewrote while injecting: Axolotl's value, the trained adapter's saved value, why."""

    field: str
    built: Any  # as adapter_config.json would hold it (sets as sorted lists)
    saved: Any
    reason: str


@dataclass(frozen=True)
class SavedModule:
    """A module PEFT trains in full (modules_to_save) or by token rows (trainable_tokens)."""

    name: str
    type: str
    params: int


@dataclass(frozen=True)
class Candidate:
    """A Linear-like or Conv1D module or fused expert parameter of the skeleton, wrapped or not."""

    name: str
    type: str
    kind: str  # module | parameter
    in_features: int | None
    out_features: int | None
    num_experts: int | None
    excluded: bool  # matched by lora_exclude_modules


@dataclass(frozen=True)
class CoverageEntry:
    """What one target entry (a lora_target_modules item or regex, a linear name, a parameter) reached."""

    key: str  # lora_target_modules | lora_target_linear | lora_target_parameters
    entry: str
    index: int | None  # the item's index in its YAML list; None for a regex or a linear name
    reached: int
    blocks: Mapping[str, int]  # wrapped modules per kind of block, sorted by kind
    decoder_layers: int
    decoder_layers_with_name: int | None  # what it could reach; None for a regex or a parameter


@dataclass(frozen=True)
class Coverage:
    entries: tuple[CoverageEntry, ...]
    decoder_layers: int | None
    adapted_decoder_layers: int


@dataclass(frozen=True)
class ShardingRecord:
    """How the YAML shards training state (pipeline/sharding.py's Sharding, as outputs record it)."""

    by: str
    source: str
    sharded: tuple[str, ...]
    offloaded: tuple[str, ...]
    exact: bool
    note: str | None


@dataclass(frozen=True)
class DeviceRow:
    """Bytes on the busiest device (rank 0) for one device count; None: not modelled."""

    devices: int
    base_weights: int | None
    trainable: int
    gradients: int
    optimizer_state: int | None
    master_weights: int | None = field(default=None, kw_only=True, metadata=OMITTED_IF_NONE)  # DeepSpeed's master
    on_device: int | None
    on_host: int | None


@dataclass(frozen=True)
class StaticMemory:
    """What training holds before any activation, per run, and per device where the YAML shards."""

    label: str
    base_weights: int
    trainable: int
    gradients: int
    optimizer: str
    optimizer_state: int | None
    total: int | None
    quantization: Mapping[str, Any] | None  # Axolotl's bitsandbytes settings (bnb_config_kwargs included)
    sharding: ShardingRecord | None
    per_device: tuple[DeviceRow, ...] | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class AdapterFile:
    """adapter_model.safetensors' size; bytes None with unknown_because when the YAML cannot fix it."""

    bytes: int | None
    tensors: int | None = field(default=None, metadata=OMITTED_IF_NONE)
    data_bytes: Mapping[str, int] | None = field(default=None, metadata=OMITTED_IF_NONE)  # per dtype, sorted
    model_dtype: str | None = field(default=None, metadata=OMITTED_IF_NONE)
    unknown_because: str | None = field(default=None, metadata=OMITTED_IF_NONE)


@dataclass(frozen=True)
class FreezingGroup:
    group: str  # lora, modules_to_save, trainable_tokens or base; " in tower" inside a tower
    peft_trainable: int
    trained: int
    with_gradients: int


@dataclass(frozen=True)
class FreezingRecord:
    """Axolotl's post-load freezing as the report records it (pipeline/freezing.py computes it)."""

    unfrozen_parameters: tuple[str, ...] | None
    freeze_mm_modules: bool
    with_gradients: int
    groups: tuple[FreezingGroup, ...]
    unmatched_patterns: tuple[str, ...]
    errors: tuple[str, ...]


@dataclass(frozen=True)
class ReleasedWith:
    transformers: str
    peft: str


@dataclass(frozen=True)
class AxolotlRecord:
    """The Axolotl release whose semantics applied (profiles.Selection.record()) and how it was chosen."""

    version: str
    chosen_by: str
    installed_axolotl: str | None
    released_with: ReleasedWith
