"""Serving compatibility on request (--serve vllm): adapters the engine rejects at load time."""

from __future__ import annotations

from typing import Iterable

from ..model_facts import EMBEDDING_AND_OUTPUT_NAMES
from ..results.findings import Finding, Severity
from .context import Context
from .registry import rule

VLLM_MAX_RANK = 512  # vLLM's largest supported --max-lora-rank
VLLM_DEFAULT_RANK = 16  # vLLM's default --max-lora-rank


@rule("serve-unsupported", Severity.ERROR, "The serving engine cannot load this adapter.",
      """With --serve vllm: vLLM's LoRA loader rejects adapters with modules_to_save (full copies of
      layers), DoRA magnitude vectors, trainable token deltas, and ranks above its maximum, and does
      not apply LoRA to the output layer or embeddings of most models. Caught before training.""",
      stage="report")
def serve_unsupported(ctx: Context) -> Iterable[Finding]:
    if ctx.serve != "vllm":
        return
    s, report = ctx.spec, ctx.report
    if report.modules_to_save:
        yield ctx.finding("serve-unsupported", "vLLM cannot serve adapters with modules_to_save", "lora_modules_to_save",
                          hint="drop lora_modules_to_save, or merge the adapter before serving")
    if s.peft_use_dora:
        yield ctx.finding("serve-unsupported", "vLLM cannot serve DoRA adapters", "peft_use_dora",
                          hint="use plain LoRA, or merge the adapter before serving")
    if report.trainable_tokens:
        yield ctx.finding("serve-unsupported", "vLLM cannot serve trainable token indices",
                          "peft_trainable_token_indices")
    ranks = sorted({m["r"] for m in report.modules})
    if ranks and ranks[-1] > VLLM_MAX_RANK:
        yield ctx.finding("serve-unsupported", f"rank {ranks[-1]} exceeds vLLM's maximum LoRA rank {VLLM_MAX_RANK}",
                          "lora_r", hint=f"use lora_r <= {VLLM_MAX_RANK}")
    elif ranks and ranks[-1] > VLLM_DEFAULT_RANK:
        yield ctx.finding("serve-unsupported", f"rank {ranks[-1]} needs vLLM's --max-lora-rank {ranks[-1]} or more "
                          f"(default {VLLM_DEFAULT_RANK})", "lora_r", severity=Severity.WARNING)
    heads = [m["name"] for m in report.modules if m["type"] == "Embedding" or m["name"].rsplit(".", 1)[-1] in
             EMBEDDING_AND_OUTPUT_NAMES]
    if heads:
        yield ctx.finding("serve-unsupported", f"vLLM does not apply LoRA to embeddings or the output layer "
                          f"({heads[0]}{' and others' if len(heads) > 1 else ''})",
                          "lora_target_linear" if s.lora_target_linear else "lora_target_modules",
                          hint=f"list lora_target_modules without '{heads[0].rsplit('.', 1)[-1]}' (Axolotl "
                          "ignores lora_exclude_modules)")
