"""moe-router-targeted says what the installed PEFT does with a targeted router: a LoRA layer on a Linear
router, its weight adapted through PEFT's conversion, or a refusal. The expected outcome is the one
scripts/stack_facts.py recorded from the real libraries for this stack (tests/stack_facts.py)."""

from __future__ import annotations

import pytest
from conftest import DATASETS, needs_modern_stack
from stack_facts import MOE, answer

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options

pytestmark = pytest.mark.stack  # what PEFT and transformers build: .ci/run runs it on the newest too

ROUTER = {"jamba": "router", "qwen2_moe": "gate", "mixtral": "gate"}


def _lint(tmp_path, model_type: str):
    from transformers import AutoConfig

    out = tmp_path / model_type
    AutoConfig.for_model(model_type, **MOE[model_type]).save_pretrained(out)
    keys = {"adapter": "lora", "lora_r": 4, "lora_alpha": 8, "datasets": DATASETS}
    return compile_document(
        {"base_model": str(out), **keys, "lora_target_modules": ["q_proj", ROUTER[model_type]]}, Options(offline=True)
    )


@needs_modern_stack
@pytest.mark.parametrize("model_type", sorted(ROUTER))
def test_a_targeted_router_is_said_to_be_wrapped_adapted_or_refused_as_the_installed_peft_does(tmp_path, model_type):
    result = _lint(tmp_path, model_type)
    found = [f for f in result.findings if f.rule == "moe-router-targeted"]
    assert len(found) == 1, [f.message for f in result.findings]
    message, refused = found[0].message, any(f.rule == "peft-refused" for f in result.findings)
    outcome = answer(f"router_outcome.{model_type}")
    if answer(f"router_is_linear.{model_type}"):
        assert outcome == "module" and not refused
        assert message.endswith("are targeted") and ", Linear)" in message
    elif outcome == "parameter":
        assert not refused and "adapts that weight directly (ParamWrapper)" in message
        assert any(m.name.endswith(f"{ROUTER[model_type]}.weight") for m in result.report.modules)
    else:
        assert outcome == "refused" and refused, [f.message for f in result.findings]
        assert "so it refuses the run" in message and "ParamWrapper" not in message
        assert f"lora_target_parameters: [{ROUTER[model_type]}.weight]" in found[0].hint
