"""Record the optimizer state bitsandbytes' optimizers really allocate: tests/facts/bnb_optimizers.json.

    python3 -m venv /tmp/bnbv && /tmp/bnbv/bin/pip install torch==2.13.0 bitsandbytes transformers==5.20.1 accelerate peft==0.21.2
    /tmp/bnbv/bin/python scripts/bnb_optimizers.py

Each case builds a tiny random Llama in bf16, wraps it with PEFT as Axolotl would for the YAML (LoRA r=16 on
q_proj and v_proj, adapters upcast to float32; modules_to_save copies in the model dtype), lets transformers'
own Trainer.create_optimizer build the optimizer the YAML names (its bitsandbytes rule: AdamW, Lion or RMSprop,
8-bit when the name says so, paged when it says so; nn.Embedding weights overridden to 32-bit state), takes one
step on the CPU and records the bytes of every distinct tensor storage in the optimizer state (the 8-bit
quantisation maps are shared by all parameters, so they count once). Each case runs in its own process, as a
training run does: bitsandbytes' GlobalOptimManager is a process-wide singleton whose per-index overrides would
leak from one optimizer into the next. tests/facts/test_memory.py checks
lora_compiler's optimizer_state against these numbers; it needs no bitsandbytes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoConfig, AutoModelForCausalLM, Trainer, TrainingArguments

OUT = Path(__file__).resolve().parents[1] / "tests" / "facts" / "bnb_optimizers.json"
LLAMA = dict(
    hidden_size=256,
    intermediate_size=512,
    num_hidden_layers=2,
    num_attention_heads=8,
    num_key_value_heads=2,
    vocab_size=128,
    tie_word_embeddings=False,
)
LORA = {"lora_r": 16, "lora_alpha": 32, "lora_target_modules": ["q_proj", "v_proj"], "bf16": True}
OPTIMIZERS = [
    "adamw_bnb_8bit",
    "adamw_8bit",
    "paged_adamw_8bit",
    "paged_adamw_32bit",
    "lion_8bit",
    "lion_32bit",
    "paged_lion_8bit",
    "paged_lion_32bit",
    "rmsprop_bnb",
    "rmsprop_bnb_8bit",
    "rmsprop_bnb_32bit",
]
EXTRAS = {"plain": {}, "modules-to-save": {"lora_modules_to_save": ["embed_tokens", "lm_head"]}}


def _state_bytes(optimizer: torch.optim.Optimizer) -> int:
    storages = {}
    for state in optimizer.state.values():
        for value in state.values():
            if torch.is_tensor(value):
                storages[value.untyped_storage().data_ptr()] = value.untyped_storage().nbytes()
    return sum(storages.values())


def _one_step(model_dir: str, optim: str, yaml: dict, out_dir: str) -> tuple[int, int]:
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16)
    config = LoraConfig(
        r=yaml["lora_r"],
        lora_alpha=yaml["lora_alpha"],
        target_modules=yaml["lora_target_modules"],
        modules_to_save=yaml.get("lora_modules_to_save"),
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    args = TrainingArguments(output_dir=out_dir, optim=optim, use_cpu=True, report_to=[], bf16=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = Trainer(model=peft_model, args=args)
        optimizer = trainer.create_optimizer()
        peft_model(input_ids=torch.tensor([[1, 2, 3]])).logits.float().sum().backward()
        optimizer.step()
    trainable = sum(p.numel() * p.element_size() for p in peft_model.parameters() if p.requires_grad)
    return trainable, _state_bytes(optimizer)


def _case(optim: str, extra: str) -> dict:
    yaml = {"adapter": "lora", **LORA, **EXTRAS[extra], "optimizer": optim}
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(AutoConfig.for_model("llama", **LLAMA), dtype=torch.bfloat16).save_pretrained(
            tmp
        )
        trainable, state = _one_step(tmp, optim, yaml, f"{tmp}/out")
    return {"yaml": yaml, "trainable": trainable, "optimizer_state": state}


def main() -> None:
    import bitsandbytes

    facts = {"bitsandbytes": bitsandbytes.__version__, "torch": torch.__version__, "config": LLAMA, "cases": {}}
    for optim in OPTIMIZERS:
        for extra in EXTRAS:
            run = subprocess.run([sys.executable, __file__, optim, extra], check=True, capture_output=True, text=True)
            facts["cases"][f"{optim}-{extra}"] = case = json.loads(run.stdout.splitlines()[-1])
            print(optim, extra, case["trainable"], case["optimizer_state"], file=sys.stderr)
    OUT.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print(json.dumps(_case(*sys.argv[1:])))
    else:
        main()
