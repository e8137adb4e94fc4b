"""Record what one FSDP2 rank really holds after a LoRA training step: tests/facts/fsdp_shards.json.

    . .venv/bin/activate && python scripts/fsdp_shards.py

For each case, torchrun starts N CPU processes (gloo); each builds a tiny random Llama with PEFT as Axolotl does
for the YAML (adapters upcast to float32, modules_to_save copies in the model dtype), applies fully_shard as
Axolotl 0.21's FSDP2 path does (each LoRA layer's lora_A / lora_B, each decoder layer, then the root), runs one
forward, backward and optimizer step, and rank 0 records the bytes of the distinct storages of its parameter
shards, gradient shards and optimizer state. Rank 0 holds the largest shard (FSDP2 gives it ceil(dim0 / N)
rows). tests/facts/test_sharding.py checks lora_compiler's per-device figures against these numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "facts" / "fsdp_shards.json"
LLAMA = dict(
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=100,
    tie_word_embeddings=False,
)
LORA = {
    "adapter": "lora",
    "lora_r": 3,
    "lora_alpha": 6,
    "lora_target_modules": ["q_proj", "v_proj", "down_proj"],
    "fsdp_version": 2,
    "fsdp_config": {"reshard_after_forward": True},
}
CASES = {
    f"{name}-{optim}-{n}": (dict(LORA, **yaml, optimizer=optim), n)
    for name, yaml in {"fp32": {}, "bf16-modules-to-save": {"bf16": True, "lora_modules_to_save": ["lm_head"]}}.items()
    for optim in ("adamw_torch", "sgd")
    for n in (2, 3)
}


def _storages(tensors) -> int:
    seen = {}
    for t in tensors:
        local = t.to_local() if hasattr(t, "to_local") else t
        seen[local.untyped_storage().data_ptr()] = local.untyped_storage().nbytes()
    return sum(seen.values())


def _rank(yaml: dict, out: str) -> None:
    import torch
    import torch.distributed as dist
    from peft import LoraConfig, get_peft_model
    from peft.tuners.lora import LoraLayer
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from transformers import AutoConfig, AutoModelForCausalLM

    dist.init_process_group("gloo")
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    torch.manual_seed(0)
    dtype = torch.bfloat16 if yaml.get("bf16") else torch.float32
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model("llama", **LLAMA), dtype=dtype)
    model = get_peft_model(
        model,
        LoraConfig(
            r=yaml["lora_r"],
            lora_alpha=yaml["lora_alpha"],
            target_modules=yaml["lora_target_modules"],
            modules_to_save=yaml.get("lora_modules_to_save"),
            task_type="CAUSAL_LM",
        ),
    )
    for module in list(model.modules()):
        if isinstance(module, LoraLayer):
            fully_shard(module.lora_A["default"], mesh=mesh)
            fully_shard(module.lora_B["default"], mesh=mesh)
    for layer in model.base_model.model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = (
        torch.optim.AdamW(params, lr=1e-3) if yaml["optimizer"] == "adamw_torch" else torch.optim.SGD(params, lr=1e-3)
    )
    model(input_ids=torch.tensor([[1, 2, 3]])).logits.float().sum().backward()
    optimizer.step()
    state = [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)]
    if dist.get_rank() == 0:
        Path(out).write_text(
            json.dumps(
                {
                    "params": _storages(model.parameters()),
                    "trainable": _storages(params),
                    "gradients": _storages(p.grad for p in params),
                    "optimizer_state": _storages(state),
                }
            )
        )
    dist.destroy_process_group()


def main() -> None:
    import torch

    facts = {"torch": torch.__version__, "config": LLAMA, "cases": {}}
    for case, (yaml, n) in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            out = f"{tmp}/rank0.json"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "torch.distributed.run",
                    "--standalone",
                    f"--nproc_per_node={n}",
                    __file__,
                    json.dumps(yaml),
                    out,
                ],
                check=True,
                capture_output=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            facts["cases"][case] = {"yaml": yaml, "devices": n, "rank0": json.loads(Path(out).read_text())}
        print(case, facts["cases"][case]["rank0"], file=sys.stderr)
    OUT.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 3:
        _rank(json.loads(sys.argv[1]), sys.argv[2])
    else:
        main()
