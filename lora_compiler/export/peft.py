"""PEFT itself: `LoraConfig(...)` with every field that differs from PEFT's default, as Axolotl builds it."""

from __future__ import annotations

from typing import Any

from .core import Draft, Subject, Trainer
from .render import call

# Identity and bookkeeping fields of adapter_config.json that are not LoraConfig choices.
_NOT_CHOSEN = frozenset(
    {"peft_type", "peft_version", "auto_mapping", "base_model_name_or_path", "revision", "inference_mode"}
)


_ALWAYS = ("task_type", "r", "lora_alpha", "lora_dropout", "target_modules")  # written even when PEFT's default


def chosen_fields(config: dict[str, Any]) -> dict[str, Any]:
    """The adapter config's core fields and every other field that differs from a default LoraConfig's
    (an empty value where the default is empty too counts as the default), in PEFT's field order."""
    from peft import LoraConfig

    from ..pipeline.peftcfg import adapter_config_dict

    default = adapter_config_dict(LoraConfig())
    return {
        k: v
        for k, v in config.items()
        if k not in _NOT_CHOSEN
        and (k in _ALWAYS or k not in default or (default[k] != v and not (_empty(default[k]) and _empty(v))))
    }


def _empty(value: Any) -> bool:
    return value is None or value is False or value == [] or value == {}


def _draft(subject: Subject) -> Draft:
    fields = chosen_fields(subject.config)
    draft = Draft(fields, peft=dict(fields))
    if subject.report.freezing:
        draft.lossy(
            subject,
            "a LoraConfig cannot say which parameters Axolotl's post-load freezing leaves trainable "
            "(unfrozen_parameters / freeze_mm_modules); the trainer that uses it must freeze the same way",
            "unfrozen_parameters" if subject.spec.unfrozen_parameters else "freeze_mm_modules",
        )
    return draft


def _python(draft: Draft) -> str:
    return "from peft import LoraConfig\n\n" + call("LoraConfig", "lora_config", draft.fields)


TRAINER = Trainer(
    name="peft",
    label="PEFT",
    command="LoraConfig",
    package="peft",
    version=None,
    source="peft.LoraConfig",
    stem="lora_config",
    formats=("python", "json", "yaml"),
    draft=_draft,
    python=_python,
)
