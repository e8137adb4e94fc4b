"""Typed model of the Axolotl keys that shape a LoRA adapter, with help text once per field.

Types mirror Axolotl's own pydantic schema (lax mode, as Axolotl validates), tightened where
Axolotl's value would only fail later inside PEFT (ranks must be positive, dropout in [0, 1)).
Every other key of a full Axolotl config is accepted and ignored.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from ..results.findings import Finding, Severity
from .document import Document


class LoftQSection(BaseModel):
    model_config = ConfigDict(extra="ignore")
    loftq_bits: int = Field(default=4, description="Bits LoftQ quantizes the base weights to (typically 4).")


class PeftSection(BaseModel):
    model_config = ConfigDict(extra="ignore")
    loftq_config: Optional[LoftQSection] = Field(
        default=None, description="LoftQ initialisation of the LoRA weights (sets init_lora_weights: loftq)."
    )


MAX_RANK = 2**20  # above any model dimension: a larger r or alpha is a typo, and torch fails on it with C++ frames


class AdapterSpec(BaseModel):
    """The adapter-shaping subset of an Axolotl config."""

    model_config = ConfigDict(
        extra="ignore", populate_by_name=True, protected_namespaces=(), title="Axolotl LoRA/QLoRA adapter keys"
    )

    base_model: Optional[str] = Field(
        default=None, description="Hub id or local path of the model to adapt; its config.json shapes the skeleton."
    )
    base_model_config: Optional[str] = Field(
        default=None, description="Where to read the model config from, if not base_model."
    )
    revision_of_model: Optional[str] = Field(
        default=None, alias="model_revision", description="Hub revision (branch, tag or commit) of the base model."
    )
    cls_model_config: Optional[str] = Field(
        default=None,
        description="transformers config class to read config.json with (e.g. LlamaConfig); default AutoConfig.",
    )
    type_of_model: Optional[str] = Field(
        default=None,
        alias="model_type",
        description="transformers class to load the model with (e.g. AutoModelForCausalLM, MistralForCausalLM).",
    )
    overrides_of_model_config: Optional[dict[str, Any]] = Field(
        default=None, alias="model_config", description="Attributes set on the model config before the model is built."
    )
    reward_model: Optional[bool] = Field(
        default=None, description="Train a reward model: loads a sequence-classification class (num_labels 1)."
    )
    process_reward_model: Optional[bool] = Field(
        default=None, description="Train a process reward model: loads a token-classification class (num_labels 2)."
    )
    num_labels: Optional[PositiveInt] = Field(default=None, description="Labels of a classification head.")
    trust_remote_code: Optional[bool] = Field(
        default=None,
        description="Let the model's own Python code run. This tool runs it only with --trust-remote-code on the command line.",
    )
    is_multimodal: Optional[bool] = Field(
        default=None,
        description="Force the image-text-to-text model class (Axolotl also infers it from the model type).",
    )
    adapter: Optional[str] = Field(
        default=None, description="lora or qlora; other adapters are not compiled by this tool."
    )
    load_in_4bit: Optional[bool] = Field(
        default=False, description="Load the base model in 4-bit (bitsandbytes); required by qlora."
    )
    load_in_8bit: Optional[bool] = Field(default=False, description="Load the base model in 8-bit (bitsandbytes).")
    gptq: Optional[bool] = Field(default=None, description="The base model is a 4-bit GPTQ checkpoint.")
    merge_lora: Optional[bool] = Field(
        default=None, description="Merge the adapter into the base model (axolotl merge-lora)."
    )
    rl: Optional[str] = Field(
        default=None,
        description="Preference training (dpo, ipo, kto, orpo, grpo, ...); for dpo/ipo/kto TRL adds the adapter.",
    )
    unfrozen_parameters: Optional[list[str]] = Field(
        default=None,
        description="After the adapter is applied, freeze every parameter (LoRA's included) but those these patterns "
        "match: re.match on PeftModel names (base_model.model....), '.' literal except in '.+', a trailing [start:end] "
        "trains those rows only.",
    )
    freeze_mm_modules: Optional[bool] = Field(
        default=None,
        description="After the adapter is applied, freeze every vision/audio tower and projector parameter, "
        "LoRA's included.",
    )
    bf16: Optional[Union[bool, Literal["auto"]]] = Field(default=None, description="Train in bfloat16.")
    fp16: Optional[bool] = Field(default=None, description="Train in float16.")
    lora_r: Optional[PositiveInt] = Field(
        default=None, le=MAX_RANK, description="LoRA rank r: the inner dimension of A and B."
    )
    lora_alpha: Optional[PositiveInt] = Field(
        default=None,
        le=MAX_RANK,
        description="LoRA alpha: updates are scaled by alpha / r (alpha / sqrt(r) with RSLoRA). PEFT's default is 8.",
    )
    lora_dropout: Optional[float] = Field(
        default=0.0, ge=0.0, lt=1.0, description="Dropout on the LoRA input path, in [0, 1)."
    )
    lora_target_modules: Optional[Union[str, list[str]]] = Field(
        default=None,
        description="Module names to wrap: a list of names matched as the last name components, or one string taken as a full-match regex.",
    )
    lora_target_parameters: Optional[Union[str, list[str]]] = Field(
        default=None,
        description="nn.Parameter names to wrap directly (e.g. fused MoE expert weights); needs lora_dropout 0.",
    )
    lora_target_linear: Optional[bool] = Field(
        default=None,
        description="Add the last name of every Linear-like module except the output embedding to the targets.",
    )
    lora_modules_to_save: Optional[list[str]] = Field(
        default=None,
        description="Modules trained in full and saved with the adapter (e.g. embed_tokens, lm_head for new tokens).",
    )
    lora_fan_in_fan_out: Optional[bool] = Field(
        default=None, description="Set for layers that store weight as (fan_in, fan_out), such as GPT-2's Conv1D."
    )
    lora_rank_pattern: Optional[dict[str, PositiveInt]] = Field(
        default=None, description="Per-module rank overrides: regex (or name suffix) -> r."
    )
    lora_alpha_pattern: Optional[dict[str, PositiveInt]] = Field(
        default=None, description="Per-module alpha overrides: regex (or name suffix) -> alpha."
    )
    lora_exclude_modules: Optional[Union[str, list[str]]] = Field(
        default=None, description="Modules never wrapped: names matched as suffixes, or a full-match regex."
    )
    peft_layers_to_transform: Optional[list[int]] = Field(
        default=None, description="Only wrap modules in these layer indices."
    )
    peft_layers_pattern: Optional[list[str]] = Field(
        default=None, description="Name of the layer list (e.g. layers, h) used with peft_layers_to_transform."
    )
    peft: Optional[PeftSection] = Field(default=None, description="Extra PEFT options (loftq_config).")
    peft_use_dora: Optional[bool] = Field(
        default=None, description="Weight-Decomposed LoRA: adds a magnitude vector per module."
    )
    peft_use_rslora: Optional[bool] = Field(default=None, description="Rank-stabilised LoRA: scale by alpha / sqrt(r).")
    peft_init_lora_weights: Optional[Union[bool, str]] = Field(
        default=None, description="LoRA initialisation: true, false, gaussian, pissa, olora, loftq, ..."
    )
    peft_layer_replication: Optional[list[tuple[int, int]]] = Field(
        default=None, description="Build a deeper model by stacking [start, end) layer ranges, sharing base weights."
    )
    peft_trainable_token_indices: Optional[Union[list[int], dict[str, list[int]]]] = Field(
        default=None, description="Token ids whose embedding rows are trained (list: on embed_tokens; dict: per layer)."
    )
    peft_ensure_weight_tying: Optional[bool] = Field(
        default=None, description="Keep adapters of tied input/output embeddings tied."
    )
    peft_autocast_adapter_dtype: Optional[bool] = Field(
        default=None, description="Upcast adapter weights to float32 (PEFT's default)."
    )
    lora_model_dir: Optional[str] = Field(
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
                doc.finding(
                    "schema",
                    f"{key}: {err['msg']} (got {shown[:80]})",
                    _yaml_path(path, doc),
                    Severity.ERROR,
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
