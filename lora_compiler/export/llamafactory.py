"""LLaMA-Factory 0.9.5: a training YAML for `llamafactory-cli train` (hparams/finetuning_args.py keys).

model/adapter.py::_setup_lora_tuning passes PEFT only r, target_modules (always a list: a regex is
never possible), lora_alpha, lora_dropout, use_rslora, use_dora, modules_to_save (`additional_target`)
and, with pissa_init, init_lora_weights; FinetuningArguments.__post_init__ replaces a missing or zero
lora_alpha with 2 x lora_rank, so alpha is always written. For the composite (vision) model types of
model/model_utils/visual.py, patch_target_modules then turns every target into the full names that
contain it, dropping the frozen towers (freeze_vision_tower / freeze_multi_modal_projector, both on by
default) and the model's LoRA-conflict keys; the export unfreezes what the YAML adapts and refuses what
LLaMA-Factory can never adapt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .carry import precision, refuse_missing
from .convention import Convention, model_of, replace_targets, selects_nothing
from .core import Draft, Subject, Trainer

if TYPE_CHECKING:
    from ..engine.options import Options
    from ..engine.session import Session
    from ..pipeline.document import Document
    from ..results.findings import Finding

# visual.py COMPOSITE_MODELS in 0.9.5: model_type -> (projector_keys, vision_model_keys, lora_conflict_keys);
# every test is a substring test on the full module name.
COMPOSITE: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "dots_ocr": (("vision_tower.merger",), ("vision_tower",), ("merger",)),
    "gemma3": (("multi_modal_projector",), ("vision_tower",), ()),
    "gemma3n": (
        ("multi_modal_projector",),
        ("vision_tower", "audio_tower"),
        ("timm_model", "subsample_conv_projection"),
    ),
    "gemma4": (
        ("model.embed_vision", "model.embed_audio"),
        ("vision_tower", "audio_tower"),
        ("per_layer_projection_norm",),
    ),
    "glm4v": (("visual.merger",), ("visual.patch_embed", "visual.blocks"), ("patch_embed",)),
    "glm4v_moe": (("visual.merger",), ("visual.patch_embed", "visual.blocks"), ("patch_embed",)),
    "glm_ocr": (("visual.merger",), ("visual.patch_embed", "visual.blocks"), ("patch_embed",)),
    "internvl": (("multi_modal_projector",), ("vision_tower",), ()),
    "interns1": (("multi_modal_projector",), ("vision_tower",), ()),
    "Keye": (("mlp_AR",), ("visual.vision_model.patch_embedding", "visual.vision_model.encoder"), ("patch_embedding",)),
    "kimi_vl": (("multi_modal_projector",), ("vision_tower",), ()),
    "llama4": (("multi_modal_projector",), ("vision_model",), ()),
    "llava": (("multi_modal_projector",), ("vision_tower",), ()),
    "llava_next": (("multi_modal_projector",), ("vision_tower",), ()),
    "llava_next_video": (("multi_modal_projector",), ("vision_tower",), ()),
    "minicpmv": (("resampler",), ("vpm",), ()),
    "minicpmv4_6": (("model.merger",), ("model.vision_tower",), ()),
    "minicpmo": (
        ("resampler",),
        ("vpm", "apm", "audio_avg_pooler", "audio_projection_layer", "tts"),
        ("audio_projection_layer",),
    ),
    "mistral3": (("model.multi_modal_projector",), ("vision_tower",), ()),
    "mllama": (("multi_modal_projector",), ("vision_model",), ()),
    "paligemma": (("multi_modal_projector",), ("vision_tower",), ()),
    "qwen2_audio": (("multi_modal_projector",), ("audio_tower",), ()),
    "qwen2_5_omni_thinker": (
        ("visual.merger", "audio_tower.proj"),
        ("visual.patch_embed", "visual.blocks", "audio_tower"),
        ("patch_embed",),
    ),
    "qwen2_vl": (("visual.merger",), ("visual.patch_embed", "visual.blocks"), ("patch_embed",)),
    "qwen2_5_vl": (("visual.merger",), ("visual.patch_embed", "visual.blocks"), ("patch_embed",)),
    "qwen3_vl": (
        ("visual.merger",),
        ("visual.pos_embed", "visual.patch_embed", "visual.blocks", "visual.deepstack_merger_list"),
        ("patch_embed",),
    ),
    "qwen3_vl_moe": (
        ("visual.merger",),
        ("visual.pos_embed", "visual.patch_embed", "visual.blocks", "visual.deepstack_merger_list"),
        ("patch_embed",),
    ),
    "qwen3_omni_moe_thinker": (
        ("visual.merger", "audio_tower.proj"),
        ("visual.pos_embed", "visual.patch_embed", "visual.blocks", "visual.deepstack_merger_list", "audio_tower"),
        ("patch_embed",),
    ),
    "qwen3_5": (
        ("model.visual.merger",),
        ("visual.pos_embed", "visual.patch_embed", "visual.blocks"),
        ("patch_embed",),
    ),
    "qwen3_5_moe": (
        ("model.visual.merger",),
        ("visual.pos_embed", "visual.patch_embed", "visual.blocks"),
        ("patch_embed",),
    ),
    "video_llava": (("multi_modal_projector",), ("vision_tower",), ()),
}
# misc.py::find_all_linear_modules: output layers it skips besides lm_head, by model type.
OUTPUT_LAYER = {"chatglm": "output_layer", "internlm2": "output"}
CARRIED = frozenset({"use_dora", "use_rslora", "modules_to_save", "init_lora_weights"})
_HINT = "drop the key from the YAML, or export --to peft and load that LoraConfig yourself"
_LIST_AS_TEXT = 10  # up to this many targets are written comma-separated, as LLaMA-Factory's examples do


def all_linear(model: Any, freeze_vision_tower: bool = True) -> list[str]:
    """misc.py::find_all_linear_modules: the last name of every module whose class name contains "Linear"
    but not "Embedding", outside lm_head, the model type's output layer, a projector and (frozen) a vision tower."""
    model_type = getattr(model.config, "model_type", "")
    projector, vision, _ = COMPOSITE.get(model_type, ((), (), ()))
    skip = (
        "lm_head",
        *([OUTPUT_LAYER[model_type]] if model_type in OUTPUT_LAYER else []),
        *projector,
        *(vision if freeze_vision_tower else ()),
    )
    return sorted(
        {
            name.split(".")[-1]
            for name, module in model.named_modules()
            if not any(s in name for s in skip)
            and "Linear" in type(module).__name__
            and "Embedding" not in type(module).__name__
        }
    )


def patch_targets(
    model: Any, targets: list[str], freeze_vision: bool = True, freeze_projector: bool = True
) -> list[str]:
    """visual.py::patch_target_modules: on a composite model, the full names containing a target, minus the
    frozen parts and the LoRA-conflict keys; other models get `targets` unchanged."""
    model_type = getattr(model.config, "model_type", None)
    if model_type not in COMPOSITE:
        return targets
    projector, vision, conflict = COMPOSITE[model_type]
    forbidden = (*(vision if freeze_vision else ()), *(projector if freeze_projector else ()), *conflict)
    return [
        name
        for name, _ in model.named_modules()
        if any(t in name for t in targets) and not any(f in name for f in forbidden)
    ]


def _draft(subject: Subject) -> Draft:
    cfg, spec, model = subject.config, subject.spec, subject.model
    draft = Draft({})
    refuse_missing(subject, draft, "LLaMA-Factory", CARRIED, _HINT)
    init = cfg.get("init_lora_weights", True)
    pissa = isinstance(init, str) and (init == "pissa" or init.startswith("pissa_niter_"))
    if init is not True and not pissa:
        draft.refuse(
            subject,
            f"LLaMA-Factory has no key for init_lora_weights {init!r}",
            "only PEFT's default and PiSSA (pissa_init) can be asked for",
            "init_lora_weights",
            _HINT,
        )
    if pissa and subject.quantized():
        draft.refuse(
            subject,
            "LLaMA-Factory refuses PiSSA on a quantized model (hparams/parser.py)",
            "it asks for scripts/pissa_init.py and an adapter instead",
            "init_lora_weights",
            _HINT,
        )
    if cfg["lora_alpha"] == 0:
        draft.refuse(
            subject,
            "LLaMA-Factory reads lora_alpha 0 as 2 x lora_rank",
            "alpha 0 cannot be written",
            "lora_alpha",
            "set lora_alpha to the value you mean",
        )
    wanted = subject.module_names()
    names = [n for n, _ in model.named_modules() if n]
    unfreeze = _towers(subject, wanted)
    if unfreeze is None:
        draft.refuse(
            subject,
            "LLaMA-Factory never puts LoRA on " + ", ".join(_conflicts(subject, wanted)[:3]),
            f"they hold a LoRA-conflict key of {subject.model_type} (model/model_utils/visual.py)",
            "target_modules",
            "leave those modules out of the targets",
        )
        return draft
    target = _target(subject, wanted, names, unfreeze)
    if target is None:
        draft.refuse(
            subject,
            "no lora_target list selects exactly the modules this YAML trains",
            "LLaMA-Factory's name matching reaches other modules too",
            "target_modules",
            _HINT,
        )
        return draft
    if draft.findings:
        return draft
    written, resolved, form = target
    if form == "all" and not subject.spec.lora_target_linear:
        draft.rewritten(
            subject,
            f"lora_target written as all: LLaMA-Factory's own rule reaches the same {len(wanted)} module(s)",
            "target_modules",
        )
    elif form not in ("all", "as-compiled"):
        draft.rewritten(
            subject,
            f"lora_target written as {form} ({len(wanted)} module(s)): LLaMA-Factory takes "
            "names, never a regex, exclude_modules or layers_to_transform",
            "target_modules",
        )
    fields: dict[str, Any] = {"model_name_or_path": spec.base_model}
    if spec.trust_remote_code:
        fields["trust_remote_code"] = True
    bits = subject.quantized()
    if bits:  # model/model_utils/quantization.py: bitsandbytes, Axolotl's nf4 with double quantisation
        fields.update(quantization_bit=bits, quantization_method="bnb")
        if bits == 4:
            fields.update(quantization_type="nf4", double_quantization=True)
    fields.update(
        stage="sft",
        do_train=True,
        finetuning_type="lora",
        lora_rank=cfg["r"],
        lora_alpha=cfg["lora_alpha"],
        lora_dropout=cfg["lora_dropout"],
        lora_target=",".join(written) if len(written) <= _LIST_AS_TEXT else list(written),
    )
    if cfg.get("modules_to_save"):
        fields["additional_target"] = ",".join(cfg["modules_to_save"])
    if cfg.get("use_rslora"):
        fields["use_rslora"] = True
    if cfg.get("use_dora"):
        fields["use_dora"] = True
    if pissa:
        fields.update(pissa_init=True, pissa_iter=-1 if init == "pissa" else int(init.rsplit("_", 1)[1]))
    for key, value in unfreeze.items():
        fields[key] = value
        draft.rewritten(
            subject, f"{key}: false, because the YAML adapts modules LLaMA-Factory freezes by default", "target_modules"
        )
    if dtype := precision(spec):
        fields[{"bfloat16": "bf16", "float16": "fp16"}[dtype]] = True
    draft.fields = fields
    draft.peft = dict(
        r=cfg["r"],
        target_modules=resolved,
        lora_alpha=cfg["lora_alpha"],
        lora_dropout=cfg["lora_dropout"],
        use_rslora=bool(cfg.get("use_rslora")),
        use_dora=bool(cfg.get("use_dora")),
        modules_to_save=cfg.get("modules_to_save"),
    )
    return draft


def _towers(subject: Subject, wanted: list[str]) -> dict[str, bool] | None:
    """The freeze flags to turn off so the YAML's modules stay targets; None when a conflict key blocks one."""
    if subject.model_type not in COMPOSITE:
        return {}
    projector, vision, _ = COMPOSITE[subject.model_type]
    if _conflicts(subject, wanted):
        return None
    out = {}
    if any(v in n for n in wanted for v in vision):
        out["freeze_vision_tower"] = False
    if any(p in n for n in wanted for p in projector):
        out["freeze_multi_modal_projector"] = False
    return out


def _conflicts(subject: Subject, wanted: list[str]) -> list[str]:
    conflict = COMPOSITE.get(subject.model_type, ((), (), ()))[2]
    return [n for n in wanted if any(c in n for c in conflict)]


def _target(
    subject: Subject, wanted: list[str], names: list[str], unfreeze: dict[str, bool]
) -> tuple[list[str], list[str], str] | None:
    """(what lora_target says, the list PEFT then gets, the form's name): `all`, the compile's own list, last
    names, full names; the first whose resolution PEFT maps onto exactly `wanted`."""
    from ..model_facts import peft_selected

    cfg, model = subject.config, subject.model
    flags = {
        "freeze_vision": "freeze_vision_tower" not in unfreeze,
        "freeze_projector": "freeze_multi_modal_projector" not in unfreeze,
    }
    listed = cfg.get("target_modules")
    plain = isinstance(listed, list) and not cfg.get("exclude_modules") and cfg.get("layers_to_transform") is None
    candidates: list[tuple[list[str], list[str], str]] = [(["all"], all_linear(model, flags["freeze_vision"]), "all")]
    if plain and isinstance(listed, list):
        candidates.append((sorted(listed), sorted(listed), "as-compiled"))
    candidates += [
        (sorted({n.rsplit(".", 1)[-1] for n in wanted}), [], "their last names"),
        (wanted, [], "their full names"),
    ]
    for written, resolved, form in candidates:
        resolved = patch_targets(model, resolved or written, **flags)
        if resolved and sorted(peft_selected(names, resolved)) == wanted:
            return written, resolved, form
    return None


def _python(draft: Draft) -> str:
    from .render import call

    return "from llamafactory.train.tuner import run_exp\n\n" + call("dict", "args", draft.fields) + "run_exp(args)\n"


def _all(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """`lora_target: all` (model/adapter.py::_setup_lora_tuning, default finetuning args): find_all_linear_modules,
    then patch_target_modules, with its default freeze flags."""
    model = model_of(doc, options, session)
    if model is None:  # compile will fail at the same step and report why
        return replace_targets(doc, [], "llamafactory-all")
    targets = sorted(patch_targets(model, all_linear(model)))
    if not targets:
        return selects_nothing(
            doc,
            "llamafactory-all",
            "llamafactory-all finds no module whose class name contains 'Linear' outside the "
            "output layer, vision tower and projector",
            "adapter",
        )
    return replace_targets(doc, targets, "llamafactory-all")


TRAINER = Trainer(
    name="llamafactory",
    label="LLaMA-Factory",
    command="llamafactory-cli train",
    package="llamafactory",
    version="0.9.5",
    source="hparams/finetuning_args.py, model/adapter.py, model/model_utils/{misc,visual}.py",
    stem="llamafactory",
    formats=("yaml", "python"),
    draft=_draft,
    python=_python,
    convention=Convention("llamafactory-all", "lora_target: all; vision tower and projector frozen", _all),
    proof=(),
    proved_in_ci=True,
)
