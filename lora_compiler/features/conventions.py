"""Target-selection conventions: what "train every linear layer" means in Axolotl, PEFT and LLaMA-Factory.

Each convention rewrites only the target keys of a parsed config (r, alpha, patterns, exclusions,
layers_to_transform and everything else stay as written), then the config is compiled as usual, so
PEFT itself decides what is wrapped. Unsloth is not offered: its selection lives in
unsloth_zoo.peft_utils.get_peft_regex plus MoE detection in unsloth/models/vision.py
(FastVisionModel.get_peft_model) and a separate path in unsloth/models/llama.py, too many moving
rules to restate faithfully here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from ..pipeline.document import Document
from ..pipeline.options import Options
from ..pipeline.session import Session
from ..results.findings import Finding, Severity

_TARGET_KEYS = ("lora_target_linear", "lora_target_modules")

# LLaMA-Factory @ ff6d4d12eeb035d6ce06805a5733dd7b29f2ac30, src/llamafactory/model/model_utils/visual.py,
# COMPOSITE_MODELS: model_type -> (projector_keys + vision_model_keys, lora_conflict_keys). With
# LLaMA-Factory's defaults (freeze_vision_tower and freeze_multi_modal_projector true) the first group
# never receives LoRA; the conflict keys are excluded only when the target list is expanded.
_LF_COMPOSITE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dots_ocr": (("vision_tower.merger", "vision_tower"), ("merger",)),
    "gemma3": (("multi_modal_projector", "vision_tower"), ()),
    "gemma3n": (("multi_modal_projector", "vision_tower", "audio_tower"), ("timm_model", "subsample_conv_projection")),
    "gemma4": (("model.embed_vision", "model.embed_audio", "vision_tower", "audio_tower"),
               ("per_layer_projection_norm",)),
    "glm4v": (("visual.merger", "visual.patch_embed", "visual.blocks"), ("patch_embed",)),
    "glm4v_moe": (("visual.merger", "visual.patch_embed", "visual.blocks"), ("patch_embed",)),
    "glm_ocr": (("visual.merger", "visual.patch_embed", "visual.blocks"), ("patch_embed",)),
    "internvl": (("multi_modal_projector", "vision_tower"), ()),
    "interns1": (("multi_modal_projector", "vision_tower"), ()),
    "Keye": (("mlp_AR", "visual.vision_model.patch_embedding", "visual.vision_model.encoder"), ("patch_embedding",)),
    "kimi_vl": (("multi_modal_projector", "vision_tower"), ()),
    "llama4": (("multi_modal_projector", "vision_model"), ()),
    "llava": (("multi_modal_projector", "vision_tower"), ()),
    "llava_next": (("multi_modal_projector", "vision_tower"), ()),
    "llava_next_video": (("multi_modal_projector", "vision_tower"), ()),
    "minicpmv": (("resampler", "vpm"), ()),
    "minicpmv4_6": (("model.merger", "model.vision_tower"), ()),
    "minicpmo": (("resampler", "vpm", "apm", "audio_avg_pooler", "audio_projection_layer", "tts"),
                 ("audio_projection_layer",)),
    "mistral3": (("model.multi_modal_projector", "vision_tower"), ()),
    "moss_vl": (("model.visual.merger", "model.separator_token", "model.visual.pos_embed", "model.visual.patch_embed",
                 "model.visual.blocks"), ("patch_embed",)),
    "mllama": (("multi_modal_projector", "vision_model"), ()),
    "paligemma": (("multi_modal_projector", "vision_tower"), ()),
    "qwen2_audio": (("multi_modal_projector", "audio_tower"), ()),
    "qwen2_5_omni_thinker": (("visual.merger", "audio_tower.proj", "visual.patch_embed", "visual.blocks",
                              "audio_tower"), ("patch_embed",)),
    "qwen2_vl": (("visual.merger", "visual.patch_embed", "visual.blocks"), ("patch_embed",)),
    "qwen2_5_vl": (("visual.merger", "visual.patch_embed", "visual.blocks"), ("patch_embed",)),
    "qwen3_vl": (("visual.merger", "visual.pos_embed", "visual.patch_embed", "visual.blocks",
                  "visual.deepstack_merger_list"), ("patch_embed",)),
    "qwen3_vl_moe": (("visual.merger", "visual.pos_embed", "visual.patch_embed", "visual.blocks",
                      "visual.deepstack_merger_list"), ("patch_embed",)),
    "qwen3_omni_moe_thinker": (("visual.merger", "audio_tower.proj", "visual.pos_embed", "visual.patch_embed",
                                "visual.blocks", "visual.deepstack_merger_list", "audio_tower"), ("patch_embed",)),
    "qwen3_5": (("model.visual.merger", "visual.pos_embed", "visual.patch_embed", "visual.blocks"), ("patch_embed",)),
    "qwen3_5_moe": (("model.visual.merger", "visual.pos_embed", "visual.patch_embed", "visual.blocks"),
                    ("patch_embed",)),
    "video_llava": (("multi_modal_projector", "vision_tower"), ()),
}
# find_all_linear_modules: output layers it skips besides lm_head, by model type.
_LF_OUTPUT = {"chatglm": "output_layer", "internlm2": "output"}

Rewrite = Callable[[Document, Options, Session], tuple[dict[str, Any], list[Finding]]]


@dataclass(frozen=True)
class Convention:
    name: str
    summary: str  # one line for legends: the key it stands for and its rule
    rewrite: Rewrite  # (document, options, session) -> (new values, notes)

    def apply(self, doc: Document, options: Options, session: Session) -> tuple[Document, list[Finding]]:
        """The document with this convention's target keys; notes say what it replaced."""
        values, notes = self.rewrite(doc, options, session)
        return replace(doc, values=values), notes


def _axolotl(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """Axolotl: lora_target_linear: true, unioned with lora_target_modules as written (targets.py)."""
    return {**doc.values, "lora_target_linear": True}, []


def _peft_all_linear(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """PEFT's own shorthand, so PEFT's exact semantics: tuners_utils._maybe_include_all_linear_layers
    (v0.20) takes every torch.nn.Linear and transformers Conv1D by full name, anywhere in the model
    (vision towers included), minus the output embedding found by identity; on MoE models whose experts
    transformers 5 fuses, transformers_weight_conversion._resolve_string_target_modules also adds the
    experts and the router as parameter targets."""
    return _replace_targets(doc, "all-linear", "peft-all-linear")


def _llamafactory_all(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """LLaMA-Factory `lora_target: all` (model/adapter.py::_setup_lora_tuning, default finetuning args)."""
    model = _skeleton(doc, options, session)
    if model is None:  # compile will fail at the same step and report why
        return _replace_targets(doc, [], "llamafactory-all")
    values, notes = _replace_targets(doc, llamafactory_targets(model), "llamafactory-all")
    if not values["lora_target_modules"]:
        notes.append(doc.finding(
            "convention-empty", "llamafactory-all finds no module whose class name contains 'Linear' outside the "
            "output layer, vision tower and projector", ("adapter",), Severity.INFO))
    return values, notes


def llamafactory_targets(model: Any) -> list[str]:
    """LLaMA-Factory's names for `lora_target: all`, as two of its functions compute them.

    misc.py::find_all_linear_modules: the last name of every module whose class name contains "Linear"
    but not "Embedding", skipping modules whose full name contains "lm_head" (or the chatglm/internlm2
    output layer) or, for composite models, a projector or vision key (substring tests throughout).
    visual.py::patch_target_modules: for composite models, every module whose full name contains one of
    those names and none of the projector, vision or LoRA-conflict keys, by full name.
    """
    model_type = getattr(model.config, "model_type", None)
    frozen, conflict = _LF_COMPOSITE.get(model_type, ((), ()))
    skip = ("lm_head", *([_LF_OUTPUT[model_type]] if model_type in _LF_OUTPUT else []), *frozen)
    names = {
        name.split(".")[-1]
        for name, module in model.named_modules()
        if not any(s in name for s in skip)
        and "Linear" in type(module).__name__ and "Embedding" not in type(module).__name__
    }
    if model_type not in _LF_COMPOSITE:
        return sorted(names)
    return sorted(
        name for name, _ in model.named_modules()
        if any(t in name for t in names) and not any(s in name for s in (*frozen, *conflict))
    )


def _replace_targets(doc: Document, targets: list[str] | str, convention: str) -> tuple[dict[str, Any], list[Finding]]:
    values = {k: v for k, v in doc.values.items() if k not in _TARGET_KEYS}
    values["lora_target_modules"] = targets
    written = doc.values.get("lora_target_modules")
    notes = []
    if written:
        notes.append(doc.finding(
            "convention-replaced", f"{convention} replaces lora_target_modules {written!r}: it selects targets by its "
            "own rule and cannot add names to it", ("lora_target_modules",), Severity.INFO))
    return values, notes


def _skeleton(doc: Document, options: Options, session: Session) -> Any:
    """The meta model compile builds for this document (shared through `session`), or None."""
    from ..pipeline.front import front

    start = front(doc, options, session)
    return start.skeleton.model if start.skeleton is not None else None


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention("axolotl", "lora_target_linear: Linear-like classes, minus lm_head by name", _axolotl),
        Convention("peft-all-linear", "all-linear: nn.Linear and Conv1D, minus the output layer", _peft_all_linear),
        Convention("llamafactory-all", "lora_target: all; vision tower and projector frozen", _llamafactory_all),
    )
}
