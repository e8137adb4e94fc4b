"""Static memory: base-weight bytes equal bitsandbytes' real storage (facts recorded by scripts/bnb_storage.py,
which quantises tiny models on the CPU) and torch's own tensors; optimizer state equals what one real step
allocates (torch's optimizers here, bitsandbytes' as recorded by scripts/bnb_optimizers.py through transformers'
Trainer); trainable and gradient bytes equal the adapter's tensors."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from conftest import REPO, needs_modern_stack

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.pipeline.adapter_file import load_dtype

FACTS = json.loads((REPO / "tests" / "facts" / "bnb_storage.json").read_text())
BNB_OPTIMIZERS = json.loads((REPO / "tests" / "facts" / "bnb_optimizers.json").read_text())
AXOLOTL_LOADS = {
    f["axolotl"]: f
    for f in (json.loads(p.read_text()) for p in sorted((REPO / "tests" / "facts").glob("axolotl_load_bytes-*.json")))
}
L = {"lora_r": 4, "lora_alpha": 8, "lora_target_modules": ["q_proj", "v_proj"]}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _tiny(tmp_path, model_type: str, dims: dict):
    from transformers import AutoConfig

    out = tmp_path / model_type
    AutoConfig.for_model(model_type, **dims).save_pretrained(out)
    return out


def _compiled(path, yaml: dict):
    result = compile_document({"base_model": str(path), **L, **yaml}, Options(offline=True))
    assert result.report is not None, [f.message for f in result.findings]
    return result


@needs_modern_stack
@pytest.mark.parametrize("case", sorted(FACTS["cases"]), ids=str)
def test_quantised_base_weights_are_the_bytes_bitsandbytes_stores(case, tmp_path):
    fact = FACTS["cases"][case]
    result = _compiled(_tiny(tmp_path, fact["model_type"], fact["config"]), fact["yaml"])
    assert result.report.static_memory.base_weights == fact["bytes"], (case, FACTS["bitsandbytes"])


@needs_modern_stack
@pytest.mark.parametrize(
    "release,case", [(r, c) for r, f in sorted(AXOLOTL_LOADS.items()) for c in sorted(f["cases"])], ids=lambda v: str(v)
)
def test_base_weights_are_what_the_real_axolotl_leaves_after_loading(release, case, tmp_path):
    """scripts/axolotl_dtypes.py: Axolotl's own ModelLoader quantises and casts a tiny model on the CPU, its load_lora
    wraps it and PEFT saves the adapter."""
    fact = AXOLOTL_LOADS[release]["cases"][case]
    path = _tiny(tmp_path, fact["model_type"], fact["config"])
    result = compile_document({"base_model": str(path), **L, **fact["yaml"]}, Options(offline=True, axolotl=release))
    assert result.report is not None, [f.message for f in result.findings]
    memory, adapter = result.report.static_memory, result.report.adapter_file
    assert (memory.base_weights, memory.trainable, adapter.bytes) == (
        fact["bytes"],
        fact["trainable"],
        fact["adapter_bytes"],
    ), (release, case)


@needs_modern_stack
@pytest.mark.parametrize("case", sorted(BNB_OPTIMIZERS["cases"]), ids=str)
def test_bitsandbytes_optimizer_state_is_what_its_first_step_allocates(case, tmp_path):
    fact = BNB_OPTIMIZERS["cases"][case]
    path = _tiny(tmp_path, "llama", BNB_OPTIMIZERS["config"])
    result = compile_document({"base_model": str(path), **fact["yaml"]}, Options(offline=True))
    memory = result.report.static_memory
    assert (memory.trainable, memory.optimizer_state) == (fact["trainable"], fact["optimizer_state"]), (
        case,
        BNB_OPTIMIZERS["bitsandbytes"],
    )
    assert any("unified memory" in n for n in memory.notes) == case.startswith("paged_")


OPTIMIZERS = ["adamw_torch", "adamw_torch_fused", "sgd", "adafactor"]


def _real_state_bytes(model_path, result, yaml: dict, optimizer: str) -> tuple[int, int, int]:
    """(base bytes, trainable bytes, optimizer state bytes) after one real step on the CPU model."""
    from peft import get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.optimization import Adafactor

    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_path), dtype=DTYPES[load_dtype(yaml)])
    base = sum(p.numel() * p.element_size() for p in model.parameters())
    peft_model = get_peft_model(model, copy.deepcopy(result.lora_config))
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = {
        "adamw_torch": lambda: torch.optim.AdamW(params, lr=1e-3),
        "adamw_torch_fused": lambda: torch.optim.AdamW(params, lr=1e-3, fused=True),
        "sgd": lambda: torch.optim.SGD(params, lr=1e-3),
        "adafactor": lambda: Adafactor(params, lr=1e-3, scale_parameter=False, relative_step=False),
    }[optimizer]()
    peft_model(input_ids=torch.tensor([[1, 2, 3]])).logits.float().sum().backward()
    opt.step()
    state = sum(v.numel() * v.element_size() for s in opt.state.values() for v in s.values() if torch.is_tensor(v))
    assert result.report.static_memory.optimizer == optimizer
    return base, sum(p.numel() * p.element_size() for p in params), state


@needs_modern_stack
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize(
    "extra",
    [{}, {"bf16": True}, {"bf16": True, "lora_modules_to_save": ["lm_head"]}],
    ids=["fp32", "bf16", "bf16-modules-to-save"],
)
def test_trainable_and_optimizer_bytes_are_what_one_real_step_allocates(tmp_path, optimizer, extra):
    path = _tiny(
        tmp_path,
        "llama",
        dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=128,
            tie_word_embeddings=False,
        ),
    )
    result = _compiled(path, {"adapter": "lora", "optimizer": optimizer, **extra})
    base, trainable, state = _real_state_bytes(path, result, extra, optimizer)
    memory = result.report.static_memory
    assert (memory.base_weights, memory.trainable, memory.gradients) == (base, trainable, trainable)
    assert memory.optimizer_state == state
    assert memory.total == base + 2 * trainable + state


def test_an_optimizer_not_modelled_is_said_so_and_sharding_is_planned(tmp_path):
    path = _tiny(
        tmp_path,
        "llama",
        dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=128,
        ),
    )
    memory = _compiled(
        path, {"adapter": "lora", "optimizer": "ademamix_8bit", "fsdp_config": {"fsdp_version": 2}}
    ).report.static_memory
    assert memory.optimizer_state is None and memory.total is None
    assert any("not modelled" in n for n in memory.notes) and memory.sharding.by == "FSDP2"
    assert [r.devices for r in memory.per_device] == [2, 4, 8]
    assert all(r.optimizer_state is None and r.on_device is None for r in memory.per_device)
