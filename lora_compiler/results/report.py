"""The Report: everything compile learned, as frozen values; to_dict/from_dict are its targets.json form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..profiles import installed
from . import serialize as js
from .findings import Finding
from .parts import (
    AdapterFile,
    AxolotlRecord,
    Candidate,
    ConfigRewrite,
    Coverage,
    FreezingRecord,
    SavedModule,
    StaticMemory,
    WrappedModule,
)

# 1.1: the axolotl profile record; 1.2: adapter_file, coverage; 1.3: sharding, per_device; 1.4: peft_rewrites
SCHEMA_VERSION = "1.4"


def versions() -> dict[str, str | None]:
    """Versions that decide the target set (PEFT and transformers change what gets wrapped)."""
    return {dist.replace("-", "_"): installed(dist) for dist in ("lora-compiler", "torch", "transformers", "peft")}


@dataclass(frozen=True)
class ModelInfo:
    base_model: str | None
    model_type: str
    architecture: str
    loader: str
    config_source: str
    is_multimodal: bool
    num_hidden_layers: int | None
    num_parameters: int


@dataclass(frozen=True)
class Report:
    """What PEFT wrapped on the skeleton; built once, findings attached once (compiler.compile_document)."""

    file: str | None
    model: ModelInfo
    adapter: str | None
    target_modules: tuple[str, ...] | str
    target_parameters: tuple[str, ...] | str
    linear_names: tuple[str, ...] | None
    effective_target_modules: tuple[str, ...] | str | None
    effective_target_parameters: tuple[str, ...] | None
    modules: tuple[WrappedModule, ...]
    modules_to_save: tuple[SavedModule, ...]
    trainable_tokens: tuple[SavedModule, ...]
    trainable_params: int  # what Axolotl trains, after its post-load freezing
    all_params: int
    peft_trainable_params: int = 0  # what PEFT leaves trainable (get_peft_model), before that freezing
    freezing: FreezingRecord | None = None  # the post-load freezing, when the YAML asks for it
    candidates: tuple[Candidate, ...] = ()
    findings: tuple[Finding, ...] = ()  # sorted, after the project policy
    environment: Mapping[str, str | None] = field(default_factory=versions)
    axolotl: AxolotlRecord | None = None  # the release whose semantics applied
    adapter_file: AdapterFile | None = None  # adapter_model.safetensors' size (pipeline/adapter_file.py)
    coverage: Coverage | None = None  # what each target entry reached (results/coverage.py)
    static_memory: StaticMemory | None = None  # bytes held before activations (pipeline/memory.py)
    peft_rewrites: tuple[ConfigRewrite, ...] = ()  # what injection changed in the LoraConfig (peftcfg.rewrites)

    @property
    def trainable_percent(self) -> float:
        """As PEFT's print_trainable_parameters: trainable over all parameters, adapters included."""
        return round(100.0 * self.trainable_params / self.all_params, 6) if self.all_params else 0.0

    def to_dict(self) -> dict[str, Any]:
        """targets.json (schemas/targets.schema.json), keys in its order."""
        return {
            "schema_version": SCHEMA_VERSION,
            "file": self.file,
            "model": js.flat(self.model),
            "environment": dict(self.environment),
            "axolotl": js.flat(self.axolotl) if self.axolotl else None,
            "adapter": self.adapter,
            "target_modules": js.names(self.target_modules),
            "target_parameters": js.names(self.target_parameters),
            "linear_names": js.names(self.linear_names),
            "effective_target_modules": js.names(self.effective_target_modules),
            "effective_target_parameters": js.names(self.effective_target_parameters),
            "peft_rewrites": [js.flat(r) for r in self.peft_rewrites],
            "modules": [js.flat(m) for m in self.modules],
            "candidates": [js.flat(c) for c in self.candidates],
            "modules_to_save": [js.flat(m) for m in self.modules_to_save],
            "trainable_tokens": [js.flat(m) for m in self.trainable_tokens],
            "trainable_params": self.trainable_params,
            "peft_trainable_params": self.peft_trainable_params,
            "freezing": js.flat(self.freezing) if self.freezing else None,
            "adapter_file": js.flat(self.adapter_file) if self.adapter_file else None,
            "coverage": js.flat(self.coverage) if self.coverage else None,
            "static_memory": js.flat(self.static_memory) if self.static_memory else None,
            "all_params": self.all_params,
            "trainable_percent": self.trainable_percent,
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Report:
        """The Report a targets.json holds (to_dict's inverse); parts an older schema lacks are empty.

        Raises serialize.ReportFormatError for anything else."""
        if not isinstance(data, Mapping):
            raise js.ReportFormatError(f"a targets report is an object, not {type(data).__name__}")
        # A report without versions has none: the default would be the versions of the run reading it.
        unrecorded: dict[str, Any] = {"environment": {}} if data.get("environment") is None else {}
        return js.build(cls, data, **unrecorded)


def suffix_table(modules: tuple[WrappedModule, ...]) -> list[dict[str, Any]]:
    """One row per module suffix: how many modules, which shapes, ranks and LoRA parameters."""
    rows: dict[str, dict[str, Any]] = {}
    for m in modules:
        row = rows.setdefault(m.suffix, {"suffix": m.suffix, "count": 0, "shapes": set(), "ranks": set(), "params": 0})
        row["count"] += 1
        shape = f"{m.in_features}x{m.out_features}"
        row["shapes"].add(shape if not m.num_experts else f"{m.num_experts}x{shape}")
        row["ranks"].add(f"r={m.r}/a={m.alpha:g}")
        row["params"] += m.params
    return [{**r, "shapes": sorted(r["shapes"]), "ranks": sorted(r["ranks"])} for _, r in sorted(rows.items())]
