"""A lora_modules_to_save name is judged by the installed PEFT's own matching: PEFT 0.21.2 takes a partial
name (`head` saves lm_head), PEFT 0.22 only a whole trailing name. Which one the stack runs is the answer
scripts/stack_facts.py recorded from the real PEFT (tests/stack_facts.py)."""

from __future__ import annotations

import pytest
from conftest import DATASETS
from stack_facts import answer

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options

pytestmark = pytest.mark.stack  # what PEFT and transformers build: .ci/run runs it on the newest too


def _lint(model_dir, model_type: str, saved: list[str], **keys):
    doc = {
        "base_model": str(model_dir(model_type)),
        "adapter": "lora",
        "lora_r": 4,
        "lora_alpha": 8,
        "lora_target_modules": ["q_proj"],
        "lora_modules_to_save": saved,
        "datasets": DATASETS,
        **keys,
    }
    return compile_document(doc, Options(offline=True))


def _partial(result):
    return [f for f in result.findings if f.rule.startswith("modules-to-save-")]


def test_a_partial_name_that_stops_matching_is_a_warning_and_the_report_shows_what_is_trained(model_dir):
    result = _lint(model_dir, "llama", ["head"])
    if answer("modules_to_save_takes_partial_names"):
        assert not _partial(result)
        assert [m.name for m in result.report.modules_to_save] == ["lm_head"]
        return
    [found] = _partial(result)
    assert (found.rule, found.severity.value) == ("modules-to-save-partial-name", "warning")
    assert result.report is not None and not result.report.modules_to_save  # PEFT goes on, saving nothing
    assert found.key == "lora_modules_to_save.0"
    assert "'head' saves no module under PEFT" in found.message
    assert "saved 1 module (lm_head)" in found.message and found.hint == "name the modules whole: lm_head"


def test_a_partial_name_that_still_saves_some_modules_is_a_warning_naming_the_lost_ones(model_dir):
    # gemma3's vision tower ends in a pooling `head`: PEFT 0.22 saves that one for `head`, and no longer lm_head
    result = _lint(model_dir, "gemma3", ["head"])
    found = _partial(result)
    saved = [m.name for m in result.report.modules_to_save]
    if answer("modules_to_save_takes_partial_names"):
        assert not found, [f.message for f in found]
        assert "lm_head" in saved
        return
    assert [(f.rule, f.severity.value, f.key) for f in found] == [
        ("modules-to-save-partial-name", "warning", "lora_modules_to_save.0")
    ], [f.message for f in found]
    assert "'head' saves 1 module (model.vision_tower.head) under PEFT" in found[0].message
    assert "lm_head" in found[0].message and "lm_head" not in saved
    assert saved == ["model.vision_tower.head"]


def test_a_whole_name_saves_the_same_modules_under_either_rule(model_dir):
    result = _lint(model_dir, "llama", ["lm_head"])
    assert not _partial(result)
    assert [m.name for m in result.report.modules_to_save] == ["lm_head"]
