"""Target-selection conventions: what each tool selects by default, restated as targets for the same model.

Each convention rewrites only the target keys of a parsed config (r, alpha, patterns, exclusions,
layers_to_transform and everything else stay as written), then the config is compiled as usual, so
PEFT itself decides what is wrapped. The trainers' rules live beside their exporters (lora_compiler/export).
Restated only where the trainer's code can be restated on the skeleton alone: Unsloth's default list is
offered for the models of its fast llama path (llama.py); on the others FastLanguageModel narrows the list
by unsloth_zoo.peft_utils.get_peft_regex's layer-name filters and MoE detection, not restated. ms-swift's
all-linear is offered for text models; on a multimodal model it follows swift's own model_arch registry
(swift/model/model_arch.py), not restated. torchtune's is offered for models it has a LoRA builder for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..engine.options import Options
from ..engine.session import Session
from ..pipeline.document import Document
from ..results.findings import Finding
from ..rules.pipeline import CONVENTION_EMPTY, CONVENTION_REPLACED

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
        notes.append(
            CONVENTION_EMPTY.at(
                doc,
                "llamafactory-all finds no module whose class name contains 'Linear' outside the "
                "output layer, vision tower and projector",
                ("adapter",),
            )
        )
    return values, notes


def _torchtune(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """torchtune's recipes (export/torchtune.py RECIPE_TARGETS), on the models its builders cover."""
    from ..export.torchtune import RECIPE_TARGETS, builder_for

    model = _skeleton(doc, options, session)
    if model is None:
        return _replace_targets(doc, [], "torchtune")
    if builder_for(model.config, doc.values.get("base_model")) is None:
        values, notes = _replace_targets(doc, [], "torchtune")
        notes.append(
            CONVENTION_EMPTY.at(
                doc,
                "torchtune 0.6.1 has no LoRA builder for this model, so its recipes select nothing here",
                ("base_model",),
            )
        )
        return values, notes
    return _replace_targets(doc, list(RECIPE_TARGETS), "torchtune")


def _swift_all_linear(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """ms-swift `target_modules: [all-linear]` on a text model (export/swift.py restates find_all_linears)."""
    from ..export.swift import all_linear

    start = _start(doc, options, session)
    if start is None:
        return _replace_targets(doc, [], "ms-swift-all-linear")
    if start.is_multimodal:
        values, notes = _replace_targets(doc, [], "ms-swift-all-linear")
        notes.append(
            CONVENTION_EMPTY.at(
                doc,
                "ms-swift's all-linear on a multimodal model follows its own "
                "model registry (language model only, by default), which is not restated here",
                ("base_model",),
            )
        )
        return values, notes
    return _replace_targets(doc, all_linear(start.model), "ms-swift-all-linear")


def _unsloth_default(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """Unsloth's FastLanguageModel.get_peft_model default list, on the models of its fast llama path."""
    from ..export.unsloth import DEFAULT_TARGETS, FAST_LLAMA

    start = _start(doc, options, session)
    if start is None:
        return _replace_targets(doc, [], "unsloth-default")
    if start.model_type not in FAST_LLAMA or start.is_multimodal:
        values, notes = _replace_targets(doc, [], "unsloth-default")
        notes.append(
            CONVENTION_EMPTY.at(
                doc,
                f"Unsloth narrows its default list on {start.model_type} "
                "models by layer-name filters (get_peft_regex), which are not restated here",
                ("base_model",),
            )
        )
        return values, notes
    return _replace_targets(doc, list(DEFAULT_TARGETS), "unsloth-default")


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
        notes.append(
            CONVENTION_REPLACED.at(
                doc,
                f"{convention} replaces lora_target_modules {written!r}: it selects targets by its "
                "own rule and cannot add names to it",
                ("lora_target_modules",),
            )
        )
    return values, notes


def _skeleton(doc: Document, options: Options, session: Session) -> Any:
    """The meta model compile builds for this document (shared through `session`), or None."""
    start = _start(doc, options, session)
    return start.model if start is not None else None


def _start(doc: Document, options: Options, session: Session) -> Any:
    """The skeleton compile builds for this document (shared through `session`), or None."""
    from ..engine.front import front

    return front(doc, options, session).skeleton


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention("axolotl", "lora_target_linear: Linear-like classes, minus lm_head by name", _axolotl),
        Convention("peft-all-linear", "all-linear: nn.Linear and Conv1D, minus the output layer", _peft_all_linear),
        Convention("llamafactory-all", "lora_target: all; vision tower and projector frozen", _llamafactory_all),
        Convention("torchtune", "q/v/output projections and the MLP in every layer (its LoRA recipes)", _torchtune),
        Convention("ms-swift-all-linear", "all-linear: class name contains Linear, minus lm_head", _swift_all_linear),
        Convention("unsloth-default", "q/k/v/o and gate/up/down projections (get_peft_model)", _unsloth_default),
    )
}
