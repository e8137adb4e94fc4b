"""What rules see: the document and spec always; the skeleton, target plan and report when built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..devices import Hardware
from ..pipeline.document import Document
from ..pipeline.spec import AdapterSpec
from ..profiles import Profile, Selection


@dataclass
class Context:
    doc: Document
    spec: AdapterSpec
    selection: Selection  # the Axolotl release whose semantics apply, and how it was chosen
    serve: str | None = None  # serving engine to check, resolved: "vllm@0.33.0" (serving.resolve)
    allow_remote_code: bool = False
    coverage_threshold: float = 0.5  # share of decoder layers to adapt ([tool.lora-compiler] coverage_threshold)
    devices: tuple[int, ...] = (2, 4, 8)  # device counts for per-device memory (--devices, policy devices)
    gpu: Hardware | None = None  # the declared training device (--gpu, policy gpu): None, hardware checks skip
    skeleton: Any = None  # skeleton.Skeleton
    plan: Any = None  # targets.TargetPlan
    report: Any = None  # report.Report
    lora_config: Any = None  # peft.LoraConfig built for the report
    adapter_config: dict[str, Any] | None = None  # lora_config in PEFT's on-disk form
    # modules_to_save in the adapter_config.json training saves (PEFT adds a classification model's heads)
    saved_modules_to_save: tuple[str, ...] | None = None
    freezing: Any = None  # freezing.Freezing: Axolotl's post-load freezing, when the YAML asks for it
    _names: list[str] | None = field(default=None, repr=False)
    _classes: dict[str, str] | None = field(default=None, repr=False)
    _serve_plan: Any = field(default=None, repr=False)  # serving.Plan, shared by the two serve rules

    @property
    def profile(self) -> Profile:
        return self.selection.profile

    @property
    def targets_key(self) -> str:
        """The YAML key a finding about what the targets reached points at."""
        return "lora_target_linear" if self.spec.lora_target_linear else "lora_target_modules"

    @property
    def module_names(self) -> list[str]:
        """Every module name of the skeleton (computed once: rules share it)."""
        if self._names is None:
            self._names = [n for n, _ in self.skeleton.model.named_modules() if n]
        return self._names

    @property
    def module_classes(self) -> dict[str, str]:
        """Module path -> class name of the skeleton (for model_facts.tower)."""
        if self._classes is None:
            from ..model_facts import module_classes

            self._classes = module_classes(self.skeleton.model)
        return self._classes
