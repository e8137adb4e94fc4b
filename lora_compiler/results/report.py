"""The Report: everything compile learned, in the shape of schemas/targets.schema.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..profiles import installed
from .findings import Finding

SCHEMA_VERSION = "1.3"  # 1.1: the axolotl profile record; 1.2: adapter_file, coverage; 1.3: sharding, per_device


def versions() -> dict[str, str | None]:
    """Versions that decide the target set (PEFT and transformers change what gets wrapped)."""
    return {dist.replace("-", "_"): installed(dist) for dist in ("lora-compiler", "torch", "transformers", "peft")}


@dataclass
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
    target_modules: list[str] | str
    target_parameters: list[str] | str
    linear_names: list[str] | None
    effective_target_modules: list[str] | str | None
    effective_target_parameters: list[str] | None
    modules: list[dict[str, Any]]
    modules_to_save: list[dict[str, Any]]
    trainable_tokens: list[dict[str, Any]]
    trainable_params: int  # what Axolotl trains, after its post-load freezing
    all_params: int
    peft_trainable_params: int = 0  # what PEFT leaves trainable (get_peft_model), before that freezing
    freezing: dict[str, Any] | None = None  # the post-load freezing, when the YAML asks for it
    candidates: list[dict[str, Any]] = field(default_factory=list)
    findings: tuple[Finding, ...] = ()  # sorted, after the project policy
    environment: dict[str, str | None] = field(default_factory=versions)
    axolotl: dict[str, Any] | None = None  # profiles.Selection.record(): the release whose semantics applied
    adapter_file: dict[str, Any] | None = None  # adapter_model.safetensors' size (pipeline/adapter_file.py)
    coverage: dict[str, Any] | None = None  # what each target entry reached (results/coverage.py)
    static_memory: dict[str, Any] | None = None  # bytes held before activations (pipeline/memory.py)

    @property
    def trainable_percent(self) -> float:
        """As PEFT's print_trainable_parameters: trainable over all parameters, adapters included."""
        return round(100.0 * self.trainable_params / self.all_params, 6) if self.all_params else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "file": self.file,
            "model": asdict(self.model),
            "environment": dict(self.environment),
            "axolotl": self.axolotl,
            "adapter": self.adapter,
            "target_modules": self.target_modules,
            "target_parameters": self.target_parameters,
            "linear_names": self.linear_names,
            "effective_target_modules": self.effective_target_modules,
            "effective_target_parameters": self.effective_target_parameters,
            "modules": self.modules,
            "candidates": self.candidates,
            "modules_to_save": self.modules_to_save,
            "trainable_tokens": self.trainable_tokens,
            "trainable_params": self.trainable_params,
            "peft_trainable_params": self.peft_trainable_params,
            "freezing": self.freezing,
            "adapter_file": self.adapter_file,
            "coverage": self.coverage,
            "static_memory": self.static_memory,
            "all_params": self.all_params,
            "trainable_percent": self.trainable_percent,
            "findings": [f.to_dict() for f in self.findings],
        }


def suffix_of(module: dict[str, Any]) -> str:
    """The name a module is targeted by: its last component (for parameters, the parameter)."""
    return module["name"].rsplit(".", 1)[-1]


def suffix_table(modules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per module suffix: how many modules, which shapes, ranks and LoRA parameters."""
    rows: dict[str, dict[str, Any]] = {}
    for m in modules:
        row = rows.setdefault(
            suffix_of(m), {"suffix": suffix_of(m), "count": 0, "shapes": set(), "ranks": set(), "params": 0}
        )
        row["count"] += 1
        shape = f"{m['in_features']}x{m['out_features']}"
        row["shapes"].add(shape if not m.get("num_experts") else f"{m['num_experts']}x{shape}")
        row["ranks"].add(f"r={m['r']}/a={m['alpha']:g}")
        row["params"] += m["params"]
    return [{**r, "shapes": sorted(r["shapes"]), "ranks": sorted(r["ranks"])} for _, r in sorted(rows.items())]
