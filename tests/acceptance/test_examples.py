"""Acceptance: every bundled example config compiles offline to the figures its header declares.

Each `fixtures/configs/*.yml` states `# expect-modules: N` and `# expect-trainable: N`, worked out
by hand from the model's published dimensions (e.g. Llama-3.1-8B QLoRA r=32: per layer
32 x [(4096+4096)*2 + (4096+1024)*2 + (4096+14336)*3] = 2,621,440, times 32 layers).
"""

from __future__ import annotations

import re

import pytest
from conftest import REPO

from lora_compiler.engine.compiler import Options, compile_document

EXAMPLES = sorted((REPO / "fixtures" / "configs").glob("*.yml"))


def _expect(path, key: str) -> int:
    return int(re.search(rf"^# expect-{key}: (\d+)$", path.read_text(), re.M).group(1))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_compiles_to_declared_figures(path):
    result = compile_document(path, Options(offline=True))
    assert result.exit_code() == 0, result.findings
    assert result.report.model.config_source == "bundled"
    assert len(result.report.modules) == _expect(path, "modules")
    assert result.report.trainable_params == _expect(path, "trainable")


def test_examples_cover_the_features_the_readme_promises():
    text = "\n".join(p.read_text() for p in EXAMPLES)
    for feature in (
        "adapter: qlora",
        "peft_use_dora",
        "loftq_bits",
        "lora_target_modules: '",
        "peft_layers_to_transform",
        "lora_modules_to_save",
        "gemma-3-4b-it",
    ):
        assert feature in text, feature
