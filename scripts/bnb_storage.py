"""Record what bitsandbytes really stores for tiny models loaded as Axolotl loads them: tests/facts/bnb_storage.json.

    python3 -m venv /tmp/bnbv && /tmp/bnbv/bin/pip install torch==2.13.0 bitsandbytes transformers==5.20.1 accelerate
    /tmp/bnbv/bin/python scripts/bnb_storage.py

Each case writes a tiny random model, loads it with the BitsAndBytesConfig Axolotl 0.21 builds for the YAML
(loaders/model.py: nf4, double quantisation, bnb_config_kwargs on top; 8-bit for adapter: lora), applies the
dtype changes Axolotl and PEFT make before training (prepare_model_for_kbit_training: other half-precision
parameters to float32; norms, embeddings and the output layer back to the model dtype; routers float32), and
records the bytes of every parameter's storage plus its bitsandbytes QuantState tensors and int8 scales.
tests/facts/test_memory.py checks lora_compiler's base-weight bytes against these numbers (it needs no bitsandbytes).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, BitsAndBytesConfig

OUT = Path(__file__).resolve().parents[1] / "tests" / "facts" / "bnb_storage.json"
LLAMA = dict(
    hidden_size=64,
    intermediate_size=160,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=128,
)
CASES = {
    "llama-qlora-default": (
        "llama",
        dict(LLAMA, tie_word_embeddings=False),
        {"adapter": "qlora", "load_in_4bit": True, "bf16": True},
    ),
    "llama-qlora-tied": (
        "llama",
        dict(LLAMA, tie_word_embeddings=True),
        {"adapter": "qlora", "load_in_4bit": True, "bf16": True},
    ),
    "llama-qlora-fp4-no-double": (
        "llama",
        dict(LLAMA, tie_word_embeddings=False),
        {
            "adapter": "qlora",
            "load_in_4bit": True,
            "bf16": True,
            "bnb_config_kwargs": {"bnb_4bit_quant_type": "fp4", "bnb_4bit_use_double_quant": False},
        },
    ),
    "llama-qlora-skip-down-proj": (
        "llama",
        dict(LLAMA, tie_word_embeddings=False),
        {
            "adapter": "qlora",
            "load_in_4bit": True,
            "bf16": True,
            "bnb_config_kwargs": {"llm_int8_skip_modules": ["down_proj", "lm_head"]},
        },
    ),
    "llama-lora-8bit": ("llama", dict(LLAMA, tie_word_embeddings=False), {"adapter": "lora", "load_in_8bit": True}),
    "llama-qlora-big-blocks": (
        "llama",
        dict(LLAMA, hidden_size=256, intermediate_size=1088, num_attention_heads=8, tie_word_embeddings=False),
        {"adapter": "qlora", "load_in_4bit": True},
    ),
    "mixtral-qlora": (
        "mixtral",
        dict(LLAMA, num_local_experts=4, num_experts_per_tok=2, tie_word_embeddings=False),
        {"adapter": "qlora", "load_in_4bit": True, "bf16": True},
    ),
}


def _dtype(yaml: dict) -> torch.dtype:
    if yaml.get("bf16"):
        return torch.bfloat16
    return torch.float16 if yaml.get("load_in_8bit") or yaml.get("fp16") else torch.float32


def _bnb_config(yaml: dict, dtype: torch.dtype) -> BitsAndBytesConfig:
    if yaml.get("load_in_8bit"):
        return BitsAndBytesConfig(load_in_8bit=True)
    config = {
        "load_in_4bit": True,
        "llm_int8_threshold": 6.0,
        "llm_int8_has_fp16_weight": False,
        "bnb_4bit_compute_dtype": dtype,
        "bnb_4bit_use_double_quant": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_quant_storage": torch.bfloat16,
    }
    config.update(yaml.get("bnb_config_kwargs") or {})
    return BitsAndBytesConfig(**config)


def _as_trained(model, dtype: torch.dtype) -> None:
    """prepare_model_for_kbit_training's float32 cast, then Axolotl's norms/embeddings back and routers float32."""
    head = model.get_output_embeddings()
    for name, module in model.named_modules():
        for _pname, param in module.named_parameters(recurse=False):
            if param.__class__.__name__ in ("Params4bit", "Int8Params") or not param.is_floating_point():
                continue
            keep = isinstance(module, torch.nn.Embedding) or module is head or "norm" in type(module).__name__.lower()
            param.data = param.data.to(dtype if keep and not name.endswith(".gate") else torch.float32)


def _storage(model) -> int:
    total, seen = 0, set()
    for _, param in model.named_parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        total += param.data.numel() * param.data.element_size()
        state = getattr(param, "quant_state", None)
        if state is not None:
            total += sum(
                v.numel() * v.element_size() for v in state.as_dict(packed=False).values() if torch.is_tensor(v)
            )
        scale = getattr(param, "SCB", None)
        if scale is not None:
            total += scale.numel() * scale.element_size()
    return total


def main() -> None:
    import bitsandbytes

    facts = {"bitsandbytes": bitsandbytes.__version__, "torch": torch.__version__, "cases": {}}
    for case, (model_type, dims, yaml) in CASES.items():
        dtype = _dtype(yaml)
        with tempfile.TemporaryDirectory() as tmp:
            config = AutoConfig.for_model(model_type, **dims)
            torch.manual_seed(0)
            AutoModelForCausalLM.from_config(config, dtype=dtype).save_pretrained(tmp)
            model = AutoModelForCausalLM.from_pretrained(
                tmp, quantization_config=_bnb_config(yaml, dtype), device_map="cpu", dtype=dtype
            )
            _as_trained(model, dtype)
            facts["cases"][case] = {"model_type": model_type, "config": dims, "yaml": yaml, "bytes": _storage(model)}
        print(case, facts["cases"][case]["bytes"], file=sys.stderr)
    OUT.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
