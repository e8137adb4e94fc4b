"""Serving compatibility on request (--serve vllm[@VERSION] | sglang[@VERSION]): will the engine load this adapter?

The verdicts come from lora_compiler.serving, whose tables are read out of the engines' released wheels by
scripts/gen_serving_rules.py; each finding names the engine file and function it restates. When nothing
refuses the adapter, serve-launch prints the command line that serves it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath

from ..results.findings import Finding, Severity
from ..rulebook.registry import Docs, Stage, rule
from .context import Context


def _plan(ctx: Context):
    from ..serving import plan

    if ctx.serve is None or ctx.report is None:
        return None
    if ctx._serve_plan is None:
        ctx._serve_plan = plan(ctx.serve, ctx)
    return ctx._serve_plan


SERVE_UNSUPPORTED = rule(
    "serve-unsupported",
    Severity.ERROR,
    Stage.REPORT,
    "The serving engine cannot load this adapter, or would serve it wrongly.",
    Docs(
        what="""With --serve vllm: what vLLM's PEFTHelper.validate_legal refuses in adapter_config.json (modules_to_save
      other than classifier/score, DoRA, lora_bias, bias, initialisations that change the base weights, aLoRA,
      layer replication, BD-LoRA, QALoRA, ranks above the largest --max-lora-rank), models whose class lacks
      SupportsLoRA, target modules outside the names its loader expects for the architecture (linear layers,
      packed_modules_mapping, embedding_modules), output-layer LoRA over its vocabulary limit, trainable-token
      tensors, vision-tower LoRA on models without tower support, LoRA on a plain torch layer named like a LoRA
      layer (BERT's pooler.dense: dropped by 0.33, refused by 0.34), embedding LoRA on a scaled embedding
      (unscaled before 0.34), and the classification heads the installed PEFT saves in modules_to_save
      (PEFT 0.22 adds pre_classifier); warnings for a rank above the default
      --max-lora-rank, tower LoRA that needs --enable-tower-connector-lora and fused expert weights on models
      without is_3d_moe_weight. With --serve sglang: target names it cannot wrap or a regex target, DoRA, added
      tokens, RSLoRA/rank_pattern/alpha_pattern (it scales by lora_alpha / r), trainable tokens and tower
      modules; always a warning that unmatched weights are dropped unless --lora-strict-loading.
      Tables per engine release: lora_compiler/serving/*.json.""",
        why="The engine refuses to load the adapter, or serves something other than what was trained.",
        fix="Follow the hint (drop the feature the engine lacks, raise --max-lora-rank, pass the flag it names), or serve with another engine.",
        source="vllm/lora/peft_helper.py PEFTHelper.validate_legal and the models' packed_modules_mapping; sglang/srt/lora (tables in lora_compiler/serving/*.json)",
    ),
    other_levels=(Severity.WARNING,),
)


@SERVE_UNSUPPORTED.checks
def serve_unsupported(ctx: Context) -> Iterable[Finding]:
    found = _plan(ctx)
    for v in found.verdicts if found else ():
        yield SERVE_UNSUPPORTED.at_level(v.level).at(ctx.doc, f"{v.message} [{v.rule}]", v.key, hint=v.hint)


SERVE_LAUNCH = rule(
    "serve-launch",
    Severity.INFO,
    Stage.REPORT,
    "The command line that serves this adapter.",
    Docs(
        what="""With --serve, when the engine refuses nothing: `vllm serve BASE --enable-lora --max-lora-rank N ...` or
      `python -m sglang.launch_server --model-path BASE --enable-lora --lora-paths NAME=ADAPTER_DIR ...`, with
      the flags this adapter needs (rank, tower LoRA, strict loading, target modules).""",
        why="It is the command line that serves the adapter as trained, flags included.",
        fix="Nothing to fix: replace NAME and ADAPTER_DIR when the message shows them.",
        source="lora_compiler/serving/vllm.py launch, serving/sglang.py launch",
    ),
)


@SERVE_LAUNCH.checks
def serve_launch(ctx: Context) -> Iterable[Finding]:
    from ..serving import ENGINES

    found = _plan(ctx)
    if found is None or not found.served:
        return
    out = ctx.doc.values.get("output_dir")
    adapter = f"{PurePosixPath(out).name or 'adapter'}={out}" if isinstance(out, str) and out else "NAME=ADAPTER_DIR"
    command = ENGINES[found.engine].launch(found, ctx.spec.base_model or "BASE", adapter)
    hint = (
        "the adapter is the one training saves to output_dir"
        if "ADAPTER_DIR" not in adapter
        else "replace NAME and ADAPTER_DIR with the adapter's name and the directory training saves it to"
    )
    yield SERVE_LAUNCH.at(ctx.doc, f"{found.engine} {found.version} serves it with: {command}", "adapter", hint=hint)
