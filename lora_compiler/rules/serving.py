"""Serving compatibility on request (--serve vllm): adapters the engine rejects at load time.

The limits come from vLLM's own source, read out of its released wheel by scripts/gen_serving_rules.py
into lora_compiler/serving_rules.json: the --max-lora-rank values (vllm/config/lora.py) and PEFTHelper's
feature checks (vllm/lora/peft_helper.py), applied here to the adapter_config.json this compile writes,
with vLLM's own message. Output-layer and embedding LoRA remain a rule of thumb of vLLM's documentation
(per-architecture module support is not extracted yet).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

from ..model_facts import EMBEDDING_AND_OUTPUT_NAMES
from ..results.findings import Finding, Severity
from .context import Context
from .registry import rule

# adapter_config.json field -> the YAML key that sets it, for findings at the right line
_KEYS = {"modules_to_save": "lora_modules_to_save", "use_dora": "peft_use_dora", "lora_bias": "adapter",
         "init_lora_weights": "peft_init_lora_weights", "layer_replication": "peft_layer_replication"}


@lru_cache(maxsize=1)
def vllm_rules() -> dict[str, Any]:
    return json.loads(resources.files("lora_compiler").joinpath("serving_rules.json").read_text())["vllm"]


def max_lora_rank(rank: int) -> int | None:
    """The smallest --max-lora-rank vLLM accepts that serves `rank` (None: above its largest)."""
    return next((r for r in vllm_rules()["max_lora_rank"]["allowed"] if r >= rank), None)


def _refused(config: dict[str, Any], check: dict[str, Any], helper: dict[str, Any]) -> str | None:
    """PEFTHelper's message when its check fires on `config`, else None."""
    field, value = check["field"], config.get(check["field"])
    if field == "modules_to_save":
        bad = [m for m in value or [] if m not in helper["modules_to_save_allowed"]]
        return check["message"].replace("{unsupported_modules}", repr(bad)) if bad else None
    if field == "init_lora_weights":
        supported = not isinstance(value, str) or value.lower() in helper["init_strings_allowed"]
        return None if supported else check["message"].replace("{self.init_lora_weights}", repr(value))
    return check["message"] if value else None


@rule("serve-unsupported", Severity.ERROR, "The serving engine cannot load this adapter.",
      """With --serve vllm: what vLLM's PEFTHelper refuses in adapter_config.json (modules_to_save other than
      classifier/score, DoRA, lora_bias, initialisations that change the base weights, aLoRA, layer
      replication, BD-LoRA, QALoRA; vllm/lora/peft_helper.py), ranks above its largest --max-lora-rank
      (vllm/config/lora.py MaxLoRARanks; per module, rank_pattern and fused-expert ranks included), trainable
      token deltas, and LoRA on the output layer or embeddings of most models. Caught before training.""",
      stage="report")
def serve_unsupported(ctx: Context) -> Iterable[Finding]:
    if ctx.serve != "vllm":
        return
    s, report, rules = ctx.spec, ctx.report, vllm_rules()
    helper = rules["peft_helper"]
    where = f"vLLM {rules['version']} {helper['source'].split(' ')[0]}"
    for check in helper["checks"]:
        message = _refused(ctx.adapter_config or {}, check, helper)
        if message:
            yield ctx.finding("serve-unsupported", f"{where}: {message}", _KEYS.get(check["field"], "adapter"),
                              hint="change the key, or merge the adapter into the model before serving")
    if report.trainable_tokens:
        yield ctx.finding("serve-unsupported", "vLLM cannot serve trainable token indices",
                          "peft_trainable_token_indices")
    yield from _rank(ctx, rules)
    heads = [m["name"] for m in report.modules if m["type"] == "Embedding" or m["name"].rsplit(".", 1)[-1] in
             EMBEDDING_AND_OUTPUT_NAMES]
    if heads:
        yield ctx.finding("serve-unsupported", f"vLLM does not apply LoRA to embeddings or the output layer "
                          f"({heads[0]}{' and others' if len(heads) > 1 else ''})",
                          "lora_target_linear" if s.lora_target_linear else "lora_target_modules",
                          hint=f"list lora_target_modules without '{heads[0].rsplit('.', 1)[-1]}' (Axolotl "
                          "ignores lora_exclude_modules)")


def _rank(ctx: Context, rules: dict[str, Any]) -> Iterable[Finding]:
    """The largest rank of any wrapped layer against --max-lora-rank's allowed values."""
    ranks = sorted({m["r"] for m in ctx.report.modules})
    if not ranks:
        return
    top, limit = ranks[-1], rules["max_lora_rank"]
    key = "lora_rank_pattern" if ctx.spec.lora_rank_pattern and top != ctx.spec.lora_r else "lora_r"
    needed = max_lora_rank(top)
    source = f"vLLM {rules['version']} {limit['source']}"
    if needed is None:
        yield ctx.finding("serve-unsupported", f"rank {top} exceeds vLLM's largest --max-lora-rank "
                          f"{limit['allowed'][-1]} ({source})", key, hint=f"use ranks <= {limit['allowed'][-1]}")
    elif needed > limit["default"]:
        yield ctx.finding("serve-unsupported", f"rank {top} needs vLLM's --max-lora-rank {needed} (default "
                          f"{limit['default']}; allowed {', '.join(map(str, limit['allowed']))}: {source})", key,
                          severity=Severity.WARNING, hint=f"serve with: vllm serve BASE --enable-lora "
                          f"--max-lora-rank {needed} --lora-modules NAME=ADAPTER_DIR")
