"""vLLM's verdicts on an adapter, from its rule table (scripts/serving_vllm.py says what each entry restates).

Checked: PEFTHelper.validate_legal on adapter_config.json (feature refusals, bias, the largest rank of r and
rank_pattern against the allowed --max-lora-rank values); the model class (SupportsLoRA, the module names
its LoRA loader expects: linear layers, packed_modules_mapping, embedding_modules); the output layer's
vocabulary limit; fused expert weights on models without is_3d_moe_weight; vision-tower modules, which vLLM
skips unless the model supports tower LoRA and --enable-tower-connector-lora is given; trainable-token
tensors, which its weight parser refuses; LoRA on a plain torch layer named like a LoRA layer (refused from
0.34, dropped before); embedding LoRA on a scaled embedding (scaled as PEFT does from 0.34, unscaled before).
modules_to_save is judged as the trained adapter saves it: with the task heads PEFT adds for a
classification model (ctx.saved_modules_to_save), which PEFT 0.22 extends with pre_classifier.
"""

from __future__ import annotations

from typing import Any

from ..model_facts import tower
from ..pipeline.fields import yaml_key
from .engine import Engine
from .verdict import Plan, first_and_more


def refused(config: dict[str, Any], check: dict[str, Any], helper: dict[str, Any]) -> str | None:
    """PEFTHelper's message when its check fires on adapter_config.json `config`, else None."""
    field, value = check["field"], config.get(check["field"])
    if field == "modules_to_save":
        bad = [m for m in value or [] if m not in helper["modules_to_save_allowed"]]
        return check["message"].replace("{unsupported_modules}", repr(bad)) if bad else None
    if field == "init_lora_weights":
        supported = not isinstance(value, str) or value.lower() in helper["init_strings_allowed"]
        return None if supported else check["message"].replace("{self.init_lora_weights}", repr(value))
    if field == "bias":
        return None if value in (None, check["allowed"]) else check["message"]
    return check["message"] if value else None


def max_lora_rank(rules: dict[str, Any], rank: int) -> int | None:
    """The smallest --max-lora-rank vLLM accepts that serves `rank` (None: above its largest)."""
    return next((r for r in rules["max_lora_rank"]["allowed"] if r >= rank), None)


def check(rules: dict[str, Any], ctx: Any) -> Plan:
    plan = Plan("vllm", rules["version"])
    where = f"vLLM {rules['version']}"
    helper, config = rules["peft_helper"], ctx.adapter_config or {}
    if ctx.saved_modules_to_save is not None:  # what save_pretrained writes, task heads included
        config = {**config, "modules_to_save": list(ctx.saved_modules_to_save)}
    for item in helper["checks"]:
        message = refused(config, item, helper)
        if message:
            key, hint = yaml_key(item["field"]), "change the key, or merge the adapter into the model before serving"
            if item["field"] == "modules_to_save":
                key, message, hint = _heads(ctx, helper, message) or (key, message, hint)
            plan.refuse(f"{where}: {message}", key, helper["source"], hint)
    _rank(plan, rules, ctx)
    if ctx.report.trainable_tokens:
        plan.refuse(
            f"{where} refuses the trainable-token tensors: "
            f"{rules['weights']['not_lora'].replace('{name}', 'trainable_tokens_delta')}",
            "peft_trainable_token_indices",
            rules["weights"]["not_lora_source"],
            "drop peft_trainable_token_indices, or merge the adapter before serving",
        )
    arch = rules["architectures"].get(ctx.report.model.architecture)
    if arch is None:
        plan.warn(
            f"{where} has no model class of its own for {ctx.report.model.architecture} "
            "(vllm/model_executor/models/registry.py); its module checks are not run",
            "base_model",
            "vllm/model_executor/models/registry.py (_TEXT_GENERATION_MODELS, _MULTIMODAL_MODELS, ...)",
        )
    elif not arch["lora"]:
        said = rules["no_lora"]["message"].replace("{model.__class__.__name__}", arch["class"])
        plan.refuse(
            f"{where}: {said} ({arch['class']} in {arch['module']} does not implement SupportsLoRA)",
            "adapter",
            rules["no_lora"]["source"],
            "merge the adapter into the model and serve the merged weights",
        )
    else:
        _modules(plan, rules, arch, ctx)
    return plan


def _heads(ctx: Any, helper: dict[str, Any], message: str) -> tuple[str, str, str] | None:
    """A modules_to_save refusal caused by the task heads PEFT adds (not by the YAML's own list): pointed at
    the key that made the model a classifier, naming the PEFT release that adds them."""
    asked = set(ctx.spec.lora_modules_to_save or ())
    added = [
        m for m in ctx.saved_modules_to_save or () if m not in asked and m not in helper["modules_to_save_allowed"]
    ]
    if not added:
        return None
    peft = (ctx.report.environment or {}).get("peft") or "the installed PEFT"
    keys = ("process_reward_model", "reward_model", "type_of_model", "model_type")  # what made it a classifier
    key = next((k for k in keys if ctx.doc.values.get(k)), "base_model")
    return (
        key,
        f"{message} (PEFT {peft} adds the task heads {list(ctx.saved_modules_to_save)} to modules_to_save of a "
        f"{ctx.adapter_config.get('task_type')} adapter)",
        f"vLLM serves only the heads {helper['modules_to_save_allowed']}: train with a PEFT release whose "
        "classification adapters save only those, or merge the adapter and serve the merged model",
    )


def _rank(plan: Plan, rules: dict[str, Any], ctx: Any) -> None:
    """The largest rank against --max-lora-rank's allowed values: of any wrapped layer and, as validate_legal
    takes it, of r and every rank_pattern value (one that matches no module counts too)."""
    config = ctx.adapter_config or {}
    ranks = {m.r for m in ctx.report.modules} | set((config.get("rank_pattern") or {}).values())
    if not ranks:
        return
    top, limit = max(ranks | {config.get("r", 0)}), rules["max_lora_rank"]
    key = "lora_rank_pattern" if ctx.spec.lora_rank_pattern and top != ctx.spec.lora_r else "lora_r"
    needed = max_lora_rank(rules, top)
    if needed is None:
        plan.refuse(
            f"vLLM {rules['version']}: rank {top} exceeds the largest --max-lora-rank, {limit['allowed'][-1]}",
            key,
            limit["source"],
            f"use ranks <= {limit['allowed'][-1]}",
        )
        return
    plan.flags.append(f"--max-lora-rank {needed}")
    declared = max([config.get("r", 0), *(config.get("rank_pattern") or {}).values()])
    owner = next((m.name for m in ctx.report.modules if m.r == top), "")
    why = f" (PEFT's rank on {owner}, above the adapter's r)" if top > declared else ""
    if needed > limit["default"]:
        plan.warn(
            f"vLLM {rules['version']}: rank {top}{why} needs --max-lora-rank {needed} (default {limit['default']}; "
            f"allowed {', '.join(map(str, limit['allowed']))})",
            key,
            limit["source"],
            f"serve with --max-lora-rank {needed}",
        )


def expected_modules(arch: dict[str, Any]) -> set[str]:
    """worker_manager._load_adapter's expected set: supported modules, packed names replaced by their parts
    ("*": every Linear of the HF model, on the Transformers backend)."""
    expected: set[str] = set()
    for name in {*arch["linear"], *arch["embedding"]} - {"*"}:
        expected.update(arch["packed"].get(name, [name]))
        if name == "experts":
            expected.add(name)
    return expected


def _modules(plan: Plan, rules: dict[str, Any], arch: dict[str, Any], ctx: Any) -> None:
    where, report = f"vLLM {rules['version']}", ctx.report
    targets_key = ctx.targets_key
    expected, saved = expected_modules(arch), set((ctx.adapter_config or {}).get("modules_to_save") or ())
    unexpected, towers, experts, heads = set(), [], [], []
    for m in report.modules:
        name = m.name
        module = name.rsplit(".", 1)[0] if m.kind == "parameter" else name  # a parameter's owner loads it
        leaf = "experts" if ".experts" in module else module.rsplit(".", 1)[-1]
        any_linear = "*" in arch["linear"] and m.type == "Linear"  # the Transformers backend keeps HF names
        if leaf not in expected and leaf not in saved and not any_linear:
            unexpected.add(leaf)
        if tower(name, ctx.module_classes):
            towers.append(name)
        if m.kind == "parameter" and ".experts" in name:
            experts.append(name)
        if leaf == "lm_head":
            heads.append(name)
    if unexpected:
        message = rules["weights"]["unexpected"].split(",")[0].replace("{lora_dir}", "the adapter")
        plan.refuse(
            f"{where} ({arch['class']}): {message}, expected target modules in {sorted(expected)} but "
            f"received {sorted(unexpected)}",
            targets_key,
            rules["weights"]["unexpected_source"],
            f"leave {', '.join(sorted(unexpected))} out of the targets (lora_target_modules), or merge "
            "the adapter before serving",
        )
    limit, vocab = rules["vocab_limit"], _vocab_size(ctx)
    if heads and "lm_head" in expected and vocab and vocab > limit["max"]:
        plan.refuse(
            f"{where}: {limit['message']} (this model's vocabulary: {vocab:,})",
            targets_key,
            limit["source"],
            "leave lm_head out of the targets",
        )
    if experts and not arch["moe_3d"]:
        plan.warn(
            f"{where}: {arch['class']} does not set is_3d_moe_weight, so the fused expert LoRA weights "
            f"({experts[0]}{' and others' if len(experts) > 1 else ''}) are split per expert by the fallback "
            "path, not loaded natively",
            "lora_target_parameters" if ctx.spec.lora_target_parameters else targets_key,
            "vllm/lora/model_manager.py (LoRAModelManager._stack_moe_lora_weights)",
            "check the served outputs against the trained adapter before relying on them",
        )
    if towers:
        _towers(plan, where, arch, towers, targets_key)
    _unwrapped(plan, rules, arch, ctx)
    _embed_scale(plan, rules, arch, ctx)


def _unwrapped(plan: Plan, rules: dict[str, Any], arch: dict[str, Any], ctx: Any) -> None:
    """LoRA on a layer vLLM builds as a plain torch nn.Linear/nn.Embedding (arch["unwrapped"]: "Owner.name")
    although a LoRA layer of the model carries the same name, e.g. BERT's pooler.dense: vLLM never wraps it.
    The owner is matched by the class of the HF module holding the layer (vLLM keeps the HF class names)."""
    plain, classes = set(arch.get("unwrapped", ())), ctx.module_classes
    hit = [
        m.name
        for m in ctx.report.modules
        if m.kind != "parameter"
        and f"{classes.get(m.name.rpartition('.')[0], '')}.{m.name.rpartition('.')[2]}" in plain
    ]
    if not hit:
        return
    rule, where, first = rules["unwrapped"], f"vLLM {rules['version']}", first_and_more(hit)
    if rule["refused"]:
        said = rules["weights"]["unexpected"].split(",")[0].replace("{lora_dir}", "the adapter")
        plan.refuse(
            f"{where} ({arch['class']}): {said}, received {rule['message'].replace('{module_name}', first)}: "
            "a plain torch layer named like one of its LoRA layers",
            ctx.targets_key,
            rule["source"],
            f"leave {hit[0].rsplit('.', 1)[-1]} of {hit[0].rpartition('.')[0]} out of the targets "
            "(lora_exclude_modules), or merge the adapter before serving",
        )
    else:
        plan.refuse(
            f"{where} ({arch['class']}): {first} is a plain torch layer vLLM does not wrap, so it loads the "
            "adapter, drops those LoRA weights and serves a different model",
            ctx.targets_key,
            rule["source"],
            f"leave {hit[0].rsplit('.', 1)[-1]} of {hit[0].rpartition('.')[0]} out of the targets "
            "(lora_exclude_modules), or merge the adapter before serving",
        )


def _embed_scale(plan: Plan, rules: dict[str, Any], arch: dict[str, Any], ctx: Any) -> None:
    """Embedding LoRA on an embedding that scales its lookup (a Transformers *ScaledWordEmbedding, kept by the
    Transformers backend): PEFT scales the delta by embed_scale; vLLM does only from 0.34 (set_lora)."""
    if rules["embedding_scale"]["applied"] or arch["linear"] != ["*"] or ctx.skeleton is None:
        return
    scaled = [
        (m.name, scale)
        for m in ctx.report.modules
        if m.kind != "parameter" and (scale := _embed_scale_of(ctx.skeleton.model.get_submodule(m.name))) != 1.0
    ]
    if scaled:
        name, scale = scaled[0]
        value = f" ({scale:g})" if scale is not None else ""
        plan.refuse(
            f"vLLM {rules['version']}: {name} scales its lookup by embed_scale{value} and PEFT scales the "
            "embedding LoRA delta with it; vLLM adds the delta unscaled, so it serves a different model",
            ctx.targets_key,
            rules["embedding_scale"]["source"],
            "serve with a vLLM release that scales embedding LoRA (0.34.0 and later), or leave the embedding "
            "out of the targets",
        )


def _towers(plan: Plan, where: str, arch: dict[str, Any], towers: list[str], key: str) -> None:
    source = "vllm/lora/model_manager.py (LoRAModelManager._create_lora_modules, _get_punica_wrapper)"
    first = first_and_more(towers)
    if arch["tower"]:
        plan.flags.append("--enable-tower-connector-lora")
        plan.warn(
            f"{where}: LoRA on the vision tower ({first}) is applied only with --enable-tower-connector-lora "
            f"({arch['class']} supports it; vLLM calls it experimental); without it those weights are "
            "ignored",
            key,
            source,
            "serve with --enable-tower-connector-lora",
        )
    else:
        plan.refuse(
            f"{where}: {arch['class']} has no tower LoRA (supports_tower_connector_lora), so vLLM ignores "
            f"the adapter's vision-tower weights ({first}) and serves a different model",
            key,
            source,
            "target the language model only, or merge the adapter before serving",
        )


def _embed_scale_of(module: Any) -> float | None:
    """The module's embed_scale: 1.0 when it has none, None when set but unreadable (a meta skeleton's buffer)."""
    scale = getattr(module, "embed_scale", None)
    if scale is None:
        return 1.0
    return None if getattr(scale, "is_meta", False) else float(scale)


def _vocab_size(ctx: Any) -> int | None:
    config = getattr(getattr(ctx.skeleton, "model", None), "config", None)
    if config is None:
        return None
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return getattr(text, "vocab_size", None)


def launch(plan: Plan, base: str, adapter: str) -> str:
    """`adapter` is NAME=PATH."""
    return " ".join(["vllm serve", base, "--enable-lora", *plan.flags, f"--lora-modules {adapter}"])


ENGINE = Engine("vllm", "vLLM", check, launch, extractor="serving_vllm")
