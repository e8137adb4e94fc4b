"""The compile pipeline grows linearly with the number of layers.

Time is too noisy on a shared machine to hold a ratio, so the test counts operations instead:
every Python function call and every builtin call (sys.setprofile) made by compile_document, in our
code, PEFT, transformers and torch.nn alike. A per-module whole-model traversal or any other
quadratic step shows up as a per-layer cost that rises with the layer count. Loops inside C code
are not counted; benchmarks/run.py times the pipeline for real at 1 to 128 layers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import DATASETS

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options

LAYERS = (4, 8, 32)


def _config(model: Path, layers: int) -> dict[str, Any]:
    return {
        "base_model": str(model),
        "adapter": "lora",
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_target_linear": True,
        "model_config": {"num_hidden_layers": layers},
        "datasets": DATASETS,
    }


def _calls(model: Path, layers: int) -> int:
    """Calls made by one compile of the model at `layers` layers; checks that it compiled every layer."""
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        result = compile_document(_config(model, layers), Options(offline=True))
    finally:
        sys.setprofile(None)
    assert result.exit_code() == 0 and result.report is not None, result.findings
    assert len(result.report.modules) == 7 * layers  # q, k, v, o, gate, up, down in every layer
    return count


def test_pipeline_operations_grow_linearly_with_layers(model_dir: Callable[..., Path]) -> None:
    model = model_dir("llama")
    for layers in LAYERS:  # imports, lazy imports and first-call caches, at every size
        compile_document(_config(model, layers), Options(offline=True))
    calls = {n: _calls(model, n) for n in LAYERS}
    small, mid, large = LAYERS
    assert calls[large] / calls[small] < (large / small) * 1.5, calls
    # Warm counts are exact, so the per-layer cost must stay flat: one whole-model walk per layer
    # (a quadratic term) already raises it by about 10% between 8 and 32 layers.
    per_layer_before = (calls[mid] - calls[small]) / (mid - small)
    per_layer_after = (calls[large] - calls[mid]) / (large - mid)
    assert per_layer_after <= 1.03 * per_layer_before, calls
