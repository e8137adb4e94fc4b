"""SGLang's verdicts on an adapter, from its rule table (scripts/serving_sglang.py says what each entry restates).

Checked: target_modules as SGLang normalises them (a string other than all/all-linear is refused; every name
must normalise to a module its LoRA memory pool handles); DoRA and added tokens, refused at load; the scaling
it applies (lora_alpha / r, nothing else read: RSLoRA, rank_pattern and alpha_pattern would be served with
other weights than trained); vision-tower modules (its LoRA buffers are per decoder layer); trainable-token
tensors (no target module matches them); initialisations that change the base weights (PiSSA, OLoRA, LoftQ,
CorDA: SGLang does not read init_lora_weights); and always the warning that unmatched weights are dropped unless
--lora-strict-loading; adapted parameters (fused experts, routers as target_parameters), whose weights
match no target module. Not checked: per-architecture support (SGLang does not gate LoRA per model class).
"""

from __future__ import annotations

import math
from typing import Any

from ..model_facts import BASE_CHANGING_INITS, tower
from .engine import Engine
from .verdict import Plan, first_and_more


def check(rules: dict[str, Any], ctx: Any) -> Plan:
    plan = Plan("sglang", rules["version"])
    where, src = f"SGLang {rules['version']}", rules["sources"]
    config, spec, report = ctx.adapter_config or {}, ctx.spec, ctx.report
    targets_key = ctx.targets_key
    refusals = rules["refusals"]
    targets = config.get("target_modules") or []
    if isinstance(targets, str) and targets not in ("all", "all-linear"):
        plan.refuse(
            f"{where}: {refusals['target_modules_string'].replace('{config.target_modules}', targets[:60])}",
            targets_key,
            src["refusals"],
            "list the module names (lora_target_modules) instead of a regex",
        )
    elif not isinstance(targets, str):
        _names(plan, rules, sorted(targets), targets_key)
    if config.get("use_dora"):
        plan.refuse(
            f"{where}: {refusals['use_dora'].replace('{lora_ref.lora_name}', 'the adapter')}",
            "peft_use_dora",
            src["refusals"],
            "drop peft_use_dora, or merge the adapter before serving",
        )
    if ctx.doc.values.get("tokens"):
        plan.refuse(
            f"{where}: {refusals['added_tokens'].replace('{lora_ref.lora_name}', 'the adapter')} "
            "(Axolotl saves the added tokens in added_tokens.json beside the adapter)",
            "tokens",
            src["refusals"],
            "serve a base model whose vocabulary already holds the tokens",
        )
    # PEFT's own pattern keys (a fused expert's 2r) concern target_parameters: where SGLang drops those
    # weights (below), the patterns it does not read change nothing more
    asked = {k for k in ("rank_pattern", "alpha_pattern") if getattr(spec, f"lora_{k}", None)}
    _scaling(plan, rules, config, where, asked if not rules["reads_target_parameters"] else None)
    init = config.get("init_lora_weights")
    if isinstance(init, str) and init.lower().startswith(BASE_CHANGING_INITS) and not rules["reads_init_lora_weights"]:
        plan.refuse(
            f"{where} does not read init_lora_weights, so an adapter initialised with {init!r} is served "
            "over the unmodified base weights, which that initialisation changed when PEFT loaded it",
            "peft_init_lora_weights" if ctx.spec.peft_init_lora_weights else "peft",
            src["init"],
            "convert it to a plain LoRA adapter (PEFT's path_initial_model_for_weight_conversion) first",
        )
    if report.trainable_tokens:
        plan.refuse(
            f"{where}: no LoRA target module matches the trainable-token tensors, so they are dropped "
            "(an error with --lora-strict-loading)",
            "peft_trainable_token_indices",
            src["strict_loading"],
            "drop peft_trainable_token_indices, or merge the adapter before serving",
        )
    params = [m.name for m in report.modules if m.kind == "parameter"]
    if params and not rules["reads_target_parameters"]:
        plan.refuse(
            f"{where} reads no target_parameters: the weights PEFT saves for the adapted parameters "
            f"({first_and_more(params)}) are named after their "
            "module (e.g. mlp.experts.lora_A), match no target module and are dropped",
            "lora_target_parameters" if spec.lora_target_parameters else targets_key,
            src["parameters"],
            "target Linear modules only, or merge the adapter before serving",
        )
    towers = [m.name for m in report.modules if tower(m.name, ctx.module_classes)]
    if towers:
        plan.refuse(
            f"{where}: LoRA buffers are kept per decoder layer of the language model, so the vision-tower "
            f"modules ({first_and_more(towers)}) are not "
            "served as trained",
            targets_key,
            "sglang/srt/lora/mem_pool.py (LoRAMemoryPool); sglang/srt/lora/lora_manager.py (LoRAManager.init_lora_modules)",
            "target the language model only, or merge the adapter before serving",
        )
    if not rules["strict_loading_default"]:
        plan.flags.append("--lora-strict-loading")
        plan.warn(
            f"{where} drops adapter weights that match no target module with only a log warning unless "
            "--lora-strict-loading is given (its default is off)",
            "adapter",
            src["strict_loading"],
            "serve with --lora-strict-loading, so a mismatch fails at startup",
        )
    ranks = sorted({m.r for m in report.modules})
    if ranks:
        plan.flags.insert(0, f"--max-lora-rank {ranks[-1]}")
    return plan


def _names(plan: Plan, rules: dict[str, Any], targets: list[str], key: str) -> None:
    """Every target name, normalised as get_normalized_target_modules does, must be one SGLang can wrap."""
    normalized = {name: rules["normalized"].get(name.rsplit(".", 1)[-1], name.rsplit(".", 1)[-1]) for name in targets}
    unknown = sorted(name for name, norm in normalized.items() if norm not in rules["known"])
    if unknown:
        plan.refuse(
            f"SGLang {rules['version']} has no LoRA layer for {', '.join(unknown)} (it wraps "
            f"{', '.join(rules['known'])} after normalising names)",
            key,
            rules["sources"]["modules"],
            f"leave {', '.join(unknown)} out of the targets, or merge the adapter before serving",
        )
    leaves = sorted({name.rsplit(".", 1)[-1] for name in targets})
    if leaves and all(leaf in rules["cli_target_modules"] for leaf in leaves):
        plan.flags.append(f"--lora-target-modules {' '.join(leaves)}")


def _scaling(plan: Plan, rules: dict[str, Any], config: dict[str, Any], where: str, patterns: set[str] | None) -> None:
    """SGLang scales every module by lora_alpha / r and sizes every buffer by r: nothing else is read.
    `patterns`: the rank/alpha patterns whose loss matters (None: every one the saved config holds)."""
    source = rules["sources"]["scaling"]
    said = f"{where} scales every module by {rules['scaling'].replace('self.config.', '')}"
    r, alpha = config.get("r"), config.get("lora_alpha")
    if config.get("use_rslora") and r and alpha:
        plan.refuse(
            f"{said}, not RSLoRA's lora_alpha / sqrt(r)",
            "peft_use_rslora",
            source,
            f"for the same scaling without RSLoRA set lora_alpha: {alpha * math.sqrt(r):g} and drop "
            "peft_use_rslora, or merge the adapter before serving",
        )
    if config.get("alpha_pattern") and (patterns is None or "alpha_pattern" in patterns):
        plan.refuse(
            f"{said}: alpha_pattern is not read",
            "lora_alpha_pattern",
            source,
            "drop lora_alpha_pattern, or merge the adapter before serving",
        )
    if config.get("rank_pattern") and (patterns is None or "rank_pattern" in patterns):
        plan.refuse(
            f"{said} and reads only r: rank_pattern is not read",
            "lora_rank_pattern",
            source,
            "drop lora_rank_pattern, or merge the adapter before serving",
        )


def launch(plan: Plan, base: str, adapter: str) -> str:
    """`adapter` is NAME=PATH."""
    return " ".join(
        ["python -m sglang.launch_server --model-path", base, "--enable-lora", f"--lora-paths {adapter}", *plan.flags]
    )


ENGINE = Engine("sglang", "SGLang", check, launch, extractor="serving_sglang")
