"""Warnings worth a human look: towers, routers, fused experts and tied embeddings."""

from __future__ import annotations

from collections.abc import Iterable

from ..model_facts import (
    fused_experts,
    is_linear_like,
    is_router,
    num_experts,
    peft_selects,
    peft_wraps,
    ties_embeddings,
    tower_component,
)
from ..results.findings import Finding, Severity
from ..rulebook.registry import Docs, Stage, rule
from .context import Context

W = Severity.WARNING


MULTIMODAL_TOWER_HIT = rule(
    "multimodal-tower-hit",
    W,
    Stage.REPORT,
    "Target names also reach a vision or audio tower.",
    Docs(
        what="""lora_target_linear and plain suffix names match every module with that name, so on a
      multimodal model they also train the vision/audio encoder and projector. Often intended for
      the language model only: restrict with a regex on the language model's path. When the
      lora_target_modules text itself names every tower it reaches (a regex on model.visual..., say),
      that is deliberate: information only.""",
        why="LoRA on the vision or audio encoder changes what the tower sees and costs memory, usually unintended.",
        fix="Restrict the targets with a regex on the language model's path (or set freeze_mm_modules), or name the tower explicitly when it is meant.",
        source="peft/tuners/tuners_utils.py check_target_module_exists; axolotl/loaders/adapter.py find_all_linear_names",
    ),
    other_levels=(Severity.INFO,),
)


@MULTIMODAL_TOWER_HIT.checks
def multimodal_tower_hit(ctx: Context) -> Iterable[Finding]:
    if ctx.freezing is not None and ctx.spec.freeze_mm_modules:
        return  # Axolotl freezes the tower's LoRA after load (rules/freezing.py reports what that removes)
    towers: dict[str, int] = {}
    classes = ctx.module_classes
    for m in ctx.report.modules:
        tower = tower_component(m.name, classes)
        if tower:
            towers[tower] = towers.get(tower, 0) + 1
    if towers:
        where = ", ".join(f"{n} in {t}" for t, n in sorted(towers.items()))
        suffixes = sorted(
            {m.name.rsplit(".", 1)[-1] for m in ctx.report.modules if not tower_component(m.name, classes)}
        )
        named = _named_towers(ctx, towers)
        if named == set(towers):  # the YAML's own target text names every tower it reaches: a choice
            yield MULTIMODAL_TOWER_HIT.at_level(Severity.INFO).at(
                ctx.doc,
                f"the targets name the tower and wrap {sum(towers.values())} "
                f"modules outside the language model ({where})",
                "lora_target_modules",
            )
            return
        yield MULTIMODAL_TOWER_HIT.at(
            ctx.doc,
            f"the targets also wrap {sum(towers.values())} modules outside the language model ({where})",
            ctx.targets_key,
            hint="to adapt the language model only: lora_target_modules: "
            f"'.*language_model.*\\.({'|'.join(suffixes)})' without lora_target_linear",
        )


def _named_towers(ctx: Context, towers: dict[str, int]) -> set[str]:
    """The towers whose path component the lora_target_modules text itself names (a regex such as
    'model\\.visual\\..*' or an entry 'vision_tower.fc1'); none when lora_target_linear also selects."""
    if ctx.spec.lora_target_linear:
        return set()
    given = ctx.spec.lora_target_modules
    text = given if isinstance(given, str) else " ".join(given or [])
    return {t for t in towers if t in text}


def _targeted(ctx: Context, name: str) -> bool:
    """PEFT's own decision on target_modules (Axolotl 0.19 passes no exclude_modules)."""
    return peft_selects(name, ctx.plan.target_modules)


MOE_ROUTER_TARGETED = rule(
    "moe-router-targeted",
    W,
    Stage.MODEL,
    "A target name reaches an MoE router.",
    Docs(
        what="""The router (gate) decides which experts see each token. Adapting it changes routing and is
      rarely intended. What the installed PEFT does with it depends on the router's class and on PEFT's
      transformers-5 conversion, and the finding says which: a Linear router gets a LoRA layer; where
      PEFT's conversion renames the router (Mixtral's and Qwen3-MoE's TopKRouter `gate`, Qwen2-MoE's from
      PEFT 0.22) PEFT adapts its weight parameter directly (ParamWrapper), as the real Axolotl 0.19 run shows
      on Mixtral; any other router class PEFT cannot wrap, and it refuses the run (peft-refused): Jamba's
      `router` under transformers 5.25 (JambaTopKRouter; a Linear in 5.20), Qwen2-MoE's `gate` under PEFT 0.21.""",
        why="Adapting the router changes which experts see each token; the trained model routes differently.",
        fix="Remove the router's name (gate, router) from the targets, or narrow a regex so it skips the router.",
        source="peft/tuners/lora/layer.py ParamWrapper; peft/utils/transformers_weight_conversion.py; "
        "peft/tuners/lora/model.py _create_new_module; lora_compiler/model_facts.py routers",
    ),
)


@MOE_ROUTER_TARGETED.checks
def moe_router_targeted(ctx: Context) -> Iterable[Finding]:
    experts = num_experts(ctx.skeleton.config)
    if not experts:
        return
    hits = [
        (name, module)
        for name, module in ctx.skeleton.model.named_modules()
        if is_router(name, module, experts) and _targeted(ctx, name)
    ]
    if not hits:
        return
    name, module = hits[0]
    cls, suffix = type(module).__name__, name.rsplit(".", 1)[-1]
    if peft_selects(f"{name}.weight", list(ctx.plan.conversion_parameters)):
        outcome = (
            f": {cls} is not a Linear; PEFT's conversion for {ctx.skeleton.model_type} turns '{suffix}' into "
            f"the target parameter '{suffix}.weight' and adapts that weight directly (ParamWrapper)"
        )
    elif peft_wraps(module):
        outcome = ""
    else:
        outcome = (
            f": PEFT cannot wrap a {cls} and does not convert '{suffix}' into a parameter on "
            f"{ctx.skeleton.model_type}, so it refuses the run"
        )
    yield MOE_ROUTER_TARGETED.at(
        ctx.doc,
        f"{len(hits)} MoE router modules ('{suffix}', {cls}) are targeted{outcome}",
        ctx.targets_key,
        hint=f"name the targets in lora_target_modules without '{suffix}' (Axolotl ignores lora_exclude_modules)"
        + (f"; to adapt the router's weight anyway: lora_target_parameters: [{suffix}.weight]" if outcome else ""),
    )


MOE_EXPERTS_UNREACHED = rule(
    "moe-experts-unreached",
    W,
    Stage.REPORT,
    "MoE experts are fused parameters that no target reaches.",
    Docs(
        what="""Under transformers 5 most MoE models store experts as 3D nn.Parameters, not Linear modules,
      so lora_target_modules / lora_target_linear cannot reach them; only lora_target_parameters
      (e.g. [gate_up_proj, down_proj]) can. A warning at lora_target_linear, which promises every linear
      layer, or when the targets reach the shared experts or the router but no routed expert; information at
      lora_target_modules when an explicit list names no expert part (a choice).""",
        why="Most of an MoE model's parameters are in its experts; without them the adapter trains far less than it seems.",
        fix="Add lora_target_parameters naming the experts' fused parameters (e.g. [gate_up_proj, down_proj]).",
        source="peft/tuners/lora/config.py target_parameters; lora_compiler/model_facts.py fused experts",
    ),
    other_levels=(Severity.INFO,),
)


@MOE_EXPERTS_UNREACHED.checks
def moe_experts_unreached(ctx: Context) -> Iterable[Finding]:
    fused = sorted({f"{path.rsplit('.', 1)[-1]}.{pname}" for path, _, pname, _ in fused_experts(ctx.skeleton.model)})
    if fused and not any(m.kind == "parameter" for m in ctx.report.modules):
        # lora_target_linear promises every linear layer and misses the experts, and targets that reach the
        # shared experts or the router look meant for the MoE block: warnings. An explicit target list that
        # names no expert part is a choice: said, at its line, as information.
        linear = bool(ctx.spec.lora_target_linear)
        moe = sorted(
            {k for e in (ctx.report.coverage.entries if ctx.report.coverage else ()) for k in e.blocks}
            & {"shared experts", "router"}
        )
        key = (
            "lora_target_linear"
            if linear
            else ("lora_target_modules" if "lora_target_modules" in ctx.doc.values else "adapter")
        )
        reach = f"the targets reach the {' and '.join(moe)} but" if moe else "no target reaches them:"
        yield MOE_EXPERTS_UNREACHED.at_level(W if linear or moe else Severity.INFO).at(
            ctx.doc,
            f"the routed experts of {ctx.skeleton.architecture} are fused 3D "
            f"parameters ({', '.join(fused)}) and {reach} only attention and dense layers are adapted"
            if not moe
            else f"the routed experts of {ctx.skeleton.architecture} are fused 3D parameters "
            f"({', '.join(fused)}); {reach} none of them",
            key,
            hint=f"to adapt experts: lora_target_parameters: [{', '.join(fused)}] with lora_dropout: 0",
        )


MOE_LINEAR_TARGETS_DROPPED = rule(
    "moe-linear-targets-dropped",
    W,
    Stage.REPORT,
    "PEFT dropped Linear targets while converting expert targets.",
    Docs(
        what="""When PEFT 0.21 rewrites expert target_modules into fused target_parameters it removes those names
      from target_modules altogether, so dense MLP and shared-expert Linear layers of the same name
      (e.g. DeepSeek's first dense layers) are not adapted. PEFT 0.22 keeps a name that also reaches Linear
      layers (its PRs 3711 and 3945): the finding reads what the installed PEFT wrapped, so it is silent there.""",
        why="Dense and shared-expert layers the target names also reach are silently left out of the adapter.",
        fix="Name those dense layers with a regex in lora_target_modules that PEFT does not convert, or accept the dropped layers.",
        source="peft/tuners/lora/model.py (MoE target_modules to target_parameters conversion)",
    ),
)


@MOE_LINEAR_TARGETS_DROPPED.checks
def moe_linear_targets_dropped(ctx: Context) -> Iterable[Finding]:
    asked, kept = ctx.report.target_modules, ctx.report.effective_target_modules
    if isinstance(asked, str) or isinstance(kept, str) or not ctx.report.effective_target_parameters:
        return
    dropped = sorted(set(asked) - set(kept or []))
    wrapped = {m.name for m in ctx.report.modules}
    left = [
        n
        for n, mod in ctx.skeleton.model.named_modules()
        if n.rsplit(".", 1)[-1] in dropped and is_linear_like(mod) and n not in wrapped
    ]
    if left:
        yield MOE_LINEAR_TARGETS_DROPPED.at(
            ctx.doc,
            f"PEFT moved {', '.join(dropped)} to fused expert parameters "
            f"and no longer wraps {len(left)} Linear layers of those names (e.g. {left[0]})",
            ctx.targets_key,
            hint="this is PEFT's behaviour under transformers 5; target those layers by regex if needed",
        )


TIED_EMBEDDINGS_PARTIAL = rule(
    "tied-embeddings-partial",
    W,
    Stage.MODEL,
    "Tied input/output embeddings with only one in modules_to_save.",
    Docs(
        what="""With tie_word_embeddings the input embedding and the output layer share one matrix; saving
      only one of them in full unties them during training (or, with peft_ensure_weight_tying,
      trains both through one copy). Name both, or neither.""",
        why="Saving one of two tied matrices in full unties them during training, or trains both through one copy.",
        fix="List both embed_tokens and lm_head in lora_modules_to_save, or neither.",
        source="peft/utils/other.py ModulesToSaveWrapper; transformers tie_word_embeddings",
    ),
)


@TIED_EMBEDDINGS_PARTIAL.checks
def tied_embeddings_partial(ctx: Context) -> Iterable[Finding]:
    config = ctx.skeleton.config
    tied = ties_embeddings(config)
    saved = set(ctx.spec.lora_modules_to_save or [])
    pair = set(ctx.profile.embedding_layers(ctx.skeleton.model_type))
    if tied and len(saved & pair) == 1:
        yield TIED_EMBEDDINGS_PARTIAL.at(
            ctx.doc,
            f"{ctx.skeleton.architecture} ties its input and output "
            f"embeddings, but lora_modules_to_save names only {', '.join(saved & pair)}",
            "lora_modules_to_save",
            hint=f"list both {' and '.join(sorted(pair))}, or set peft_ensure_weight_tying: true",
        )
