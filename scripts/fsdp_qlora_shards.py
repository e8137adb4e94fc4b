"""Record what one FSDP2 rank holds of a quantised base under the real Axolotl: tests/facts/fsdp_qlora_shards-<release>.json.

    .venv-axolotl-0.21.0/bin/python scripts/fsdp_qlora_shards.py      # the release's venv, with bitsandbytes

For each case, torchrun starts N CPU processes (gloo). Each loads a tiny random Llama as scripts/axolotl_dtypes.py
does (Axolotl's own ModelLoader: quantization config, the loading passes), applies Axolotl's FSDP2 patches for
bitsandbytes parameters (monkeypatch/fsdp2_qlora.py: a shard of a Params4bit or Int8Params stays one, keeping
the whole quantisation state), wraps it with Axolotl's load_lora, applies fully_shard to each decoder layer and
the root, and rank 0 records the bytes of the distinct storages of its parameter shards plus the distinct
quantisation states (QuantState tensors, int8 row scales) its shards hold. tests/facts/test_sharding.py compares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import axolotl_dtypes as loads

CASES = {f"{case}-{n}": (case, n) for case in ("llama-qlora-fsdp2", "llama-lora-8bit-fsdp2") for n in (2, 3)}


def _rank(case: str, model_dir: str, out: str) -> None:
    import torch
    import torch.distributed as dist
    from axolotl.loaders.adapter import load_lora
    from axolotl.loaders.model import ModelLoader
    from axolotl.monkeypatch.fsdp2_qlora import (
        apply_init_dtype_attrs_patch,
        apply_init_sharded_param_patch,
        apply_init_unsharded_param_patch,
    )
    from axolotl.utils.config import normalize_config, validate_config
    from axolotl.utils.dict import DictDefault
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from transformers import AutoConfig, AutoModelForCausalLM

    dist.init_process_group("gloo")
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    apply_init_sharded_param_patch()
    apply_init_unsharded_param_patch()
    apply_init_dtype_attrs_patch()
    model_type, dims, yaml = loads.CASES[case]
    if dist.get_rank() == 0:
        torch.manual_seed(0)
        AutoModelForCausalLM.from_config(
            AutoConfig.for_model(model_type, **dims), dtype=torch.bfloat16
        ).save_pretrained(model_dir)
    dist.barrier()
    cfg = validate_config(
        DictDefault({"base_model": model_dir, **loads.BASE, **yaml}),
        capabilities=dict(loads.CAPABILITIES),
        env_capabilities={"torch_version": torch.__version__.split("+")[0]},
    )
    normalize_config(cfg)
    loader = ModelLoader(cfg, tokenizer=None)
    loader.patch_manager._apply_adapter_patches()
    loader._set_quantization_config()
    loader.model = AutoModelForCausalLM.from_pretrained(
        model_dir,
        quantization_config=loader.model_kwargs.get("quantization_config"),
        dtype=cfg.torch_dtype,
        device_map="cpu",
    )
    loader._configure_embedding_dtypes()
    model, _ = load_lora(loader.model, cfg, inference=False)
    for layer in model.base_model.model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    storages, states, trainable = {}, {}, {}
    for param in model.parameters():
        local = getattr(param, "_local_tensor", param)
        storages[local.untyped_storage().data_ptr()] = local.untyped_storage().nbytes()
        if param.requires_grad:
            trainable[local.untyped_storage().data_ptr()] = local.untyped_storage().nbytes()
        state = getattr(local, "quant_state", None)
        if state is not None:
            states[id(state)] = sum(
                v.numel() * v.element_size() for v in state.as_dict(packed=False).values() if torch.is_tensor(v)
            )
        scale = getattr(local, "SCB", None)
        if scale is not None:
            states[id(scale)] = scale.numel() * scale.element_size()
    if dist.get_rank() == 0:
        Path(out).write_text(
            json.dumps(
                {
                    "params": sum(storages.values()),
                    "quant_states": sum(states.values()),
                    "trainable": sum(trainable.values()),
                }
            )
        )
    dist.destroy_process_group()


def main() -> None:
    import axolotl
    import bitsandbytes
    import torch

    facts = {
        "axolotl": axolotl.__version__,
        "bitsandbytes": bitsandbytes.__version__,
        "torch": torch.__version__,
        "cases": {},
    }
    for name, (case, n) in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "torch.distributed.run",
                    "--standalone",
                    f"--nproc_per_node={n}",
                    __file__,
                    case,
                    f"{tmp}/model",
                    f"{tmp}/rank0.json",
                ],
                check=True,
                capture_output=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            model_type, dims, yaml = loads.CASES[case]
            facts["cases"][name] = {
                "model_type": model_type,
                "config": dims,
                "yaml": yaml,
                "devices": n,
                "rank0": json.loads(Path(f"{tmp}/rank0.json").read_text()),
            }
        print(name, facts["cases"][name]["rank0"], file=sys.stderr)
    (loads.OUT / f"fsdp_qlora_shards-{axolotl.__version__}.json").write_text(
        json.dumps(facts, indent=1, sort_keys=True) + "\n"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4:
        _rank(*sys.argv[1:])
    else:
        main()
