"""Did the targets reach the part of the model meant? Findings from the report's per-entry coverage.

A run adapting 7 % of a hybrid model's layers trains, but barely moves the loss; an MoE adapter that
reaches the shared experts and not the routed ones weighs megabytes where gigabytes were meant
(advice.py's moe-experts-unreached says that one). These rules read results/coverage.py's record and
point at the entry's own YAML line.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..results.findings import Finding, Severity
from ..results.parts import CoverageEntry
from ..rulebook.registry import Docs, Stage, rule
from .context import Context

W = Severity.WARNING


def _where(entry: CoverageEntry) -> tuple[object, ...]:
    return (entry.key, entry.index) if entry.index is not None else (entry.key,)


COVERAGE_PARTIAL_LAYERS = rule(
    "coverage-partial-layers",
    W,
    Stage.REPORT,
    "A target entry reaches only some of the decoder layers holding its name.",
    Docs(
        what="""An entry such as a regex with a layer range, or a name PEFT reached in fewer decoder layers than hold a
      module of that name, adapts part of the stack. Deliberate layer choices (peft_layers_to_transform) are
      not reported; otherwise the finding says which share was reached, at the entry's line.""",
        why="Part of the stack stays unadapted, often because a regex or a name reaches fewer layers than meant.",
        fix="Widen the entry to every layer, or choose layers with peft_layers_to_transform to make it deliberate.",
        source="peft/tuners/tuners_utils.py check_target_module_exists",
    ),
)


@COVERAGE_PARTIAL_LAYERS.checks
def coverage_partial_layers(ctx: Context) -> Iterable[Finding]:
    cov = ctx.report.coverage
    if not cov or ctx.spec.peft_layers_to_transform is not None:
        return
    converted = {m.name for m in ctx.report.modules if m.kind == "parameter"}
    for entry in cov.entries:
        possible = entry.decoder_layers_with_name
        if entry.blocks.get("routed experts") and converted:
            continue  # PEFT moved the name to fused experts: moe-linear-targets-dropped names what it left
        if possible and 0 < entry.decoder_layers < possible:
            yield COVERAGE_PARTIAL_LAYERS.at(
                ctx.doc,
                f"{entry.entry} reaches {entry.decoder_layers} of the "
                f"{possible} decoder layers that hold a {entry.entry.rsplit('.', 1)[-1]} module",
                _where(entry),
                hint="check the entry's pattern, or set peft_layers_to_transform to make the choice explicit",
            )


COVERAGE_BELOW_THRESHOLD = rule(
    "coverage-below-threshold",
    W,
    Stage.REPORT,
    "Fewer decoder layers are adapted than the project's threshold.",
    Docs(
        what="""The share of decoder layers holding at least one adapted module, against [tool.lora-compiler]
      coverage_threshold (default 0.5). Hybrid models (Nemotron-H, Jamba) keep attention in a few layers:
      attention-only targets adapt a small share of the stack.""",
        why="An adapter on a small share of the layers may train too little of the model.",
        fix="Add targets that reach the other layers (MLP or state-space blocks), or lower coverage_threshold in [tool.lora-compiler].",
        source="lora_compiler/rules/coverage.py",
    ),
)


@COVERAGE_BELOW_THRESHOLD.checks
def coverage_below_threshold(ctx: Context) -> Iterable[Finding]:
    cov = ctx.report.coverage
    total = cov.decoder_layers if cov else None
    if not cov or not total or ctx.spec.peft_layers_to_transform is not None:
        return
    share = cov.adapted_decoder_layers / total
    towers_only = not cov.adapted_decoder_layers and all(
        set(e.blocks) <= {"vision tower", "audio tower", "projector"} for e in cov.entries
    )
    if share < ctx.coverage_threshold and not towers_only:  # a tower-only adapter is multimodal-tower-hit's
        key = ctx.targets_key
        yield COVERAGE_BELOW_THRESHOLD.at(
            ctx.doc,
            f"only {cov.adapted_decoder_layers} of {total} decoder layers "
            f"({share:.0%}) hold an adapted module (threshold {ctx.coverage_threshold:.0%})",
            key,
            hint="add the other layers' module names (e.g. the Mamba mixer's in_proj) to the "
            "targets, or lower coverage_threshold in [tool.lora-compiler]",
        )
