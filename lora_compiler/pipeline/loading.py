"""How Axolotl loads the base model (loaders/model.py): which weights bitsandbytes quantises
(_set_quantization_config and transformers' own not-convert decision) and the dtype every other parameter ends
in after _configure_embedding_dtypes, restated pass by pass because the order decides it:

1. the load: the YAML's dtype (`bf16`/`fp16`/`torch_dtype`), the model's own `_keep_in_fp32_modules` in float32;
2. a float32 pass: modules whose *name* holds "norm" (or whose class `fp32_norms` names), MoE routers (a name
   ending in `.gate`) and the embedding layers (get_linear_embedding_layers). 0.19 runs it unless FSDP is on,
   embeddings included unless `load_in_4bit` with `embeddings_skip_upcast`; 0.20+ runs it unless FSDP is on or
   whenever pass 4 will not, embeddings only in that second case;
3. `prepare_model_for_kbit_training` for an 8-bit or 4-bit load, skipped for QLoRA or cpu_ram_efficient_loading
   under FSDP, under DeepSpeed ZeRO-3, for LoRA with LoftQ bits, for Qwen (v1) LoRA and when MoE experts are
   quantised: every other float16/bfloat16 parameter becomes float32 (bitsandbytes' own weights excepted; 0.20+
   leaves the embedding layers alone when pass 4 will convert them back, or as `embeddings_skip_upcast` says;
   0.19 leaves parameters named embed_tokens / lm_head alone with `embeddings_skip_upcast`);
4. the pass back to the model dtype, for adapters unless QLoRA runs under FSDP (always with cut_cross_entropy):
   "norm" modules and the embedding layers; routers stay float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model_facts import is_fused_expert
from .adapter_file import DTYPE_BYTES, model_dtype

FP32_NORM_SUFFIXES = ("RMSNorm", "LayerNorm")  # utils/fp32_norms.py DEFAULT_FP32_NORM_SUFFIXES


def quantization(values: Mapping[str, Any], model_type: str | None = None) -> dict[str, Any] | None:
    """Axolotl's bitsandbytes settings for this YAML, or None for a load in the model dtype."""
    if values.get("adapter") in ("qlora", "mixlora") and values.get("load_in_4bit") is True:
        sharded = bool(values.get("deepspeed")) or fsdp_enabled(values)
        storage = "float32" if model_type in ("jamba", "qwen2_moe", "nemotron_h") and not sharded else "bfloat16"
        q = {
            "bits": 4,
            "bnb_4bit_quant_type": "nf4",
            "bnb_4bit_use_double_quant": True,
            "bnb_4bit_quant_storage": storage,
            "llm_int8_skip_modules": ["out_proj"] if model_type == "falcon_h1" else None,
        }
        q.update({k: v for k, v in (values.get("bnb_config_kwargs") or {}).items() if k in q})
        return q
    if values.get("adapter") == "lora" and values.get("load_in_8bit") is True:  # bnb_config_kwargs not applied
        skip = {"jamba": ["mamba"], "falcon_h1": ["out_proj"]}.get(model_type or "")
        return {"bits": 8, "llm_int8_skip_modules": skip}
    return None


def base_load(
    model: Any, values: Mapping[str, Any], model_type: str | None, axolotl: str, zero3: bool = False
) -> dict[str, str]:
    """Every base parameter name (tied aliases too) -> how it is held: "4bit", "8bit", "4bit-experts" (Axolotl's
    quantize_moe_experts parametrisation, restated, not measured) or the safetensors dtype it ends in."""
    import torch
    from transformers.quantizers.base import HfQuantizer
    from transformers.quantizers.quantizers_utils import should_convert_module

    from ..profiles import find

    quant = quantization(values, model_type)
    keep = list(getattr(model, "_keep_in_fp32_modules", None) or [])
    skip = HfQuantizer.get_modules_to_not_convert(model, quant["llm_int8_skip_modules"], keep) if quant else []
    experts4 = quant is not None and quant["bits"] == 4 and values.get("quantize_moe_experts") is True
    fused = {id(p) for n, m in model.named_modules() for p in m.parameters(recurse=False) if is_fused_expert(n, m, p)}
    profile = find(axolotl)
    sizes = element_sizes(
        model,
        values,
        profile.embedding_layers(model_type or ""),
        bool(quant),
        zero3 or (experts4 and bool(fused)),
        model_type,
        profile.upcasts_unconverted_embeddings,
    )
    half = model_dtype(values)
    out = {}
    for name, module in model.named_modules(remove_duplicate=False):
        for pname, param in module.named_parameters(recurse=False):
            key = f"{name}.{pname}" if name else pname
            if experts4 and id(param) in fused:
                out[key] = "4bit-experts"
            elif (
                quant
                and isinstance(module, torch.nn.Linear)
                and pname == "weight"
                and should_convert_module(name, skip)
            ):
                out[key] = f"{quant['bits']}bit"
            else:
                out[key] = "F32" if sizes[id(param)] == 4 else half
    return out


def fsdp_enabled(values: Mapping[str, Any]) -> bool:
    """Axolotl's ModelLoader.is_fsdp_enabled."""
    return values.get("fsdp_config") is not None or values.get("fsdp") is not None


def element_sizes(
    model: Any,
    values: Mapping[str, Any],
    embedding_layers: tuple[str, ...],
    quantised: bool,
    skip_kbit: bool,
    model_type: str | None,
    newer_passes: bool,
) -> dict[int, int]:
    """Bytes per element of every base parameter (by id) after the passes above. skip_kbit: the caller's reasons
    to skip kbit preparation (DeepSpeed ZeRO-3, quantised MoE experts); newer_passes: Axolotl 0.20+'s pass 2 and 3
    (Profile.upcasts_unconverted_embeddings)."""
    dtype = DTYPE_BYTES[model_dtype(values)]
    keep = list(getattr(model, "_keep_in_fp32_modules", None) or [])
    size = {id(p): 4 if any(k in name for k in keep) else dtype for name, p in model.named_parameters()}
    fsdp, adapter, emb = fsdp_enabled(values), values.get("adapter"), list(embedding_layers)
    convert = (
        bool(adapter or fsdp or values.get("attn_needs_dtype_cast")) and not (fsdp and adapter == "qlora")
    ) or bool(values.get("cut_cross_entropy"))
    skip_upcast = bool(values.get("load_in_4bit") and values.get("embeddings_skip_upcast"))
    if newer_passes:
        upcast = not convert and not skip_upcast
        first, first_emb, last_emb = upcast or not fsdp, emb if upcast else [], emb
        asked = values.get("embeddings_skip_upcast")
        kbit_keeps = emb if adapter and (bool(asked) if asked is not None else convert) else []
    else:  # 0.19's patch_peft_prep_code names Llama's layers whatever the model
        first = not fsdp
        kbit_keeps = ["embed_tokens", "lm_head"] if adapter and values.get("embeddings_skip_upcast") else []
        first_emb = last_emb = [] if skip_upcast and not fsdp else emb
    if first:
        _pass(model, size, 4, first_emb, values, before=True, skip_embeddings=model_type == "btlm")
    if quantised and not skip_kbit and _kbit_prepared(values, model_type):
        for name, param in model.named_parameters():
            if size[id(param)] == 2 and all(e not in name for e in kbit_keeps):
                size[id(param)] = 4
    if convert:
        _pass(model, size, dtype, last_emb, values, before=False, skip_embeddings=False)
    return size


def _pass(
    model: Any,
    size: dict[int, int],
    nbytes: int,
    embeddings: list[str],
    values: Mapping[str, Any],
    before: bool,
    skip_embeddings: bool,
) -> None:
    """_convert_embedding_modules_dtype: module.to(dtype) by module name, as Axolotl walks named_modules."""
    norms32 = _fp32_norm_patterns(values)

    def cast(module: Any, to: int) -> None:
        for param in module.parameters():
            size[id(param)] = to

    for name, module in model.named_modules():
        if norms32 and _norm_class(module, norms32):
            cast(module, 4)
        elif "norm" in name:
            cast(module, nbytes)
        if before:
            if name.endswith(".gate"):
                cast(module, nbytes)
            if skip_embeddings:
                continue
        if any(m in name for m in embeddings) and hasattr(module, "weight"):
            cast(module, nbytes)


def _kbit_prepared(values: Mapping[str, Any], model_type: str | None) -> bool:
    """Whether _prepare_model_for_quantization runs prepare_model_for_kbit_training."""
    loftq = (
        ((values.get("peft") or {}).get("loftq_config") or {}).get("loftq_bits")
        if isinstance(values.get("peft"), Mapping)
        else None
    )
    fsdp: Mapping[str, Any] = values["fsdp_config"] if isinstance(values.get("fsdp_config"), Mapping) else {}
    skip = (
        (model_type == "qwen" and values.get("adapter") == "lora")
        or (values.get("adapter") == "lora" and bool(loftq))
        or (fsdp_enabled(values) and (values.get("adapter") == "qlora" or bool(fsdp.get("cpu_ram_efficient_loading"))))
    )
    return not skip and values.get("adapter") in ("lora", "qlora", "mixlora")


def _fp32_norm_patterns(values: Mapping[str, Any]) -> list[str] | None:
    if not values.get("fp32_norms"):
        return None
    return list(values.get("fp32_norm_classes") or FP32_NORM_SUFFIXES)


def _norm_class(module: Any, patterns: list[str]) -> bool:
    """utils/fp32_norms.py _matches_norm_class: a dotted pattern names the class exactly, else a class-name suffix."""
    cls = type(module)
    return any(
        p.strip() and (f"{cls.__module__}.{cls.__name__}" == p if "." in p else cls.__name__.endswith(p))
        for p in patterns
    )
