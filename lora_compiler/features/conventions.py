"""Target-selection conventions: what "train every linear layer" means in Axolotl, PEFT and LLaMA-Factory.

Each convention rewrites only the target keys of a parsed config (r, alpha, patterns, exclusions,
layers_to_transform and everything else stay as written), then the config is compiled as usual, so
PEFT itself decides what is wrapped. Unsloth is not offered: its selection lives in
unsloth_zoo.peft_utils.get_peft_regex plus MoE detection in unsloth/models/vision.py
(FastVisionModel.get_peft_model) and a separate path in unsloth/models/llama.py, too many moving
rules to restate faithfully here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from ..pipeline.document import Document
from ..pipeline.options import Options
from ..pipeline.session import Session
from ..results.findings import Finding, Severity

_TARGET_KEYS = ("lora_target_linear", "lora_target_modules")

Rewrite = Callable[[Document, Options, Session], tuple[dict[str, Any], list[Finding]]]


@dataclass(frozen=True)
class Convention:
    name: str
    summary: str  # one line for legends: the key it stands for and its rule
    rewrite: Rewrite  # (document, options, session) -> (new values, notes)

    def apply(self, doc: Document, options: Options, session: Session) -> tuple[Document, list[Finding]]:
        """The document with this convention's target keys; notes say what it replaced."""
        values, notes = self.rewrite(doc, options, session)
        return replace(doc, values=values), notes


def _axolotl(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """Axolotl: lora_target_linear: true, unioned with lora_target_modules as written (targets.py)."""
    return {**doc.values, "lora_target_linear": True}, []


def _peft_all_linear(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """PEFT's own shorthand, so PEFT's exact semantics: tuners_utils._maybe_include_all_linear_layers
    (v0.20) takes every torch.nn.Linear and transformers Conv1D by full name, anywhere in the model
    (vision towers included), minus the output embedding found by identity; on MoE models whose experts
    transformers 5 fuses, transformers_weight_conversion._resolve_string_target_modules also adds the
    experts and the router as parameter targets."""
    return _replace_targets(doc, "all-linear", "peft-all-linear")


def _llamafactory_all(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """LLaMA-Factory `lora_target: all` (model/adapter.py::_setup_lora_tuning, default finetuning args)."""
    model = _skeleton(doc, options, session)
    if model is None:  # compile will fail at the same step and report why
        return _replace_targets(doc, [], "llamafactory-all")
    values, notes = _replace_targets(doc, llamafactory_targets(model), "llamafactory-all")
    if not values["lora_target_modules"]:
        notes.append(doc.finding(
            "convention-empty", "llamafactory-all finds no module whose class name contains 'Linear' outside the "
            "output layer, vision tower and projector", ("adapter",), Severity.INFO))
    return values, notes


def llamafactory_targets(model: Any) -> list[str]:
    """LLaMA-Factory 0.9.5's names for `lora_target: all` with its default freeze flags: misc.py's
    find_all_linear_modules, then visual.py's patch_target_modules (export/llamafactory.py restates both)."""
    from ..export.llamafactory import all_linear, patch_targets

    return sorted(patch_targets(model, all_linear(model)))


def _replace_targets(doc: Document, targets: list[str] | str, convention: str) -> tuple[dict[str, Any], list[Finding]]:
    values = {k: v for k, v in doc.values.items() if k not in _TARGET_KEYS}
    values["lora_target_modules"] = targets
    written = doc.values.get("lora_target_modules")
    notes = []
    if written:
        notes.append(doc.finding(
            "convention-replaced", f"{convention} replaces lora_target_modules {written!r}: it selects targets by its "
            "own rule and cannot add names to it", ("lora_target_modules",), Severity.INFO))
    return values, notes


def _skeleton(doc: Document, options: Options, session: Session) -> Any:
    """The meta model compile builds for this document (shared through `session`), or None."""
    from ..pipeline.front import front

    start = front(doc, options, session)
    return start.skeleton.model if start.skeleton is not None else None


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention("axolotl", "lora_target_linear: Linear-like classes, minus lm_head by name", _axolotl),
        Convention("peft-all-linear", "all-linear: nn.Linear and Conv1D, minus the output layer", _peft_all_linear),
        Convention("llamafactory-all", "lora_target: all; vision tower and projector frozen", _llamafactory_all),
    )
}
