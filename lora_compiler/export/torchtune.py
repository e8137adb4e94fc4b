"""torchtune 0.6.1: the `model:` section of a LoRA recipe config, for the builder of this model's shape.

torchtune does not use PEFT. Its lora_* builders wrap, in every decoder layer alike, the attention
projections named in lora_attn_modules (q_proj, k_proj, v_proj, output_proj), all three MLP
projections with apply_lora_to_mlp (w1/w2/w3 = gate/down/up), and the output layer with
apply_lora_to_output (refused by tied-output builders); one rank, one alpha, scaling alpha / r, the
default initialisation, no modules_to_save. So a config is faithful only when the YAML adapts the same
modules in every layer, all or none of the MLP, at one rank. rsLoRA is carried by writing
alpha x sqrt(r), which gives torchtune the same scaling. The builders and their shapes come from
torchtune itself (scripts/gen_torchtune_builders.py -> torchtune_builders.json).
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from .carry import precision, refuse_missing
from .convention import Convention, model_of, replace_targets, selects_nothing
from .core import Draft, Subject, Trainer

if TYPE_CHECKING:
    from ..engine.options import Options
    from ..engine.session import Session
    from ..pipeline.document import Document
    from ..results.findings import Finding

VERSION = "0.6.1"
_ATTN = {"q_proj": "q_proj", "k_proj": "k_proj", "v_proj": "v_proj", "o_proj": "output_proj"}  # HF -> torchtune
_MLP = ("gate_proj", "up_proj", "down_proj")
# What 86 of the 87 LoRA recipe configs shipped with 0.6.1 choose (recipes/configs/*/*lora*.yaml):
# lora_attn_modules [q_proj, v_proj, output_proj], apply_lora_to_mlp True, apply_lora_to_output False.
RECIPE_TARGETS = ("q_proj", "v_proj", "o_proj", *_MLP)
_LAYER = re.compile(r"^model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)$")
CARRIED = frozenset({"use_dora", "use_rslora"})
_HINT = "drop the key from the YAML, or export for a PEFT-based trainer (--to trl, llamafactory, ms-swift)"


@lru_cache(maxsize=1)
def builders() -> dict[str, dict[str, Any]]:
    text = resources.files(__package__).joinpath("torchtune_builders.json").read_text()
    return json.loads(text)["builders"]


def builder_for(c: Any, base_model: str | None) -> str | None:
    """The lora_* builder whose model has the shape of model config `c` (RoPE base and context length break
    ties, then Instruct / base by the model's name)."""
    get = lambda key: getattr(c, key, None)  # noqa: E731  (a multimodal config has no decoder dimensions)
    shape = {
        "model_type": get("model_type"),
        "num_layers": get("num_hidden_layers"),
        "embed_dim": get("hidden_size"),
        "vocab_size": get("vocab_size"),
        "num_heads": get("num_attention_heads"),
        "num_kv_heads": get("num_key_value_heads") or get("num_attention_heads"),
        "intermediate_dim": get("intermediate_size"),
        "tied_output": bool(get("tie_word_embeddings")),
    }
    found = [name for name, b in builders().items() if all(b[k] == v for k, v in shape.items())]
    rope = _rope_theta(c)
    for key, value in (("rope_base", rope), ("max_seq_len", getattr(c, "max_position_embeddings", None))):
        narrowed = [n for n in found if builders()[n][key] == value]
        found = narrowed or found
    instruct = "instruct" in (base_model or "").lower()
    narrowed = [n for n in found if ("instruct" in n) == instruct]
    return sorted(narrowed or found)[0] if found else None


def _rope_theta(config: Any) -> float | None:
    theta = getattr(config, "rope_theta", None)
    params = getattr(config, "rope_parameters", None) or {}
    return theta if theta is not None else params.get("rope_theta") if isinstance(params, dict) else None


def _draft(subject: Subject) -> Draft:
    cfg, spec = subject.config, subject.spec
    draft = Draft({})
    refuse_missing(subject, draft, "torchtune", CARRIED, _HINT)
    multimodal = subject.report.model.is_multimodal
    builder = None if multimodal else builder_for(subject.model.config, spec.base_model)
    if builder is None:
        draft.refuse(
            subject,
            f"torchtune {VERSION} has no LoRA builder for {subject.model_type} models of this shape",
            "its builders cover Llama 2/3, Code Llama, Mistral, Gemma, Gemma 2, Qwen2/2.5 and Phi-3/4 sizes",
            "base_model",
            "export for a PEFT-based trainer (--to trl, llamafactory, ms-swift)",
        )
        return draft
    meta = builders()[builder]
    if meta["model_type"] == "phi3":
        draft.refuse(
            subject,
            "torchtune splits Phi-3's fused qkv_proj and gate_up_proj into separate LoRA layers",
            "the adapter would have other matrices than PEFT's",
            "base_model",
            _HINT,
        )
        return draft
    flags = _flags(subject, draft, meta["num_layers"])
    if flags is None or draft.findings:
        return draft
    attn, mlp, output = flags
    if output and (
        "apply_lora_to_output" not in meta["kwargs"]
        or meta["tied_output"]
        or builder.startswith("torchtune.models.llama3_2.")
    ):
        draft.refuse(
            subject,
            f"{builder} refuses LoRA on the output layer",
            "its output is tied to the embedding",
            "target_modules",
            "leave lm_head out of the targets",
        )
        return draft
    if cfg.get("use_dora") and "use_dora" not in meta["kwargs"]:
        draft.refuse(subject, f"{builder} has no use_dora", "DoRA cannot be asked for", "use_dora", _HINT)
        return draft
    r, alpha = cfg["r"], cfg["lora_alpha"]
    if cfg.get("use_rslora"):
        alpha = round(alpha * math.sqrt(r), 6)
        draft.rewritten(
            subject,
            f"lora_alpha written as {alpha:g} (alpha x sqrt(r)): torchtune has no rsLoRA, and "
            "alpha / r with that alpha is rsLoRA's alpha / sqrt(r)",
            "use_rslora",
        )
    model: dict[str, Any] = {
        "_component_": builder,
        "lora_attn_modules": [_ATTN[a] for a in attn],
        "apply_lora_to_mlp": mlp,
    }
    if "apply_lora_to_output" in meta["kwargs"]:
        model["apply_lora_to_output"] = output
    model.update(lora_rank=r, lora_alpha=alpha, lora_dropout=cfg["lora_dropout"])
    if "use_dora" in meta["kwargs"]:
        model["use_dora"] = bool(cfg.get("use_dora"))
    bits = subject.quantized()
    model["quantize_base"] = bits == 4
    if bits:
        draft.lossy(
            subject,
            "torchtune quantizes the base to NF4 with torchao (quantize_base), not bitsandbytes; "
            "which frozen layers it quantizes depends on the model family, and never the output layer"
            if bits == 4
            else "torchtune has no 8-bit base: quantize_base is NF4 only, so the base loads unquantized",
            "load_in_8bit" if bits == 8 else "adapter",
        )
    fields: dict[str, Any] = {"model": model}
    dtype = precision(spec)
    if dtype == "float16":
        draft.lossy(subject, "torchtune's recipes train in bf16 or fp32, not fp16: dtype written as fp32", "fp16")
    fields["dtype"] = "bf16" if dtype == "bfloat16" else "fp32"
    draft.fields = fields
    layers = range(meta["num_layers"])
    wrapped = [f"model.layers.{i}.self_attn.{a}" for i in layers for a in attn]
    wrapped += [f"model.layers.{i}.mlp.{m}" for i in layers for m in _MLP] if mlp else []
    wrapped += ["lm_head"] if output else []
    draft.wrapped = {name: (r, alpha, False) for name in wrapped}
    return draft


def _flags(subject: Subject, draft: Draft, num_layers: int) -> tuple[list[str], bool, bool] | None:
    """(HF attention names, MLP on, output on) when the wrapped set is one torchtune can build, else a refusal."""
    per_layer: dict[int, set[str]] = {}
    output, other = False, []
    for m in subject.wrapped:
        match = _LAYER.match(m.name)
        if m.name == "lm_head":
            output = True
        elif match and match.group(3) in (*_ATTN, *_MLP):
            per_layer.setdefault(int(match.group(1)), set()).add(match.group(3))
        else:
            other.append(m.name)
    if other:
        draft.refuse(
            subject,
            f"torchtune's builders have no LoRA for {', '.join(other[:3])}"
            + (f" and {len(other) - 3} more" if len(other) > 3 else ""),
            "they wrap only q/k/v/o, gate/up/down and the output layer",
            "target_modules",
            "leave those modules out of the targets",
        )
        return None
    kinds = {frozenset(v) for v in per_layer.values()}
    if len(kinds) > 1 or (per_layer and len(per_layer) != num_layers):
        draft.refuse(
            subject,
            f"the YAML adapts {len(per_layer)} of {num_layers} layers, or not alike",
            "torchtune applies LoRA to every layer alike",
            "layers_to_transform",
            "adapt the same modules in every layer",
        )
        return None
    names = next(iter(kinds), frozenset())
    mlp = names & set(_MLP)
    if mlp and mlp != set(_MLP):
        draft.refuse(
            subject,
            f"the YAML adapts {', '.join(sorted(mlp))} but not all of gate/up/down_proj",
            "apply_lora_to_mlp wraps all three MLP projections or none",
            "target_modules",
            "target all of gate_proj, up_proj and down_proj, or none",
        )
        return None
    attn = [a for a in _ATTN if a in names]
    if not attn:
        draft.refuse(
            subject,
            "the YAML adapts no attention projection",
            "torchtune's builders need at least one in lora_attn_modules",
            "target_modules",
            "add q_proj, k_proj, v_proj or o_proj",
        )
        return None
    return attn, bool(mlp), output


def _recipes(doc: Document, options: Options, session: Session) -> tuple[dict[str, Any], list[Finding]]:
    """What its LoRA recipes choose (RECIPE_TARGETS), on the models its builders cover."""
    model = model_of(doc, options, session)
    if model is None:
        return replace_targets(doc, [], "torchtune")
    if builder_for(model.config, doc.values.get("base_model")) is None:
        return selects_nothing(
            doc,
            "torchtune",
            f"torchtune {VERSION} has no LoRA builder for this model, so its recipes select nothing here",
            "base_model",
        )
    return replace_targets(doc, list(RECIPE_TARGETS), "torchtune")


TRAINER = Trainer(
    name="torchtune",
    label="torchtune",
    command="LoRA recipe config",
    package="torchtune",
    version=VERSION,
    source="torchtune/models/*/_model_builders.py, _component_builders.py",
    stem="torchtune",
    formats=("yaml", "json"),
    draft=_draft,
    convention=Convention(
        "torchtune", "q/v/output projections and the MLP in every layer (its LoRA recipes)", _recipes
    ),
    proof=("torchao==0.14.1",),
    proved_in_ci=True,
)
