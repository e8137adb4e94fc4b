"""Record what PEFT's save_pretrained writes as adapter_config.json for tiny real models: tests/facts/peft_saves-V.json.

    .venv/bin/python scripts/peft_saves.py         # the pinned stack (scripts/install.sh): peft 0.21.2
    PYTHONPATH=$PWD V/bin/python scripts/peft_saves.py   # any venv V with another PEFT and lora-compiler's
    # dependencies (python3 -m venv V && V/bin/pip install torch==2.13.0 transformers==X peft==Y -e .)

Each case is an Axolotl YAML on a tiny model config. The LoraConfig is the one Axolotl builds for it (the
compile's own lora_config, before injection: what load_lora hands to get_peft_model); the script applies it
with PEFT to a real randomly initialised CPU model, saves the adapter with PeftModel.save_pretrained, and
records the adapter_config.json text byte for byte (the model directory replaced by MODEL), the fields PEFT
held as sets (their list order in the file is the set's iteration order, so it is no fact; the script runs
with PYTHONHASHSEED=0 so that a re-run only differs where PEFT does), the trained count,
the adapter_model.safetensors size, the per-module ranks, and whether PEFT reloads its own save
(PeftModel.from_pretrained on a fresh model). tests/facts/test_peft_saves.py compiles the same cases and
compares our adapter_config.json key for key, in order, against the facts for the installed PEFT.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "facts"
MODEL_TOKEN = "MODEL"
DATASETS = [{"path": "tatsu-lab/alpaca", "type": "alpaca"}]

LLAMA = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 128,
    "max_position_embeddings": 128,
    "tie_word_embeddings": False,
}
QWEN2_MOE = {
    "model_type": "qwen2_moe",
    "architectures": ["Qwen2MoeForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 128,
    "moe_intermediate_size": 32,
    "shared_expert_intermediate_size": 64,
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 128,
    "max_position_embeddings": 128,
    "tie_word_embeddings": False,
}
MIXTRAL = {
    "model_type": "mixtral",
    "architectures": ["MixtralForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 128,
    "max_position_embeddings": 128,
    "tie_word_embeddings": False,
}
L = {"adapter": "lora", "lora_r": 4, "lora_alpha": 8, "datasets": DATASETS}
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # the first matching key wins: layer 0's q_proj trains at r=8, not 64
    "llama-rank-pattern-order": (
        LLAMA,
        {
            **L,
            "lora_target_modules": ["q_proj", "v_proj"],
            "lora_rank_pattern": {"q_proj": 8, "model.layers.0.self_attn.q_proj": 64},
            "lora_alpha_pattern": {"v_proj": 32, "model.layers.1.self_attn.v_proj": 4},
        },
    ),
    "llama-modules-to-save": (LLAMA, {**L, "lora_target_linear": True, "lora_modules_to_save": ["lm_head"]}),
    # PEFT expands the shorthand into the names it matched, and saves those
    "llama-all-linear": (LLAMA, {**L, "lora_target_modules": "all-linear"}),
    "qwen2-moe-experts": (
        QWEN2_MOE,
        {**L, "lora_target_modules": ["q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"]},
    ),
    "mixtral-experts": (MIXTRAL, {**L, "lora_target_modules": ["q_proj", "w1", "w2", "w3"]}),
}


def _lora_config(model_dir: Path, keys: dict[str, Any], work: Path) -> Any:
    """The LoraConfig Axolotl builds for the YAML (lora_compiler's pipeline, before injection)."""
    import yaml

    from lora_compiler.engine.compiler import compile_document
    from lora_compiler.engine.options import Options

    yml = work / "train.yml"
    yml.write_text(yaml.safe_dump({"base_model": str(model_dir), **keys}, sort_keys=False), encoding="utf-8")
    result = compile_document(yml, Options(offline=True))
    if result.lora_config is None:
        raise SystemExit(f"{keys}: no LoraConfig: {[f.message for f in result.findings]}")
    return copy.deepcopy(result.lora_config)


def real_model(model_dir: Path) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))


def _ranks(peft_model: Any) -> dict[str, int]:
    from peft.tuners.lora import LoraLayer

    ranks = {}
    for name, module in peft_model.base_model.model.named_modules():
        if isinstance(module, LoraLayer):
            parameter = getattr(module, "parameter_name", None)
            clean = name.replace(".base_layer", "")
            ranks[f"{clean}.{parameter}" if parameter else clean] = int(module.r["default"])
    return dict(sorted(ranks.items()))


def record(model_cfg: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    from peft import PeftModel, get_peft_model

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = work / "model"
        model_dir.mkdir()
        (model_dir / "config.json").write_text(json.dumps(model_cfg), encoding="utf-8")
        config = _lora_config(model_dir, keys, work)
        built = {k for k, v in config.to_dict().items() if isinstance(v, (set, frozenset))}
        peft_model = get_peft_model(real_model(model_dir), config)
        applied = peft_model.peft_config["default"]
        sets = sorted(built | {k for k, v in applied.to_dict().items() if isinstance(v, (set, frozenset))})
        trained, _ = peft_model.get_nb_trainable_parameters()
        saved = work / "adapter"
        peft_model.save_pretrained(str(saved))
        text = (saved / "adapter_config.json").read_text(encoding="utf-8")
        try:
            reloaded = PeftModel.from_pretrained(real_model(model_dir), str(saved))
            reload: dict[str, Any] = {"ok": True, "ranks": _ranks(reloaded)}
        except Exception as exc:  # PEFT refusing its own save is the fact recorded
            reload = {"ok": False, "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"}
        return {
            "model": model_cfg,
            "yaml": keys,
            "adapter_config": text.replace(str(model_dir), MODEL_TOKEN),
            "set_fields": sets,
            "trainable_params": int(trained),
            "adapter_bytes": (saved / "adapter_model.safetensors").stat().st_size,
            "ranks": _ranks(peft_model),
            "reload": reload,
        }


def main() -> int:
    if os.environ.get("PYTHONHASHSEED") != "0":  # PEFT writes sets in their iteration order: fix it, so a re-run
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})  # diffs clean
    import peft
    import torch
    import transformers

    warnings.simplefilter("ignore")
    transformers.logging.set_verbosity_error()
    facts = {
        "generated_by": "scripts/peft_saves.py",
        "peft": peft.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__.split("+")[0],
        "cases": {name: record(model_cfg, keys) for name, (model_cfg, keys) in CASES.items()},
    }
    out = OUT / f"peft_saves-{peft.__version__}.json"
    out.write_text(json.dumps(facts, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    for name, case in facts["cases"].items():
        print(
            name,
            case["trainable_params"],
            case["adapter_bytes"],
            "reload ok" if case["reload"]["ok"] else "reload FAILS",
        )
    print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
