"""Typed model of the Axolotl keys that shape a LoRA adapter, with help text once per field.

Types mirror Axolotl's own pydantic schema (lax mode, as Axolotl validates), tightened where
Axolotl's value would only fail later inside PEFT (ranks must be positive, dropout in [0, 1)).
Every other key of a full Axolotl config is accepted and ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from ..results.findings import Finding
from ..rulebook.pipeline import SCHEMA
from .document import Document


class LoftQSection(BaseModel):
    model_config = ConfigDict(extra="ignore")
    loftq_bits: int = Field(default=4, description="Bits LoftQ quantizes the base weights to (typically 4).")


class PeftSection(BaseModel):
    model_config = ConfigDict(extra="ignore")
    loftq_config: LoftQSection | None = Field(
        default=None, description="LoftQ initialisation of the LoRA weights (sets init_lora_weights: loftq)."
    )


MAX_RANK = 2**20  # above any model dimension: a larger r or alpha is a typo, and torch fails on it with C++ frames


class AdapterSpec(BaseModel):
    """The adapter-shaping subset of an Axolotl config."""

    model_config = ConfigDict(
        extra="ignore", populate_by_name=True, protected_namespaces=(), title="Axolotl LoRA/QLoRA adapter keys"
    )

    base_model: str | None = Field(
        default=None, description="Hub id or local path of the model to adapt; its config.json shapes the skeleton."
    )
    base_model_config: str | None = Field(
        default=None, description="Where to read the model config from, if not base_model."
    )
    revision_of_model: str | None = Field(
        default=None, alias="model_revision", description="Hub revision (branch, tag or commit) of the base model."
    )
    cls_model_config: str | None = Field(
        default=None,
        description="transformers config class to read config.json with (e.g. LlamaConfig); default AutoConfig.",
    )
    type_of_model: str | None = Field(
        default=None,
        alias="model_type",
        description="transformers class to load the model with (e.g. AutoModelForCausalLM, MistralForCausalLM).",
    )
    overrides_of_model_config: dict[str, Any] | None = Field(
        default=None, alias="model_config", description="Attributes set on the model config before the model is built."
    )
    reward_model: bool | None = Field(
        default=None, description="Train a reward model: loads a sequence-classification class (num_labels 1)."
    )
    process_reward_model: bool | None = Field(
        default=None, description="Train a process reward model: loads a token-classification class (num_labels 2)."
    )
    num_labels: PositiveInt | None = Field(default=None, description="Labels of a classification head.")
    trust_remote_code: bool | None = Field(
        default=None,
        description="Let the model's own Python code run. This tool runs it only with --trust-remote-code on the command line.",
    )
    is_multimodal: bool | None = Field(
        default=None,
        description="Force the image-text-to-text model class (Axolotl also infers it from the model type).",
    )
    adapter: str | None = Field(
        default=None, description="lora or qlora; other adapters are not compiled by this tool."
    )
    load_in_4bit: bool | None = Field(
        default=False, description="Load the base model in 4-bit (bitsandbytes); required by qlora."
    )
    load_in_8bit: bool | None = Field(default=False, description="Load the base model in 8-bit (bitsandbytes).")
    gptq: bool | None = Field(default=None, description="The base model is a 4-bit GPTQ checkpoint.")
    merge_lora: bool | None = Field(
        default=None, description="Merge the adapter into the base model (axolotl merge-lora)."
    )
    rl: str | None = Field(
        default=None,
        description="Preference training (dpo, ipo, kto, orpo, grpo, ...); for dpo/ipo/kto TRL adds the adapter.",
    )
    unfrozen_parameters: list[str] | None = Field(
        default=None,
        description="After the adapter is applied, freeze every parameter (LoRA's included) but those these patterns "
        "match: re.match on PeftModel names (base_model.model....), '.' literal except in '.+', a trailing [start:end] "
        "trains those rows only.",
    )
    freeze_mm_modules: bool | None = Field(
        default=None,
        description="After the adapter is applied, freeze every vision/audio tower and projector parameter, "
        "LoRA's included.",
    )
    bf16: bool | Literal["auto"] | None = Field(default=None, description="Train in bfloat16.")
    fp16: bool | None = Field(default=None, description="Train in float16.")
    lora_r: PositiveInt | None = Field(
        default=None, le=MAX_RANK, description="LoRA rank r: the inner dimension of A and B."
    )
    lora_alpha: PositiveInt | None = Field(
        default=None,
        le=MAX_RANK,
        description="LoRA alpha: updates are scaled by alpha / r (alpha / sqrt(r) with RSLoRA). PEFT's default is 8.",
    )
    lora_dropout: float | None = Field(
        default=0.0, ge=0.0, lt=1.0, description="Dropout on the LoRA input path, in [0, 1)."
    )
    lora_target_modules: str | list[str] | None = Field(
        default=None,
        description="Module names to wrap: a list of names matched as the last name components, or one string taken as a full-match regex.",
    )
    lora_target_parameters: str | list[str] | None = Field(
        default=None,
        description="nn.Parameter names to wrap directly (e.g. fused MoE expert weights); needs lora_dropout 0.",
    )
    lora_target_linear: bool | None = Field(
        default=None,
        description="Add the last name of every Linear-like module except the output embedding to the targets.",
    )
    lora_modules_to_save: list[str] | None = Field(
        default=None,
        description="Modules trained in full and saved with the adapter (e.g. embed_tokens, lm_head for new tokens).",
    )
    lora_fan_in_fan_out: bool | None = Field(
        default=None, description="Set for layers that store weight as (fan_in, fan_out), such as GPT-2's Conv1D."
    )
    lora_rank_pattern: dict[str, PositiveInt] | None = Field(
        default=None, description="Per-module rank overrides: regex (or name suffix) -> r."
    )
    lora_alpha_pattern: dict[str, PositiveInt] | None = Field(
        default=None, description="Per-module alpha overrides: regex (or name suffix) -> alpha."
    )
    lora_exclude_modules: str | list[str] | None = Field(
        default=None, description="Modules never wrapped: names matched as suffixes, or a full-match regex."
    )
    peft_layers_to_transform: list[int] | None = Field(
        default=None, description="Only wrap modules in these layer indices."
    )
    peft_layers_pattern: list[str] | None = Field(
        default=None, description="Name of the layer list (e.g. layers, h) used with peft_layers_to_transform."
    )
    peft: PeftSection | None = Field(default=None, description="Extra PEFT options (loftq_config).")
    peft_use_dora: bool | None = Field(
        default=None, description="Weight-Decomposed LoRA: adds a magnitude vector per module."
    )
    peft_use_rslora: bool | None = Field(default=None, description="Rank-stabilised LoRA: scale by alpha / sqrt(r).")
    peft_init_lora_weights: bool | str | None = Field(
        default=None, description="LoRA initialisation: true, false, gaussian, pissa, olora, loftq, ..."
    )
    peft_layer_replication: list[tuple[int, int]] | None = Field(
        default=None, description="Build a deeper model by stacking [start, end) layer ranges, sharing base weights."
    )
    peft_trainable_token_indices: list[int] | dict[str, list[int]] | None = Field(
        default=None, description="Token ids whose embedding rows are trained (list: on embed_tokens; dict: per layer)."
    )
    peft_ensure_weight_tying: bool | None = Field(
        default=None, description="Keep adapters of tied input/output embeddings tied."
    )
    peft_autocast_adapter_dtype: bool | None = Field(
        default=None, description="Upcast adapter weights to float32 (PEFT's default)."
    )
    lora_model_dir: str | None = Field(
        default=None, description="Existing adapter to load and continue training (or use for inference)."
    )

    @property
    def loftq_bits(self) -> int | None:
        return self.peft.loftq_config.loftq_bits if self.peft and self.peft.loftq_config else None

    @property
    def model_config_name(self) -> str | None:
        return self.base_model_config or self.base_model


# Axolotl's own defaults applied before validation (utils/schemas/validation.py).
def _axolotl_defaults(values: dict[str, Any]) -> dict[str, Any]:
    data = dict(values)
    if data.get("reward_model"):
        if data.get("num_labels") is None:
            data["num_labels"] = 1
        if not (data.get("type_of_model") or data.get("model_type")):
            data["model_type"] = "AutoModelForSequenceClassification"
    if data.get("process_reward_model"):
        if data.get("num_labels") is None:
            data["num_labels"] = 2
        if not (data.get("type_of_model") or data.get("model_type")):
            data["model_type"] = "AutoModelForTokenClassification"
    if data.get("adapter") is not None and data.get("lora_dropout") is None:
        data["lora_dropout"] = 0.0
    return data


def parse_spec(doc: Document) -> tuple[AdapterSpec | None, list[Finding]]:
    """Validate a document's adapter keys; type errors become findings at the value's position."""
    try:
        return AdapterSpec.model_validate(_axolotl_defaults(doc.values)), []
    except ValidationError as exc:
        findings = []
        for err in exc.errors(include_url=False):
            path = tuple(err["loc"])
            key = ".".join(str(p) for p in path)
            value = err.get("input")
            shown = _shown(value)
            findings.append(
                SCHEMA.at(
                    doc,
                    f"{key}: {err['msg']} (got {shown[:80]})",
                    _yaml_path(path, doc),
                    hint=_hint(path[0] if path else ""),
                    prefer_value=True,
                )
            )
        return None, findings


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    try:
        return repr(value)
    except ValueError:  # an integer beyond Python's int-to-string limit
        return "a number too long to show"


def _yaml_path(loc: tuple[Any, ...], doc: Document) -> tuple[Any, ...]:
    """Map a pydantic error location to the key path in the YAML (unions add type tags)."""
    out: list[Any] = []
    for part in loc:
        cur = tuple(out) + (part,)
        if cur in doc.key_pos or cur in doc.value_pos:
            out.append(part)
    return tuple(out) or loc[:1]


def _hint(key: object) -> str | None:
    field = AdapterSpec.model_fields.get(str(key))
    if field is None:
        for f in AdapterSpec.model_fields.values():
            if f.alias == key:
                field = f
    return field.description if field else None
