"""The one YAML <-> LoraConfig field table: which Axolotl key sets each LoraConfig field, how, and what it decides.

peftcfg builds LoraConfig's keywords from it and reads it to say which YAML key a PEFT message is
about; adapter_dir compares a saved adapter_config.json with the YAML by it, diff marks the fields
that decide what is trained, export and serving place findings at the key behind a field. Pure
data and small functions: importing it costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

OMIT: Any = object()  # a `value` result: leave the keyword out, so PEFT's own default applies


def task_type_for(architecture: str) -> str:
    """Axolotl's _get_peft_task_type: from the loaded model's class name."""
    if "SequenceClassification" in architecture:
        return "SEQ_CLS"
    if "TokenClassification" in architecture:
        return "TOKEN_CLS"
    return "CAUSAL_LM"


# How a field's LoraConfig keyword comes from (spec, plan, architecture): an AdapterSpec, a TargetPlan, a class name.
Value = Callable[[Any, Any, str], Any]


def _as_is(key: str) -> Value:
    return lambda spec, plan, arch: getattr(spec, key)


def _if_set(key: str, convert: Callable[[Any], Any] = lambda v: v) -> Value:
    """The YAML value converted, when the YAML gives a truthy one (Axolotl's `if cfg.key:`), else PEFT's default."""
    return lambda spec, plan, arch: convert(v) if (v := getattr(spec, key)) else OMIT


@dataclass(frozen=True)
class Field:
    name: str  # LoraConfig / adapter_config.json field
    key: str | None  # the Axolotl YAML key that sets it (None: Axolotl derives it)
    targets: bool = False  # decides which modules are trained, with which r/alpha, or what else is trained
    compared: bool = False  # checked against a saved adapter's adapter_config.json (lora_model_dir)
    needles: tuple[str, ...] = ()  # words in a PEFT message that point at this field (case-insensitive)
    value: Value | None = None  # the LoraConfig keyword Axolotl passes (None: not a keyword; set after, or PEFT's)


# In message-matching order: the first field one of whose needles a PEFT message contains is the one it is about.
FIELDS: tuple[Field, ...] = (
    Field(
        "layers_pattern",
        "peft_layers_pattern",
        targets=True,
        needles=("layers_pattern",),
        value=_as_is("peft_layers_pattern"),
    ),
    Field(
        "layers_to_transform",
        "peft_layers_to_transform",
        targets=True,
        compared=True,
        needles=("layers_to_transform",),
        value=_as_is("peft_layers_to_transform"),
    ),
    Field("loftq_config", "peft", needles=("loftq",), value=_if_set("loftq_bits", lambda bits: {"loftq_bits": bits})),
    Field(
        "init_lora_weights",
        "peft_init_lora_weights",
        needles=("init_lora_weights",),
        # Axolotl's order of precedence: LoftQ sets "loftq", then an explicit peft_init_lora_weights wins
        value=lambda spec, plan, arch: spec.peft_init_lora_weights or ("loftq" if spec.loftq_bits else OMIT),
    ),
    Field(
        "modules_to_save",
        "lora_modules_to_save",
        targets=True,
        compared=True,
        needles=("modules_to_save",),
        value=lambda spec, plan, arch: spec.lora_modules_to_save or None,
    ),
    Field(
        "trainable_token_indices",
        "peft_trainable_token_indices",
        targets=True,
        needles=("trainable_token",),
        value=_if_set("peft_trainable_token_indices"),
    ),
    # Axolotl 0.19 declares no lora_exclude_modules field: validate_config drops the key, so its
    # LoraConfig never excludes anything (rules/model_rules.py, exclude-modules-ignored, says so).
    Field(
        "exclude_modules",
        "lora_exclude_modules",
        targets=True,
        needles=("exclude_modules",),
        value=lambda spec, plan, arch: None,
    ),
    Field(
        "target_parameters",
        "lora_target_parameters",
        targets=True,
        needles=("target_parameters",),
        value=lambda spec, plan, arch: plan.target_parameters,
    ),
    Field(
        "rank_pattern",
        "lora_rank_pattern",
        targets=True,
        compared=True,
        needles=("rank_pattern",),
        value=_if_set("lora_rank_pattern", dict),
    ),
    Field(
        "alpha_pattern",
        "lora_alpha_pattern",
        targets=True,
        compared=True,
        needles=("alpha_pattern",),
        value=_if_set("lora_alpha_pattern", dict),
    ),
    Field(
        "layer_replication",
        "peft_layer_replication",
        targets=True,
        needles=("layer_replication",),
        value=_if_set("peft_layer_replication", lambda pairs: [list(pair) for pair in pairs]),
    ),
    Field("use_dora", "peft_use_dora", targets=True, compared=True, needles=("dora",), value=_if_set("peft_use_dora")),
    Field("use_rslora", "peft_use_rslora", compared=True, needles=("rslora",), value=_if_set("peft_use_rslora")),
    Field(
        "fan_in_fan_out",
        "lora_fan_in_fan_out",
        compared=True,
        needles=("fan_in_fan_out",),
        value=_as_is("lora_fan_in_fan_out"),
    ),
    Field(
        "ensure_weight_tying",
        "peft_ensure_weight_tying",
        needles=("weight_tying",),
        value=lambda spec, plan, arch: OMIT if spec.peft_ensure_weight_tying is None else spec.peft_ensure_weight_tying,
    ),
    Field("lora_dropout", "lora_dropout", compared=True, needles=("dropout",), value=_as_is("lora_dropout")),
    Field(
        "target_modules",
        "lora_target_modules",
        targets=True,
        compared=True,
        needles=("Target module", "target_modules"),
        value=lambda spec, plan, arch: plan.target_modules,
    ),
    Field("peft_type", "adapter", compared=True),
    Field("r", "lora_r", targets=True, compared=True, value=_as_is("lora_r")),
    Field("lora_alpha", "lora_alpha", targets=True, compared=True, value=_as_is("lora_alpha")),
    Field("base_model_name_or_path", "base_model", targets=True),  # set after: PEFT takes no such keyword
    Field("task_type", None, targets=True, value=lambda spec, plan, arch: task_type_for(arch)),
    Field("bias", None, value=lambda spec, plan, arch: "none"),
    Field("lora_bias", None),  # PEFT's default (False): Axolotl never sets it
)

TARGET_FIELDS = frozenset(f.name for f in FIELDS if f.targets)
COMPARED_FIELDS = tuple(f for f in FIELDS if f.compared)
_BY_NAME = {f.name: f for f in FIELDS}


def lora_kwargs(spec: Any, plan: Any, architecture: str) -> dict[str, Any]:
    """LoraConfig's keyword arguments as Axolotl's load_lora passes them (`spec`: AdapterSpec, `plan`: TargetPlan)."""
    out = {f.name: f.value(spec, plan, architecture) for f in FIELDS if f.value is not None}
    return {name: v for name, v in out.items() if v is not OMIT}


def yaml_key(name: str) -> str:
    """The YAML key behind a LoraConfig field, for a finding's position: "adapter" when Axolotl derives it."""
    field = _BY_NAME.get(name)
    return field.key if field and field.key else "adapter"


def targets_key(key: str, target_modules: Any, target_linear: Any) -> str:
    """Point a finding about lora_target_modules at lora_target_linear when that is what gave the targets."""
    return "lora_target_linear" if key == "lora_target_modules" and target_modules is None and target_linear else key


def key_for_message(message: str, spec: Any) -> str:
    """The YAML key a PEFT message is about, by the first field of FIELDS it names (`spec`: the AdapterSpec)."""
    low = message.lower()
    for field in FIELDS:
        if field.key and any(needle.lower() in low for needle in field.needles):
            return targets_key(field.key, spec.lora_target_modules, spec.lora_target_linear)
    return "adapter"
