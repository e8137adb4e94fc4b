"""A choice the YAML states is information; a promise it breaks is a warning (tower and expert advice)."""

from __future__ import annotations

import pytest
from conftest import MODERN_STACK, REPO

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.results.findings import Severity

BAD = REPO / "tests" / "cases" / "bad"
pytestmark = pytest.mark.skipif(not MODERN_STACK, reason="cases expect transformers 5 layouts")


def _level(config, rule: str) -> Severity:
    found = [f for f in compile_document(config, Options(offline=True)).findings if f.rule == rule]
    assert len(found) == 1, found
    return found[0].severity


def test_experts_left_out_by_an_explicit_list_are_information_and_by_target_linear_a_warning():
    assert _level(BAD / "moe-experts-left-out-on-purpose.yml", "moe-experts-unreached") is Severity.INFO
    linear = {
        "base_model": "Qwen/Qwen3-30B-A3B",
        "adapter": "lora",
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_target_linear": True,
        "lora_target_modules": None,
    }
    assert _level(linear, "moe-experts-unreached") is Severity.WARNING


def test_a_tower_the_regex_names_is_information_and_one_reached_by_suffixes_a_warning():
    assert _level(BAD / "multimodal-tower-named-on-purpose.yml", "multimodal-tower-hit") is Severity.INFO
    suffixes = {
        "base_model": "google/gemma-3-4b-it",
        "adapter": "lora",
        "lora_r": 8,
        "lora_alpha": 16,
        "lora_target_modules": ["q_proj", "v_proj"],
    }
    assert _level(suffixes, "multimodal-tower-hit") is Severity.WARNING
