"""Record the base-weight bytes the real Axolotl leaves after loading: tests/facts/axolotl_load_bytes-<release>.json.

    AXOLOTL=0.21.0 scripts/axolotl_differential.sh --install      # once: the release's own venv
    .venv-axolotl-0.21.0/bin/pip install bitsandbytes               # 4-bit and 8-bit loads run on the CPU
    .venv-axolotl-0.21.0/bin/python scripts/axolotl_dtypes.py

Each case writes a tiny random model in the YAML's dtype, lets Axolotl's own ModelLoader build the
quantization config (_set_quantization_config), loads the model with it on the CPU, applies Axolotl's adapter
patches (the kbit-preparation patch of 0.20+) and runs its _configure_embedding_dtypes (the float32 pass,
prepare_model_for_kbit_training, the pass back), then records the bytes of every parameter's storage and
bitsandbytes' quantisation state; then Axolotl's own load_lora wraps it, and the trainable bytes and the size of
the adapter_model.safetensors PEFT's save_pretrained writes are recorded too. tests/facts/test_memory.py compiles the
same YAMLs and compares base_weights, trainable and adapter_file bytes.
This script must not import lora_compiler.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bnb_storage import _storage

OUT = Path(__file__).resolve().parents[1] / "tests" / "facts"
LLAMA = dict(
    hidden_size=64,
    intermediate_size=160,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=128,
    tie_word_embeddings=False,
)
MIXTRAL = dict(LLAMA, num_local_experts=4, num_experts_per_tok=2)
BASE = {
    "lora_r": 4,
    "lora_alpha": 8,
    "lora_target_modules": ["q_proj", "v_proj"],
    "sequence_len": 64,
    "micro_batch_size": 1,
    "gradient_accumulation_steps": 1,
    "num_epochs": 1,
    "learning_rate": 1e-4,
    "datasets": [{"path": "tatsu-lab/alpaca", "type": "alpaca"}],
    "output_dir": "./out",
}
FSDP2 = {
    "fsdp_version": 2,
    "fsdp_config": {
        "reshard_after_forward": True,
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "transformer_layer_cls_to_wrap": "LlamaDecoderLayer",
    },
}
CASES = {
    "llama-lora-bf16": ("llama", LLAMA, {"adapter": "lora", "bf16": True}),
    "llama-qlora-bf16": ("llama", LLAMA, {"adapter": "qlora", "load_in_4bit": True, "bf16": True}),
    "llama-qlora-skip-upcast": (
        "llama",
        LLAMA,
        {"adapter": "qlora", "load_in_4bit": True, "bf16": True, "embeddings_skip_upcast": True},
    ),
    "llama-lora-8bit-fp16": ("llama", LLAMA, {"adapter": "lora", "load_in_8bit": True, "fp16": True}),
    "llama-qlora-fsdp2": ("llama", LLAMA, {"adapter": "qlora", "load_in_4bit": True, "bf16": True, **FSDP2}),
    "llama-lora-8bit-fsdp2": ("llama", LLAMA, {"adapter": "lora", "load_in_8bit": True, "bf16": True, **FSDP2}),
    "llama-lora-fsdp2-bf16": ("llama", LLAMA, {"adapter": "lora", "bf16": True, **FSDP2}),
    "llama-qlora-fsdp2-modules-to-save": (
        "llama",
        LLAMA,
        {
            "adapter": "qlora",
            "load_in_4bit": True,
            "bf16": True,
            "lora_modules_to_save": ["lm_head", "embed_tokens"],
            **FSDP2,
        },
    ),
    "llama-qlora-modules-to-save": (
        "llama",
        LLAMA,
        {"adapter": "qlora", "load_in_4bit": True, "bf16": True, "lora_modules_to_save": ["lm_head", "embed_tokens"]},
    ),
    "mixtral-qlora-bf16": ("mixtral", MIXTRAL, {"adapter": "qlora", "load_in_4bit": True, "bf16": True}),
    "mixtral-lora-bf16": ("mixtral", MIXTRAL, {"adapter": "lora", "bf16": True}),
}
CAPABILITIES = {"bf16": True, "fp8": False, "tf32": True, "n_gpu": 1, "compute_capability": "sm_90"}


def _case(model_type: str, dims: dict, yaml: dict, tmp: str) -> dict:
    from axolotl.loaders.adapter import load_lora
    from axolotl.loaders.model import ModelLoader
    from axolotl.utils.config import normalize_config, validate_config
    from axolotl.utils.dict import DictDefault
    from transformers import AutoConfig, AutoModelForCausalLM

    dtype = torch.bfloat16 if yaml.get("bf16") else torch.float16 if yaml.get("fp16") else torch.float32
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **dims), dtype=dtype).save_pretrained(tmp)
    cfg = validate_config(
        DictDefault({"base_model": tmp, **BASE, **yaml}),
        capabilities=dict(CAPABILITIES),
        env_capabilities={"torch_version": torch.__version__.split("+")[0]},
    )
    normalize_config(cfg)
    loader = ModelLoader(cfg, tokenizer=None)
    if hasattr(loader.patch_manager, "_apply_adapter_patches"):
        loader.patch_manager._apply_adapter_patches()
    loader._set_quantization_config()
    model = AutoModelForCausalLM.from_pretrained(
        tmp, quantization_config=loader.model_kwargs.get("quantization_config"), dtype=cfg.torch_dtype, device_map="cpu"
    )
    loader.model = model
    loader._configure_embedding_dtypes()
    base = _storage(loader.model)
    peft_model, _ = load_lora(loader.model, cfg, inference=False)
    trainable = sum(p.numel() * p.element_size() for p in peft_model.parameters() if p.requires_grad)
    peft_model.save_pretrained(f"{tmp}/adapter")
    return {
        "bytes": base,
        "trainable": trainable,
        "adapter_bytes": os.path.getsize(f"{tmp}/adapter/adapter_model.safetensors"),
    }


def main() -> None:
    import axolotl
    import bitsandbytes

    facts = {
        "axolotl": axolotl.__version__,
        "bitsandbytes": bitsandbytes.__version__,
        "torch": torch.__version__,
        "cases": {},
    }
    for case, (model_type, dims, yaml) in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            facts["cases"][case] = {
                "model_type": model_type,
                "config": dims,
                "yaml": yaml,
                **_case(model_type, dims, yaml, tmp),
            }
        print(case, facts["cases"][case], file=sys.stderr)
    out = OUT / f"axolotl_load_bytes-{axolotl.__version__}.json"
    out.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
