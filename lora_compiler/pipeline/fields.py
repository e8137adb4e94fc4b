"""The one YAML <-> LoraConfig field table: which Axolotl key sets each LoraConfig field, and what it decides.

peftcfg reads it to say which YAML key a PEFT message is about, adapter_dir to compare a saved
adapter_config.json with the YAML, diff to mark the fields that decide what is trained. Pure data:
importing it costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    name: str  # LoraConfig / adapter_config.json field
    key: str | None  # the Axolotl YAML key that sets it (None: Axolotl derives it)
    targets: bool = False  # decides which modules are trained, with which r/alpha, or what else is trained
    compared: bool = False  # checked against a saved adapter's adapter_config.json (lora_model_dir)
    needles: tuple[str, ...] = ()  # words in a PEFT message that point at this field (case-insensitive)


# In message-matching order: the first field one of whose needles a PEFT message contains is the one it is about.
FIELDS: tuple[Field, ...] = (
    Field("layers_pattern", "peft_layers_pattern", targets=True, needles=("layers_pattern",)),
    Field(
        "layers_to_transform", "peft_layers_to_transform", targets=True, compared=True, needles=("layers_to_transform",)
    ),
    Field("loftq_config", "peft", needles=("loftq",)),
    Field("init_lora_weights", "peft_init_lora_weights", needles=("init_lora_weights",)),
    Field("modules_to_save", "lora_modules_to_save", targets=True, compared=True, needles=("modules_to_save",)),
    Field("trainable_token_indices", "peft_trainable_token_indices", targets=True, needles=("trainable_token",)),
    Field("exclude_modules", "lora_exclude_modules", targets=True, needles=("exclude_modules",)),
    Field("target_parameters", "lora_target_parameters", targets=True, needles=("target_parameters",)),
    Field("rank_pattern", "lora_rank_pattern", targets=True, compared=True, needles=("rank_pattern",)),
    Field("alpha_pattern", "lora_alpha_pattern", targets=True, compared=True, needles=("alpha_pattern",)),
    Field("layer_replication", "peft_layer_replication", targets=True, needles=("layer_replication",)),
    Field("use_dora", "peft_use_dora", targets=True, compared=True, needles=("dora",)),
    Field("use_rslora", "peft_use_rslora", compared=True, needles=("rslora",)),
    Field("fan_in_fan_out", "lora_fan_in_fan_out", compared=True, needles=("fan_in_fan_out",)),
    Field("ensure_weight_tying", "peft_ensure_weight_tying", needles=("weight_tying",)),
    Field("lora_dropout", "lora_dropout", compared=True, needles=("dropout",)),
    Field(
        "target_modules",
        "lora_target_modules",
        targets=True,
        compared=True,
        needles=("Target module", "target_modules"),
    ),
    Field("peft_type", "adapter", compared=True),
    Field("r", "lora_r", targets=True, compared=True),
    Field("lora_alpha", "lora_alpha", targets=True, compared=True),
    Field("base_model_name_or_path", "base_model", targets=True),
    Field("task_type", None, targets=True),
)

TARGET_FIELDS = frozenset(f.name for f in FIELDS if f.targets)
COMPARED_FIELDS = tuple(f for f in FIELDS if f.compared)


def key_for_message(message: str, spec: Any) -> str:
    """The YAML key a PEFT message is about, by the first field of FIELDS it names (`spec`: the AdapterSpec)."""
    low = message.lower()
    for field in FIELDS:
        if field.key and any(needle.lower() in low for needle in field.needles):
            if field.key == "lora_target_modules" and spec.lora_target_modules is None and spec.lora_target_linear:
                return "lora_target_linear"
            return field.key
    return "adapter"
