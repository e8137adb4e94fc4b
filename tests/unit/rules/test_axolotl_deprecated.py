"""Removed, deprecated and remapped keys and the start-up normalisation, beyond each validator's own examples: one
finding per problem (never also unknown-key), "did you mean" never proposing a retired key, pydantic's coercion and
the cases the examples do not show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.profiles import PROFILES
from lora_compiler.rules.axolotl.validator import example
from lora_compiler.rules.keys import key_tree


def _lint(tmp_path: Path, keys: dict[str, Any], release: str = "0.21.0", extra: str = "") -> list:
    """Lint EXAMPLE_BASE with `keys` merged in (None drops a key) and `extra` YAML lines appended."""
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(example(keys), sort_keys=False) + extra)
    return compile_document(path, Options(offline=True, no_model=True, axolotl=release)).findings


@pytest.mark.parametrize("release", list(PROFILES))
def test_a_removed_key_is_one_error_and_not_also_an_unknown_key(tmp_path: Path, release: str) -> None:
    found = _lint(tmp_path, {"flash_attn_rms_norm": True, "max_packed_sequence_len": 2048}, release)
    assert sorted((f.rule, f.severity.value, f.line) for f in found) == [
        ("axolotl-removed-flash-attn-rms-norm", "error", 15),
        ("axolotl-removed-max-packed-sequence-len", "error", 16),
    ]


@pytest.mark.parametrize("release", list(PROFILES))
def test_did_you_mean_never_proposes_a_retired_key(tmp_path: Path, release: str) -> None:
    retired = key_tree(PROFILES[release].keys)["deprecated"][""]
    assert {"flash_attn_rms_norm", "max_packed_sequence_len", "dpo_beta", "xformers_attention"} <= set(retired)
    typos = {key[:-1] + "x": key for key in retired}  # one letter off: difflib's closest match is the retired key
    found = _lint(tmp_path, dict.fromkeys(typos, 1), release)
    hints = {f.key: f.hint for f in found if f.rule == "unknown-key"}
    assert set(hints) == set(typos)
    assert [typo for typo, key in typos.items() if f"'{key}'" in (hints[typo] or "")] == []


def test_a_value_pydantic_coerces_to_false_is_not_refused(tmp_path: Path) -> None:
    assert _lint(tmp_path, {"flash_attn_rms_norm": "false", "s2_attention": 0}) == []


def test_a_value_of_the_wrong_type_is_left_to_the_type_rule(tmp_path: Path) -> None:
    assert [f.rule for f in _lint(tmp_path, {"max_packed_sequence_len": "abc"})] == ["axolotl-key-type"]


def test_a_deprecated_or_removed_key_set_to_null_is_accepted(tmp_path: Path) -> None:
    assert _lint(tmp_path, {}, extra="dpo_beta:\nevaluation_strategy:\nrpo_alpha:\n") == []


def test_the_alias_wins_even_when_it_is_null(tmp_path: Path) -> None:
    found = _lint(tmp_path, {"revision_of_model": "main"}, extra="model_revision:\n")
    assert [(f.rule, f.key) for f in found] == [("axolotl-remapped-key-twice", "revision_of_model")]


def test_a_null_gradient_accumulation_is_derived_by_floor_division(tmp_path: Path) -> None:
    keys = {"micro_batch_size": 4, "batch_size": 10, "gradient_accumulation_steps": None}
    found = _lint(tmp_path, keys, extra="gradient_accumulation_steps:\n")
    found = [f for f in found if f.rule != "axolotl-batch-size-hint"]  # Axolotl also warns on batch_size itself
    assert [f.rule for f in found] == ["axolotl-batch-size-not-accumulated"]
    assert "= 2, so each step trains 8 samples" in found[0].message


def test_a_plugin_written_as_an_entry_point_counts_for_diffusion(tmp_path: Path) -> None:
    keys = {"diffusion_lm": {"from_causal_lm": True}, "plugins": ["axolotl.integrations.diffusion:DiffusionPlugin"]}
    assert [f for f in _lint(tmp_path, keys) if f.rule == "axolotl-diffusion-lm-plugin"] == []


def test_a_native_diffusion_target_is_not_judged_without_the_model(tmp_path: Path) -> None:
    keys = {"diffusion_lm": {}, "attn_implementation": "varlen"}
    assert [f.rule for f in _lint(tmp_path, keys) if f.rule.startswith("axolotl-")] == []


def test_an_entry_point_plugin_name_is_refused_before_0_21_only(tmp_path: Path) -> None:
    keys = {"plugins": ["axolotl.integrations.liger:LigerPlugin"]}
    assert [f.rule for f in _lint(tmp_path, keys, "0.20.0")] == ["axolotl-plugin-name"]
    assert _lint(tmp_path, keys, "0.21.0") == []


def test_a_plugin_the_release_does_not_ship_is_a_warning_before_0_21(tmp_path: Path) -> None:
    keys = {"plugins": ["axolotl.integrations.mixlora.MixLoraPlugin"]}
    found = _lint(tmp_path, keys, "0.19.0")
    assert [(f.rule, f.severity.value) for f in found] == [("axolotl-plugin-missing", "warning")]
    assert not [f for f in _lint(tmp_path, keys, "0.20.0") if f.rule == "axolotl-plugin-missing"]
