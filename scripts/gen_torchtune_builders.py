"""Record torchtune's LoRA model builders as data: lora_compiler/export/torchtune_builders.json.

Run inside a venv holding torchtune (scripts/trainer_venvs.sh DIR torchtune):
    DIR/torchtune/bin/python scripts/gen_torchtune_builders.py lora_compiler/export/torchtune_builders.json
Each text-model `lora_*` builder is built on the meta device and measured (layers, widths, heads,
vocabulary, RoPE, tied output), and its keyword arguments are read from its signature, so the
exporter picks a builder by the model's real shape without importing torchtune.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys

import torch

FAMILIES = {  # torchtune package -> the Hugging Face model_type its checkpoints convert from
    "llama2": "llama",
    "code_llama2": "llama",
    "llama3": "llama",
    "llama3_1": "llama",
    "llama3_2": "llama",
    "llama3_3": "llama",
    "mistral": "mistral",
    "gemma": "gemma",
    "gemma2": "gemma2",
    "qwen2": "qwen2",
    "qwen2_5": "qwen2",
    "phi3": "phi3",
    "phi4": "phi3",
}


def measure(builder) -> dict:
    with torch.device("meta"):
        model = builder(lora_attn_modules=["q_proj"], lora_rank=8, lora_alpha=16)
    layer = model.layers[0]
    attn, mlp = layer.attn, layer.mlp
    rope = getattr(attn, "pos_embeddings", None)
    tied = type(model.output).__name__ == "TiedLinear"
    return {
        "num_layers": len(model.layers),
        "embed_dim": model.tok_embeddings.embedding_dim,
        "vocab_size": model.tok_embeddings.num_embeddings,
        "num_heads": attn.num_heads,
        "num_kv_heads": attn.num_kv_heads,
        "head_dim": attn.head_dim,
        "intermediate_dim": mlp.w1.out_features if hasattr(mlp, "w1") else None,
        "max_seq_len": model.max_seq_len,
        "rope_base": getattr(rope, "base", None),
        "tied_output": tied,
    }


def main(out: str) -> None:
    import torchtune

    table = {}
    for package, model_type in FAMILIES.items():
        module = importlib.import_module(f"torchtune.models.{package}")
        for name in sorted(dir(module)):
            fn = getattr(module, name)
            if not name.startswith("lora_") or "reward" in name or not inspect.isfunction(fn):
                continue
            params = inspect.signature(fn).parameters
            if "vocab_size" in params:  # a component builder: every dimension is an argument
                continue
            table[f"torchtune.models.{package}.{name}"] = {
                "model_type": model_type,
                "kwargs": sorted(params),
                **measure(fn),
            }
    doc = {"torchtune": torchtune.__version__, "torch": torch.__version__, "builders": table}
    with open(out, "w") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True)
        fh.write("\n")
    print(f"{len(table)} builders -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
