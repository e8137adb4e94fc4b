"""The findings of `export` (lora_compiler/export): what a trainer's config could not carry, and how it was written.

Declared apart from any check: the export modules raise them and import nothing else of the rules.
"""

from __future__ import annotations

from ..results.findings import Severity
from .registry import Docs, Stage, rule

SOURCE = "lora_compiler/export/<trainer>.py (the trainer's own key handling, restated) and export/check.py"

EXPORT_UNEXPRESSIBLE = rule(
    "export-unexpressible",
    Severity.ERROR,
    Stage.RAISED,
    "The trainer has no faithful form for a choice of this YAML.",
    Docs(
        what="""
    The chosen trainer has no key for something this YAML trains with (per-module ranks, DoRA, modules_to_save,
    trainable tokens, target parameters, an initialisation, a module its LoRA builder cannot wrap, LoRA on only
    some layers, ...), so its config would train something else. Nothing is written and the export exits 1; the
    finding points at the YAML key and says what to drop, or which export keeps it (`--to peft` keeps every
    LoraConfig field).""",
        why="A config that silently drops a choice trains another adapter than the one the YAML describes.",
        fix="Drop the named key from the YAML, or export to a trainer that keeps it (`--to peft` keeps every "
        "LoraConfig field).",
        source=SOURCE,
    ),
)
EXPORT_NOT_FAITHFUL = rule(
    "export-not-faithful",
    Severity.ERROR,
    Stage.RAISED,
    "The exported config would train other layers than the YAML.",
    Docs(
        what="""
    Every export is judged before it is written: the trainer's own way from its keys to PEFT's LoraConfig (or, for
    torchtune, to the layers its builder wraps) is applied to the same meta skeleton and compared layer by layer
    (names, ranks, scaling, trainable parameters, modules_to_save, trainable tokens). A difference means the
    exporter chose a form the trainer reads differently: nothing is written; please report it.""",
        why="The exported file would train other layers, ranks or scales than the YAML, without any error.",
        fix="Nothing in the YAML: the exporter is wrong. Report it with the YAML; meanwhile use `--to peft`.",
        source="lora_compiler/export/check.py",
    ),
)
EXPORT_LOSSY = rule(
    "export-lossy",
    Severity.WARNING,
    Stage.RAISED,
    "The export trains the same layers but differs in something else.",
    Docs(
        what="""
    The trainer trains the same LoRA layers, but something outside the adapter differs: the quantisation backend
    (torchtune's NF4 is torchao's, not bitsandbytes'; it has no 8-bit base), the training dtype, or Axolotl's
    post-load freezing that a LoraConfig cannot carry. The file is written; the finding says what to check.""",
        why="The same adapter trained over a differently quantised or frozen base can reach other results.",
        fix="Check the named difference in the trainer's config, or accept it knowingly.",
        source=SOURCE,
    ),
)
EXPORT_REWRITTEN = rule(
    "export-rewritten",
    Severity.INFO,
    Stage.RAISED,
    "The export says the same thing in the trainer's own terms.",
    Docs(
        what="""
    The trainer cannot take the YAML's form, so the export writes an equivalent one, judged equal on the skeleton:
    explicit module names for a regex, exclude_modules or layers_to_transform; LLaMA-Factory's `all` where its
    rule reaches the same modules; freeze_vision_tower / freeze_multi_modal_projector off when the YAML adapts a
    tower; torchtune's lora_alpha times sqrt(r) for rsLoRA.""",
        why="The exported keys look different from the YAML's; this says they train the same thing.",
        fix="Nothing to fix: it explains the rewrite.",
        source=SOURCE,
    ),
)
