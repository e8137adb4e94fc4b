"""Unsloth 2026.10.9: `FastLanguageModel.from_pretrained` and `get_peft_model` calls, as Python.

unsloth/models/llama.py::FastLlamaModel.get_peft_model (the GPU path of llama, mistral, gemma, gemma2,
qwen2 and qwen3 models) hands a target string to PEFT as a regex and every keyword it does not own to
LoraConfig; it forces task_type, allows modules_to_save only for lm_head, embed_tokens and norms, refuses
the eva initialisation and moves embed_tokens / lm_head found in a target *list* into modules_to_save.
unsloth/models/vision.py::FastBaseModel.get_peft_model (every other model) narrows an explicit list by its
finetune_* layer filters but passes a string through. So the targets are always written as one regex that
PEFT's matcher maps onto exactly the YAML's modules, which both paths hand to PEFT unchanged. Defaults
differ from Axolotl's (lora_alpha 16, from_pretrained load_in_4bit True), so every value is written.
Unsloth needs a GPU for these paths; its CPU fallback is another function, so the proof reads the GPU
signature from Unsloth's source (scripts/trainer_check.py) and lets PEFT apply the keywords.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .carry import precision, refuse_missing
from .convention import Convention, replace_targets, selects_nothing, start
from .core import Draft, Subject, Trainer
from .render import call

if TYPE_CHECKING:
    from ..engine.options import Options
    from ..engine.session import Session
    from ..pipeline.document import Document
    from ..results.findings import Finding

FAST_LLAMA = {"llama", "mistral", "gemma", "gemma2", "qwen2", "qwen3", "qwen3_moe"}  # loader.py's llama path
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")  # llama.py
CARRIED = frozenset(
    {
        "rank_pattern",
        "alpha_pattern",
        "use_dora",
        "use_rslora",
        "modules_to_save",
        "trainable_token_indices",
        "target_parameters",
        "init_lora_weights",
        "ensure_weight_tying",
        "lora_bias",
    }
)
_HINT = "drop the key from the YAML, or export --to peft"
_EMBEDDINGS = ("embed_tokens", "lm_head")


def _draft(subject: Subject) -> Draft:
    from ..model_facts import peft_selected

    cfg, spec, model = subject.config, subject.spec, subject.model
    draft = Draft({})
    refuse_missing(subject, draft, "Unsloth's get_peft_model", CARRIED, _HINT)
    fast = subject.model_type in FAST_LLAMA and not subject.report.model.is_multimodal
    init = cfg.get("init_lora_weights", True)
    if fast and init == "eva":
        draft.refuse(
            subject, "Unsloth's llama path refuses init_lora_weights 'eva'", "(llama.py)", "init_lora_weights", _HINT
        )
    if (
        init not in (True, False, "gaussian")
        and subject.quantized()
        and not (init == "olora" and subject.quantized() == 4)
    ):
        draft.refuse(
            subject,
            f"Unsloth refuses init_lora_weights {init!r} on a quantized base",
            "(_utils.py, validate_init_lora_weights)",
            "init_lora_weights",
            _HINT,
        )
    saved = cfg.get("modules_to_save") or []
    if fast and any(not (m in _EMBEDDINGS or "norm" in m) for m in saved):
        draft.refuse(
            subject,
            "Unsloth's llama path trains only lm_head, embed_tokens and norm layers as "
            f"modules_to_save, not {', '.join(m for m in saved if m not in _EMBEDDINGS)}",
            "(llama.py, get_peft_model)",
            "modules_to_save",
            "load the model with FastModel instead",
        )
    wanted = subject.module_names()
    if any(n.rsplit(".", 1)[-1] in _EMBEDDINGS for n in wanted):
        draft.refuse(
            subject,
            "Unsloth never trains LoRA on embed_tokens / lm_head",
            "its fused loss reads "
            "lm_head.weight directly and a target list moves both into modules_to_save, trained in full "
            "(_utils.py, _redirect_embedding_targets)",
            "target_modules",
            "leave embed_tokens and lm_head out of the targets, or list them in lora_modules_to_save",
        )
    if draft.findings:
        return draft
    names = [n for n, _ in model.named_modules() if n]
    regex = _regex(wanted, names, peft_selected) if wanted else None
    load: dict[str, Any] = {"model_name": spec.base_model}
    bits = subject.quantized()
    load["load_in_4bit"] = bits == 4
    if bits == 8:
        load["load_in_8bit"] = True
    dtype = precision(spec)
    if spec.trust_remote_code:
        load["trust_remote_code"] = True
    kwargs: dict[str, Any] = {"r": cfg["r"]}
    if regex is not None:
        kwargs["target_modules"] = regex
    kwargs.update(
        lora_alpha=cfg["lora_alpha"],
        lora_dropout=cfg["lora_dropout"],
        bias="none",
        use_rslora=bool(cfg.get("use_rslora")),
    )
    for key in ("modules_to_save", "rank_pattern", "alpha_pattern", "target_parameters", "trainable_token_indices"):
        if cfg.get(key):
            kwargs[key] = cfg[key]
    if init is not True:
        kwargs["init_lora_weights"] = init
    if init == "loftq":
        kwargs["loftq_config"] = cfg["loftq_config"]
    for key in ("use_dora", "lora_bias", "ensure_weight_tying"):
        if cfg.get(key):
            kwargs[key] = True
    draft.fields = {
        "from_pretrained": load,
        "dtype": dtype,
        "get_peft_model": kwargs,
        "class": "FastLanguageModel" if not subject.report.model.is_multimodal else "FastVisionModel",
    }
    draft.peft = {k: v for k, v in kwargs.items() if k != "use_rslora" or v}
    draft.peft.setdefault("target_modules", None)
    return draft


def _regex(wanted: list[str], names: list[str], selected: Any) -> str:
    """The shortest of: the last names under PEFT's dotted-suffix anchor, or the full names, that selects `wanted`."""
    leaves = sorted({n.rsplit(".", 1)[-1] for n in wanted})
    short = r"(.*\.)?(" + "|".join(re.escape(n) for n in leaves) + ")"
    if sorted(selected(names, short)) == wanted:
        return short
    return "(" + "|".join(re.escape(n) for n in wanted) + ")"


def _python(draft: Draft) -> str:
    f = draft.fields
    cls = f["class"]
    dtype = f"torch.{f['dtype']}" if f["dtype"] else None
    load = call(f"{cls}.from_pretrained", "model, tokenizer", {**f["from_pretrained"], "dtype": _Code(dtype)})
    head = "import torch\nfrom unsloth import " + cls + "\n\n" if dtype else "from unsloth import " + cls + "\n\n"
    return head + load + "\n" + call(f"{cls}.get_peft_model", "model", {"model": _Code("model"), **f["get_peft_model"]})


class _Code(str):
    """A value written as code, not as a string literal."""

    def __repr__(self) -> str:
        return str(self)


def _default(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """FastLanguageModel.get_peft_model's default list, on the models of its fast llama path; on the others it
    narrows the list by unsloth_zoo.peft_utils.get_peft_regex's layer-name filters and MoE detection, not
    restated."""
    found = start(doc, options, session)
    if found is None:
        return replace_targets(doc, [], "unsloth-default")
    if found.model_type not in FAST_LLAMA or found.is_multimodal:
        return selects_nothing(
            doc,
            "unsloth-default",
            f"Unsloth narrows its default list on {found.model_type} "
            "models by layer-name filters (get_peft_regex), which are not restated here",
            "base_model",
        )
    return replace_targets(doc, list(DEFAULT_TARGETS), "unsloth-default")


TRAINER = Trainer(
    name="unsloth",
    label="Unsloth",
    command="get_peft_model",
    package="unsloth",
    version="2026.10.9",
    source="unsloth/models/llama.py, unsloth/models/vision.py, unsloth/models/loader.py",
    stem="unsloth",
    formats=("python",),
    draft=_draft,
    python=_python,
    convention=Convention("unsloth-default", "q/k/v/o and gate/up/down projections (get_peft_model)", _default),
    proof=("scipy",),
)
