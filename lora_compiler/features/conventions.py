"""Target-selection conventions for `diff --convention`: Axolotl's own, PEFT's shorthand, and every trainer's.

A trainer's convention is declared beside its exporter (lora_compiler/export, Trainer.convention), where its
restatement of the trainer's code lives; the two here are no exporter's. Each convention rewrites only the
target keys, then the config is compiled as usual, so PEFT itself decides what is wrapped (export/convention.py).
"""

from __future__ import annotations

from typing import Any

from ..engine.options import Options
from ..engine.session import Session
from ..export import TRAINERS
from ..export.convention import Convention, replace_targets
from ..pipeline.document import Document
from ..results.findings import Finding


def _axolotl(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """Axolotl: lora_target_linear: true, unioned with lora_target_modules as written (targets.py)."""
    return {**doc.values, "lora_target_linear": True}, []


def _peft_all_linear(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """PEFT's own shorthand, so PEFT's exact semantics: tuners_utils._maybe_include_all_linear_layers
    (v0.20) takes every torch.nn.Linear and transformers Conv1D by full name, anywhere in the model
    (vision towers included), minus the output embedding found by identity; on MoE models whose experts
    transformers 5 fuses, transformers_weight_conversion._resolve_string_target_modules also adds the
    experts and the router as parameter targets."""
    return replace_targets(doc, "all-linear", "peft-all-linear")


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention("axolotl", "lora_target_linear: Linear-like classes, minus lm_head by name", _axolotl),
        Convention("peft-all-linear", "all-linear: nn.Linear and Conv1D, minus the output layer", _peft_all_linear),
        *(t.convention for t in TRAINERS.values() if t.convention is not None),
    )
}
