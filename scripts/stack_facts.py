"""Record what the installed transformers and PEFT answer to the questions some expectations depend on.

Run in each stack's venv (nothing of lora-compiler is imported; tiny models are built from config, on the CPU or
the meta device, offline):

    /work/main/.venv/bin/python scripts/stack_facts.py          # pinned stack
    /work/venvs/newest/bin/python scripts/stack_facts.py        # newest stack

It writes tests/facts/peft_answers-<peft version>.json (answers PEFT's own code decides) and
tests/facts/transformers_answers-<transformers version>.json (answers the modelling code decides), each
recording both versions it was measured with (an answer may depend on both: Jamba's router is a Linear in
transformers 5.20 and not in 5.25, and PEFT decides what it does with either). tests/stack_facts.py reads them
when the installed versions are the ones measured.
"""

from __future__ import annotations

import json
import sys
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FACTS = REPO / "tests" / "facts"
SMALL = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, vocab_size=128)
# Tiny MoE configs: a dense first layer and an MoE layer, so a name reaches Linear layers beside fused experts.
MOE: dict[str, dict[str, Any]] = {
    "deepseek_v2": dict(
        SMALL,
        num_hidden_layers=2,
        first_k_dense_replace=1,
        n_routed_experts=4,
        n_shared_experts=1,
        num_experts_per_tok=2,
        moe_intermediate_size=32,
        kv_lora_rank=16,
        q_lora_rank=16,
        qk_rope_head_dim=8,
        qk_nope_head_dim=8,
        v_head_dim=16,
    ),
    "deepseek_v3": dict(
        SMALL,
        num_hidden_layers=2,
        first_k_dense_replace=1,
        n_routed_experts=4,
        n_shared_experts=1,
        num_experts_per_tok=2,
        moe_intermediate_size=32,
        kv_lora_rank=16,
        q_lora_rank=16,
        qk_rope_head_dim=8,
        qk_nope_head_dim=8,
        v_head_dim=16,
        n_group=1,
        topk_group=1,
    ),
    "afmoe": dict(
        SMALL,
        num_hidden_layers=2,
        num_dense_layers=1,
        num_experts=4,
        num_experts_per_tok=2,
        num_shared_experts=1,
        moe_intermediate_size=32,
        head_dim=16,
    ),
    "qwen2_moe": dict(
        SMALL,
        num_hidden_layers=2,
        num_experts=4,
        num_experts_per_tok=2,
        moe_intermediate_size=32,
        shared_expert_intermediate_size=64,
    ),
    "qwen3_moe": dict(
        SMALL, num_hidden_layers=2, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, head_dim=16
    ),
    "mixtral": dict(SMALL, num_hidden_layers=2, num_local_experts=4, num_experts_per_tok=2),
    "jamba": dict(
        SMALL,
        num_hidden_layers=4,
        num_experts=4,
        num_experts_per_tok=2,
        attn_layer_period=2,
        attn_layer_offset=1,
        expert_layer_period=2,
        expert_layer_offset=1,
        mamba_d_state=8,
    ),
}
ROUTERS = {"qwen2_moe": "gate", "qwen3_moe": "gate", "mixtral": "gate", "jamba": "router"}


def _model(model_type: str) -> Any:
    from transformers import AutoConfig, AutoModelForCausalLM

    return AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **MOE[model_type]))


def _peft(model: Any, **config: Any) -> Any:
    """get_peft_model's PeftModel, or the text of its refusal."""
    from peft import LoraConfig, get_peft_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return get_peft_model(model, LoraConfig(r=2, **config))
        except Exception as exc:  # a refusal is an answer too
            return f"{type(exc).__name__}: {exc}"


def modules_to_save_takes_partial_names() -> bool:
    """Does modules_to_save=["head"] wrap a llama's lm_head (PEFT 0.21.2: a plain suffix)?"""
    from transformers import AutoConfig, AutoModelForCausalLM

    model = AutoModelForCausalLM.from_config(AutoConfig.for_model("llama", **SMALL, num_hidden_layers=1))
    peft_model = _peft(model, target_modules=["q_proj"], modules_to_save=["head"])
    return type(peft_model.base_model.model.lm_head).__name__ == "ModulesToSaveWrapper"


def wraps_dense_linear_beside_fused_experts(model_type: str) -> bool:
    """With target_modules [gate_proj, up_proj, down_proj], does PEFT still wrap the dense and shared-expert
    Linear layers of those names when it converts the names for the fused experts (PEFT PRs 3711, 3945)?"""
    import torch

    model = _model(model_type)
    dense = [n for n, m in model.named_modules() if n.endswith("gate_proj") and isinstance(m, torch.nn.Linear)]
    assert dense, f"{model_type}: no Linear gate_proj to ask about"
    peft_model = _peft(model, target_modules=["gate_proj", "up_proj", "down_proj"])
    assert not isinstance(peft_model, str), peft_model
    wrapped = set(peft_model.targeted_module_names)
    return all(f"{n}" in wrapped or f"base_model.model.{n}" in wrapped for n in dense)


def router_outcome(model_type: str) -> str:
    """What PEFT does with target_modules [q_proj, ROUTER]: "module" (a LoRA layer), "parameter" (its weight
    through target_parameters) or "refused"."""
    router = ROUTERS[model_type]
    peft_model = _peft(_model(model_type), target_modules=["q_proj", router])
    if isinstance(peft_model, str):
        return "refused"
    params = getattr(peft_model, "targeted_parameter_names", []) or []
    if any(p.endswith(f"{router}.weight") for p in params):
        return "parameter"
    return "module" if any(n.endswith(f".{router}") for n in peft_model.targeted_module_names) else "untouched"


def router_is_linear(model_type: str) -> bool:
    import torch

    router = ROUTERS[model_type]
    found = [m for n, m in _model(model_type).named_modules() if n.endswith(f".{router}")]
    return all(isinstance(m, torch.nn.Linear) for m in found)


def main() -> int:
    peft, transformers = version("peft"), version("transformers")
    stack = {"peft": peft, "transformers": transformers, "torch": version("torch")}
    peft_answers = {
        "modules_to_save_takes_partial_names": modules_to_save_takes_partial_names(),
        **{
            f"wraps_dense_linear_beside_fused_experts.{t}": wraps_dense_linear_beside_fused_experts(t)
            for t in ("deepseek_v2", "deepseek_v3", "afmoe")
        },
        **{f"router_outcome.{t}": router_outcome(t) for t in ROUTERS},
    }
    transformers_answers = {f"router_is_linear.{t}": router_is_linear(t) for t in ROUTERS}
    for name, answers in (
        (f"peft_answers-{peft}.json", peft_answers),
        (f"transformers_answers-{transformers}.json", transformers_answers),
    ):
        path = FACTS / name
        path.write_text(json.dumps({"measured_with": stack, "answers": answers}, indent=2, sort_keys=True) + "\n")
        print(f"wrote {path.relative_to(REPO)}: {answers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
