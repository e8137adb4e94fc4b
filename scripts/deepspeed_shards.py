"""Record what one DeepSpeed ZeRO rank holds after a LoRA step: tests/facts/deepspeed_shards.json.

    python3 -m venv /tmp/dsv && /tmp/dsv/bin/pip install torch==2.13.0 "deepspeed>=0.18.6,<0.19.0" \\
        transformers==5.20.1 peft==0.21.2 accelerate          # Axolotl's deepspeed extra pins <0.19
    /tmp/dsv/bin/python scripts/deepspeed_shards.py

For each case, torchrun starts N CPU processes (gloo; DeepSpeed picks its CPU accelerator). Each builds a tiny
random Llama in bf16 with PEFT (adapters upcast to float32), hands the trainable parameters to
deepspeed.initialize with the case's zero_optimization stage, bf16 and a torch AdamW, runs one forward,
backward and step, and rank 0 records its optimizer state (distinct storages), the size of its float32 master
partition, and under stage 3 the bytes of its parameter partitions (ds_tensor). On the CPU, gloo refuses the
all-gather of the updated partition at the end of a stage 1/2 step; the state is allocated by then, so it is
recorded all the same, and the facts say which steps finished.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "facts" / "deepspeed_shards.json"
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
    "bf16": True,
    "lora_r": 3,
    "lora_alpha": 6,
    "optimizer": "adamw_torch",
    "lora_target_modules": ["q_proj", "v_proj", "down_proj"],
}
CASES = {
    f"zero{stage}-{n}{'-odd' if odd else ''}": (stage, n, odd)
    for stage in (1, 2, 3)
    for n in (2, 3)
    for odd in (False, True)
}


def _yaml(stage: int, odd: bool) -> dict:
    """odd: r=5 on q_proj and o_proj, so that the partitions need padding."""
    extra = {"lora_r": 5, "lora_alpha": 10, "lora_target_modules": ["q_proj", "o_proj"]} if odd else {}
    return {**LORA, **extra, "deepspeed": {"zero_optimization": {"stage": stage}, "bf16": {"enabled": True}}}


def _rank(stage: int, odd: bool, out: str) -> None:
    import deepspeed
    import torch
    import torch.distributed as dist
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    yaml = _yaml(stage, odd)
    deepspeed.init_distributed(dist_backend="gloo")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model("llama", **LLAMA), dtype=torch.bfloat16)
    model = get_peft_model(
        model,
        LoraConfig(
            r=yaml["lora_r"],
            lora_alpha=yaml["lora_alpha"],
            target_modules=yaml["lora_target_modules"],
            task_type="CAUSAL_LM",
        ),
    )
    params = [p for p in model.parameters() if p.requires_grad]
    config = {"train_micro_batch_size_per_gpu": 1, **yaml["deepspeed"]}
    engine, optimizer, _, _ = deepspeed.initialize(
        model=model, optimizer=torch.optim.AdamW(params, lr=1e-3), config=config
    )
    engine.backward(engine(input_ids=torch.tensor([[1, 2, 3]])).logits.float().sum())
    try:
        engine.step()
        finished = True
    except RuntimeError:  # gloo: "Output 0 of Split is a view ..." in the closing all-gather
        finished = False
    if dist.get_rank() == 0:
        inner = optimizer.optimizer
        state = {
            v.untyped_storage().data_ptr(): v.untyped_storage().nbytes()
            for s in inner.state.values()
            for v in s.values()
            if torch.is_tensor(v)
        }
        master = getattr(optimizer, "single_partition_of_fp32_groups", None) or optimizer.fp32_partitioned_groups_flat
        Path(out).write_text(
            json.dumps(
                {
                    "optimizer_state": sum(state.values()),
                    "master_weights": sum(4 * int(t.numel()) for t in master),
                    "partitions": sum(
                        int(p.ds_tensor.numel()) * p.ds_tensor.element_size()
                        for p in model.parameters()
                        if hasattr(p, "ds_tensor")
                    )
                    if stage == 3
                    else None,
                    "step_finished": finished,
                }
            )
        )


def main() -> None:
    from importlib.metadata import version

    # not imported here: importing deepspeed sets up this process's accelerator, which its children inherit
    facts = {"deepspeed": version("deepspeed"), "torch": version("torch"), "config": LLAMA, "cases": {}}
    for case, (stage, n, odd) in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "torch.distributed.run",
                    "--standalone",
                    f"--nproc_per_node={n}",
                    __file__,
                    str(stage),
                    str(int(odd)),
                    f"{tmp}/rank0.json",
                ],
                check=True,
                capture_output=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            facts["cases"][case] = {
                "yaml": _yaml(stage, odd),
                "devices": n,
                "rank0": json.loads(Path(f"{tmp}/rank0.json").read_text()),
            }
        print(case, facts["cases"][case]["rank0"], file=sys.stderr)
    OUT.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 4:
        _rank(int(sys.argv[1]), bool(int(sys.argv[2])), sys.argv[3])
    else:
        main()
