"""adapter_file.bytes is the size of the adapter_model.safetensors PEFT's save_pretrained really writes.

Each case compiles a YAML on a tiny model config, then builds that model for real on the CPU in the
dtype Axolotl would load it in, applies the compile's own LoraConfig with PEFT (autocast as the YAML asks),
saves it, and compares the file's size byte for byte. Axolotl's own casts that PEFT does not make (MoE
routers kept in float32) are applied to the real model as Axolotl applies them (loaders/model.py).
"""

from __future__ import annotations

import copy
import json
import struct

import pytest
import torch
from conftest import needs_modern_stack

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.pipeline.adapter_file import file_size, load_dtype

L = {"adapter": "lora", "lora_r": 4, "lora_alpha": 8}
CASES = {
    "plain-fp32": ("llama", {}, {**L, "lora_target_modules": ["q_proj", "v_proj"]}),
    "plain-bf16-3-layers": ("llama", {"num_hidden_layers": 3}, {**L, "bf16": True, "lora_target_linear": True}),
    "fp16": ("llama", {}, {**L, "fp16": True, "lora_target_modules": ["o_proj", "down_proj"]}),
    "no-autocast-bf16": (
        "llama",
        {},
        {**L, "bf16": True, "peft_autocast_adapter_dtype": False, "lora_target_linear": True},
    ),
    "dora-bf16": ("llama", {}, {**L, "bf16": True, "peft_use_dora": True, "lora_target_modules": ["q_proj", "k_proj"]}),
    "modules-to-save-bf16": (
        "llama",
        {"tie_word_embeddings": False},
        {**L, "bf16": True, "lora_target_modules": ["q_proj"], "lora_modules_to_save": ["lm_head"]},
    ),
    "tied-modules-to-save": (
        "llama",
        {"tie_word_embeddings": True},
        {**L, "bf16": True, "lora_target_modules": ["q_proj"], "lora_modules_to_save": ["embed_tokens", "lm_head"]},
    ),
    "tied-ensure-weight-tying": (
        "llama",
        {"tie_word_embeddings": True},
        {
            **L,
            "lora_target_modules": ["q_proj"],
            "lora_modules_to_save": ["embed_tokens"],
            "peft_ensure_weight_tying": True,
        },
    ),
    "embedding-lora": (
        "llama",
        {"tie_word_embeddings": False},
        {**L, "bf16": True, "lora_target_modules": ["q_proj", "embed_tokens", "lm_head"]},
    ),
    "trainable-tokens": (
        "llama",
        {},
        {**L, "bf16": True, "lora_target_modules": ["q_proj"], "peft_trainable_token_indices": [1, 5, 9]},
    ),
    "rank-and-alpha-patterns": (
        "llama",
        {},
        {
            **L,
            "lora_target_modules": ["q_proj", "v_proj", "down_proj"],
            "lora_rank_pattern": {"v_proj": 8},
            "lora_alpha_pattern": {"v_proj": 32},
        },
    ),
    "layers-to-transform": ("llama", {}, {**L, "lora_target_linear": True, "peft_layers_to_transform": [1]}),
    "target-parameters-experts": (
        "mixtral",
        {},
        {**L, "bf16": True, "lora_target_modules": ["q_proj"], "lora_target_parameters": ["gate_up_proj", "down_proj"]},
    ),
    "moe-target-linear": ("mixtral", {}, {**L, "bf16": True, "lora_target_linear": True}),
    "gpt2-conv1d": ("gpt2", {}, {**L, "lora_target_modules": ["c_attn", "c_proj"]}),
}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _real_size(model_path, values: dict, lora_config, out) -> int:
    from peft import get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_path)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=DTYPES[load_dtype(values)])
    for name, module in model.named_modules():  # Axolotl keeps MoE routers in float32 (loaders/model.py)
        if name.endswith(".gate"):
            module.to(torch.float32)
    autocast = values.get("peft_autocast_adapter_dtype") is not False
    peft_model = get_peft_model(model, copy.deepcopy(lora_config), autocast_adapter_dtype=autocast)
    peft_model.save_pretrained(out)
    return (out / "adapter_model.safetensors").stat().st_size


@needs_modern_stack
@pytest.mark.parametrize("case", sorted(CASES), ids=str)
def test_the_predicted_adapter_file_is_the_size_peft_saves(case, model_dir, tmp_path):
    model_type, overrides, keys = CASES[case]
    path = model_dir(model_type, **overrides)
    result = compile_document({"base_model": str(path), **keys}, Options(offline=True))
    assert result.report is not None and result.lora_config is not None, [f.message for f in result.findings]
    predicted = result.report.adapter_file
    assert predicted.bytes == _real_size(path, keys, result.lora_config, tmp_path / "saved"), predicted


def test_the_safetensors_layout_is_safetensors_own(tmp_path):
    from safetensors.torch import save_file

    tensors = {
        "b.w": torch.zeros(3, 5, dtype=torch.bfloat16),
        "a.w": torch.zeros(2, dtype=torch.float32),
        "k10": torch.zeros(7, dtype=torch.float16),
        "k2": torch.zeros(1, 1, dtype=torch.float32),
    }
    save_file(tensors, tmp_path / "x.safetensors", metadata={"format": "pt"})
    names = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}
    predicted = file_size((k, names[t.dtype], tuple(t.shape)) for k, t in tensors.items())
    data = (tmp_path / "x.safetensors").read_bytes()
    assert predicted == len(data)
    header = json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])
    assert list(header) == ["__metadata__", "a.w", "k2", "b.w", "k10"]


@pytest.mark.parametrize(
    ("keys", "why"), [({"deepspeed": "zero3.json"}, "DeepSpeed"), ({"tokens": ["<x>"]}, "added tokens")]
)
def test_sizes_the_yaml_cannot_determine_are_unknown_with_the_reason(model_dir, keys, why):
    path = model_dir("llama")
    result = compile_document(
        {"base_model": str(path), **L, "lora_target_modules": ["q_proj"], **keys}, Options(offline=True)
    )
    assert result.report.adapter_file.bytes is None and why in result.report.adapter_file.unknown_because
