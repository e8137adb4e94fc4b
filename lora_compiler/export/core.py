"""What every exporter shares: the compile it reads (Subject), what it drafts (Draft), who it is (Trainer).

An exporter restates one trainer's config handling: which of its native keys express the compiled
LoraConfig, and which PEFT keywords (or, for torchtune, which wrapped modules) the trainer derives
from those keys. The draft is then judged by applying that derivation to the same meta skeleton
(check.py), so "faithful" is measured, not assumed; the trainer's own code checks the restatement
(scripts/trainer_check.py, tests/trainer_facts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..pipeline.document import Document
from ..pipeline.fields import FIELDS, targets_key
from ..results.findings import Finding
from ..results.parts import WrappedModule
from ..results.report import Report
from ..rulebook.export import EXPORT_LOSSY, EXPORT_REWRITTEN, EXPORT_UNEXPRESSIBLE
from .convention import Convention

if TYPE_CHECKING:
    from ..rulebook.registry import Rule

_YAML_KEY = {f.name: f.key for f in FIELDS if f.key}


@dataclass(frozen=True)
class Subject:
    """A finished compile, as exporters read it: the YAML, the LoraConfig Axolotl builds, and what PEFT wrapped."""

    doc: Document
    spec: Any  # pipeline.spec.AdapterSpec
    config: dict[str, Any]  # the LoraConfig in PEFT's on-disk form, sets sorted (adapter_config.json)
    report: Report
    model: Any  # the meta skeleton PEFT was applied to

    @property
    def model_type(self) -> str:
        return self.report.model.model_type

    @property
    def wrapped(self) -> tuple[WrappedModule, ...]:
        """Every LoRA layer PEFT made, modules and fused parameters, as the report lists them."""
        return self.report.modules

    def module_names(self) -> list[str]:
        return sorted(m.name for m in self.wrapped if m.kind == "module")

    def quantized(self) -> int | None:
        """The bits Axolotl loads the base model in (memory.quantization: 4 for qlora with load_in_4bit, 8 for
        lora with load_in_8bit), else None: other combinations load unquantised."""
        from ..pipeline.loading import quantization

        quant = quantization(self.doc.values, self.model_type)
        return quant["bits"] if quant else None

    def finding(self, rule: Rule, message: str, field_or_key: str | None, hint: str | None = None) -> Finding:
        """A finding at the YAML key behind a LoraConfig field (or a YAML key given as is)."""
        key = _YAML_KEY.get(field_or_key or "", field_or_key)
        if key:
            key = targets_key(key, self.spec.lora_target_modules, self.spec.lora_target_linear)
        path: tuple[str, ...] = tuple(key.split(".")) if key else ("adapter",)
        return rule.at(self.doc, message, path, hint=hint)


@dataclass
class Draft:
    """One trainer's config for a compile, before it is judged.

    `fields` are the trainer's own keys in its own order. `peft` is the LoraConfig keywords the trainer
    passes PEFT for them; a trainer that does not use PEFT (torchtune) gives `wrapped` instead: the
    Hugging Face module names its LoRA builder wraps, each with its (r, alpha, use_rslora). Findings say
    what the fields could not carry: an error means no faithful form exists and nothing is written.
    """

    fields: dict[str, Any]
    peft: dict[str, Any] | None = None
    wrapped: dict[str, tuple[int, float, bool]] | None = None
    findings: list[Finding] = field(default_factory=list)

    def refuse(self, subject: Subject, what: str, why: str, field_name: str | None, hint: str) -> None:
        self.findings.append(subject.finding(EXPORT_UNEXPRESSIBLE, f"{what}: {why}", field_name, hint))

    def lossy(self, subject: Subject, message: str, field_name: str | None, hint: str | None = None) -> None:
        self.findings.append(subject.finding(EXPORT_LOSSY, message, field_name, hint))

    def rewritten(self, subject: Subject, message: str, field_name: str | None) -> None:
        self.findings.append(subject.finding(EXPORT_REWRITTEN, message, field_name))


@dataclass(frozen=True)
class Trainer:
    """One export target, declared once in its module: its name for --to, the release whose source it restates,
    how it drafts and renders, its target convention for `diff --convention`, and the venv that proves it."""

    name: str
    label: str  # "LLaMA-Factory"
    command: str  # what reads the file: "llamafactory-cli train"
    package: str  # the distribution on the package index
    version: str | None  # the release restated and proved (None: the installed one, as for PEFT itself)
    source: str  # the files of that release the rules were read from
    stem: str  # output file name without the extension
    formats: tuple[str, ...]  # the first is the default
    draft: Callable[[Subject], Draft]
    python: Callable[[Draft], str] | None = None  # the --format python rendering, where the trainer has one
    convention: Convention | None = None  # its default target selection, for `diff --convention`
    # what its proof venv installs besides PACKAGE==VERSION (scripts/trainer_venvs.sh); None: no proof venv
    proof: tuple[str, ...] | None = None
    proved_in_ci: bool = False  # .ci/run runs its proof (scripts/trainer_exports.sh --check --ci); others by hand

    @property
    def title(self) -> str:
        """ "LLaMA-Factory 0.9.5 (llamafactory-cli train)": what the exported file's header names."""
        return f"{self.label} {self.version} ({self.command})" if self.version else f"{self.label} {self.command}"

    @property
    def requirements(self) -> tuple[str, ...]:
        """The pip requirements of its proof venv (empty: it has none)."""
        return () if self.proof is None else (f"{self.package}=={self.version}", *self.proof)

    def filename(self, fmt: str) -> str:
        return f"{self.stem}.{ {'yaml': 'yaml', 'json': 'json', 'python': 'py'}[fmt] }"
