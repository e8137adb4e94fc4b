"""TRL 1.16.0: a `--config` YAML for TrlParser, keys of `ModelConfig` (and SFTConfig's trust_remote_code).

trl/trainer/utils.py::get_peft_config passes PEFT only task_type, r, target_modules, lora_alpha,
lora_dropout, use_rslora, use_dora, modules_to_save and target_parameters, with bias fixed to "none"
and PEFT's default initialisation; anything else has no key (refused, with `--to peft` as the way to
hand SFTTrainer a full LoraConfig). trl/trainer/model_config.py::ModelConfig.__post_init__ turns a
one-item lora_target_modules list into a bare string, which PEFT reads as a full-match regex, so one
name is written as the regex that means the same. Defaults differ from Axolotl's (lora_alpha 32,
lora_dropout 0.05), so every value is written out.
"""

from __future__ import annotations

import re

from .carry import precision, refuse_missing
from .core import Draft, Subject, Trainer
from .targets import choose, describe

CARRIED = frozenset({"use_dora", "use_rslora", "modules_to_save", "target_parameters"})
_HINT = (
    "export --to peft and pass that LoraConfig to SFTTrainer(peft_config=...), which keeps every field, "
    "or drop the key from the YAML"
)


def _draft(subject: Subject) -> Draft:
    cfg, spec = subject.config, subject.spec
    draft = Draft({})
    refuse_missing(subject, draft, "TRL's ModelConfig", CARRIED, _HINT)
    targeting = choose(subject, regex=True, exclude=False, layers=False)
    if targeting is None:
        draft.refuse(
            subject,
            "no target list of TRL's selects exactly the modules this YAML trains",
            "the names reach other modules too",
            "target_modules",
            _HINT,
        )
        return draft
    if targeting.replaced:
        draft.rewritten(
            subject,
            "lora_target_modules written as " + describe(targeting, len(subject.module_names())),
            targeting.replaced[0],
        )
    modules = targeting.target_modules
    if isinstance(modules, list) and len(modules) == 1:  # ModelConfig would unwrap it into a regex
        modules = rf"(.*\.)?{re.escape(modules[0])}"
    fields: dict[str, object] = {"model_name_or_path": spec.base_model}
    if spec.revision_of_model:
        fields["model_revision"] = spec.revision_of_model
    if dtype := precision(spec):
        fields["dtype"] = dtype
    fields.update(
        use_peft=True,
        lora_r=cfg["r"],
        lora_alpha=cfg["lora_alpha"],
        lora_dropout=cfg["lora_dropout"],
        lora_target_modules=modules or None,
        lora_task_type=cfg["task_type"],
    )
    if cfg.get("target_parameters"):
        fields["lora_target_parameters"] = list(cfg["target_parameters"])
    if cfg.get("modules_to_save"):
        fields["lora_modules_to_save"] = list(cfg["modules_to_save"])
    fields.update(use_rslora=bool(cfg.get("use_rslora")), use_dora=bool(cfg.get("use_dora")))
    bits = subject.quantized()
    if bits == 4:  # Axolotl's 4-bit load: nf4 with double quantisation (loaders/model.py)
        fields.update(load_in_4bit=True, bnb_4bit_quant_type="nf4", use_bnb_nested_quant=True)
    elif bits == 8:
        fields["load_in_8bit"] = True
    if spec.trust_remote_code:
        fields["trust_remote_code"] = True  # an SFTConfig field; TrlParser reads every dataclass's keys
    draft.fields = fields
    draft.peft = peft_kwargs(fields)
    return draft


def peft_kwargs(fields: dict[str, object]) -> dict[str, object]:
    """get_peft_config(ModelConfig(**fields)) restated: the LoraConfig keywords TRL passes."""
    out = dict(
        task_type=fields["lora_task_type"],
        r=fields["lora_r"],
        target_modules=fields["lora_target_modules"],
        lora_alpha=fields["lora_alpha"],
        lora_dropout=fields["lora_dropout"],
        bias="none",
        use_rslora=fields["use_rslora"],
        use_dora=fields["use_dora"],
        modules_to_save=fields.get("lora_modules_to_save"),
    )
    if fields.get("lora_target_parameters") is not None:
        out["target_parameters"] = fields["lora_target_parameters"]
    return out


TRAINER = Trainer(
    name="trl",
    label="TRL",
    command="TrlParser --config",
    package="trl",
    version="1.16.0",
    source="trl/trainer/model_config.py (ModelConfig), trl/trainer/utils.py (get_peft_config)",
    stem="trl",
    formats=("yaml", "json"),
    draft=_draft,
    proof=("peft==0.21.2",),  # peft as constraints.txt pins it
    proved_in_ci=True,
)
