"""ms-swift 4.6.0: a config file for `swift sft CONFIG.yaml` (swift/arguments/tuner_args.py keys).

swift/pipelines/train/tuner.py::prepare_adapter passes PEFT r (lora_rank), target_modules (a list, or
target_regex as a full-match string, which replaces the list), lora_alpha, lora_dropout, bias (lora_bias:
none or all), modules_to_save, use_rslora, use_dora, init_lora_weights (init_weights) and
target_parameters. Its defaults differ from Axolotl's (lora_rank 8, lora_alpha 32, lora_dropout 0.05),
so every value is written. `all-linear` is written only where swift's own rule (find_all_linears, restated
below) reaches exactly the YAML's modules on a text model: on a multimodal model it becomes a
language-model-only regex unless freeze_vit / freeze_aligner are off, so there the names are listed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .carry import precision, refuse_missing
from .convention import Convention, replace_targets, selects_nothing, start
from .core import Draft, Subject, Trainer
from .targets import choose, describe

if TYPE_CHECKING:
    from ..engine.options import Options
    from ..engine.session import Session
    from ..pipeline.document import Document
    from ..results.findings import Finding

CARRIED = frozenset({"use_dora", "use_rslora", "modules_to_save", "target_parameters", "init_lora_weights"})
_INITS = ("gaussian", "pissa", "olora")  # init_weights values swift passes on and PEFT runs without more config
_HINT = "drop the key from the YAML, or export --to peft and load that LoraConfig yourself"
_MAMBA = {"falcon_h1", "mamba", "mamba2", "falcon_mamba", "nemotron_h"}  # tuner.py::_MAMBA_MODEL_TYPES


def all_linear(model: Any) -> list[str]:
    """swift/utils/transformers_utils.py::find_all_linears (lm_head named lm_head) with find_layers' shortest
    unambiguous suffixes, minus tuner.py's Mamba-incompatible names."""
    ignore = ("lm_head", "score", "v_head", "classifier", "lora_A", "lora_B", "base_layer")

    def cond(name: str, module: Any) -> bool:
        cls = type(module).__name__.lower()
        return (
            "linear" in cls
            and "glulinear" not in cls
            and "gemma4clippablelinear" not in cls
            and all(layer not in name for layer in ignore)
        )

    inner = {re.sub(r"\d+\.", "{}.", n) for n, m in model.named_modules() if not cond(re.sub(r"\d+\.", "{}.", n), m)}
    found = set()
    for name, module in model.named_modules():
        if not cond(name, module):
            continue
        parts = name.split(".")
        leaf = parts.pop()
        for node in inner:
            while parts and node.endswith(re.sub(r"\d+\.", "{}.", leaf)):
                leaf = f"{parts.pop()}.{leaf}"
        found.add(leaf)
    if getattr(model.config, "model_type", None) in _MAMBA:
        found -= {"out_proj", "conv1d"}
    return sorted(found)


def _draft(subject: Subject) -> Draft:
    from ..model_facts import peft_selected

    cfg, spec, model = subject.config, subject.spec, subject.model
    draft = Draft({})
    refuse_missing(subject, draft, "ms-swift", CARRIED, _HINT)
    init = cfg.get("init_lora_weights", True)
    if init is not True and not (isinstance(init, str) and (init in _INITS or init.startswith("pissa_niter_"))):
        draft.refuse(
            subject,
            f"ms-swift cannot ask PEFT for init_lora_weights {init!r}",
            "init_weights passes only true/false/gaussian/pissa/olora on (loftq lacks its loftq_config there)",
            "init_lora_weights",
            _HINT,
        )
    if draft.findings:
        return draft
    wanted = subject.module_names()
    names = [n for n, _ in model.named_modules() if n]
    fields: dict[str, Any] = {"model": spec.base_model, "tuner_type": "lora"}
    resolved: list[str] | str
    if not subject.report.model.is_multimodal and wanted and sorted(peft_selected(names, all_linear(model))) == wanted:
        fields["target_modules"], resolved = ["all-linear"], all_linear(model)
    else:
        targeting = choose(subject, regex=True, exclude=False, layers=False)
        if targeting is None:
            draft.refuse(
                subject,
                "no ms-swift target list selects exactly the modules this YAML trains",
                "the names reach other modules too",
                "target_modules",
                _HINT,
            )
            return draft
        if targeting.replaced:
            draft.rewritten(subject, "targets written as " + describe(targeting, len(wanted)), targeting.replaced[0])
        resolved = targeting.target_modules
        fields["target_regex" if isinstance(resolved, str) else "target_modules"] = resolved
    if cfg.get("target_parameters"):
        fields["target_parameters"] = list(cfg["target_parameters"])
    fields.update(lora_rank=cfg["r"], lora_alpha=cfg["lora_alpha"], lora_dropout=cfg["lora_dropout"])
    if cfg.get("modules_to_save"):
        fields["modules_to_save"] = list(cfg["modules_to_save"])
    if cfg.get("use_rslora"):
        fields["use_rslora"] = True
    if cfg.get("use_dora"):
        fields["use_dora"] = True
    if init is not True:
        fields["init_weights"] = init
    bits = subject.quantized()
    if bits:  # swift/arguments/base_args/quant_args.py; Axolotl's 4-bit load is nf4 with double quantisation
        fields.update(quant_method="bnb", quant_bits=bits)
        if bits == 4:
            fields.update(bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True)
    if dtype := precision(spec):
        fields["torch_dtype"] = dtype
    draft.fields = fields
    draft.peft = dict(
        r=cfg["r"],
        target_modules=resolved,
        lora_alpha=cfg["lora_alpha"],
        lora_dropout=cfg["lora_dropout"],
        bias="none",
        modules_to_save=cfg.get("modules_to_save"),
        use_rslora=bool(cfg.get("use_rslora")),
        use_dora=bool(cfg.get("use_dora")),
    )
    if cfg.get("target_parameters"):
        draft.peft["target_parameters"] = list(cfg["target_parameters"])
    return draft


def _all_linear(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """`target_modules: [all-linear]` on a text model (all_linear restates find_all_linears); on a multimodal one
    swift follows its own model_arch registry (swift/model/model_arch.py), not restated."""
    found = start(doc, options, session)
    if found is None:
        return replace_targets(doc, [], "ms-swift-all-linear")
    if found.is_multimodal:
        return selects_nothing(
            doc,
            "ms-swift-all-linear",
            "ms-swift's all-linear on a multimodal model follows its own "
            "model registry (language model only, by default), which is not restated here",
            "base_model",
        )
    return replace_targets(doc, all_linear(found.model), "ms-swift-all-linear")


TRAINER = Trainer(
    name="ms-swift",
    label="ms-swift",
    command="swift sft",
    package="ms-swift",
    version="4.6.0",
    source="swift/arguments/tuner_args.py, swift/pipelines/train/tuner.py, swift/utils/transformers_utils.py",
    stem="ms-swift",
    formats=("yaml", "json"),
    draft=_draft,
    convention=Convention("ms-swift-all-linear", "all-linear: class name contains Linear, minus lm_head", _all_linear),
    proof=(),
)
