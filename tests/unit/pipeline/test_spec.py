"""Adapter keys: Axolotl's names and aliases, and type errors as positioned findings."""

from __future__ import annotations

from lora_compiler.pipeline.document import load_text
from lora_compiler.pipeline.spec import parse_spec


def _parse(text: str):
    return parse_spec(load_text(text, "c.yml"))


def test_axolotl_aliases_model_type_revision_and_model_config():
    spec, findings = _parse("model_type: LlamaForCausalLM\nmodel_revision: v2\nmodel_config:\n  rope_theta: 1.0\n")
    assert not findings
    assert (spec.type_of_model, spec.revision_of_model) == ("LlamaForCausalLM", "v2")
    assert spec.overrides_of_model_config == {"rope_theta": 1.0}


def test_unrelated_axolotl_keys_are_accepted_and_ignored():
    spec, findings = _parse("adapter: lora\ndatasets:\n  - path: x\nlearning_rate: 0.0002\n")
    assert spec is not None and not findings


def test_type_errors_point_at_the_value():
    _, findings = _parse("adapter: lora\nlora_r: eight\nlora_dropout: 1.5\nlora_alpha: -4\n")
    got = {(f.key, f.line, f.column) for f in findings}
    assert got == {("lora_r", 2, 9), ("lora_dropout", 3, 15), ("lora_alpha", 4, 13)}
    assert all(f.rule == "schema" and f.hint for f in findings)


def test_nested_loftq_bits_error_position():
    _, findings = _parse("adapter: lora\npeft:\n  loftq_config:\n    loftq_bits: many\n")
    [f] = findings
    assert (f.line, f.column) == (4, 17)


def test_reward_model_defaults_follow_axolotl():
    spec, _ = _parse("reward_model: true\n")
    assert (spec.type_of_model, spec.num_labels) == ("AutoModelForSequenceClassification", 1)
    spec, _ = _parse("process_reward_model: true\n")
    assert (spec.type_of_model, spec.num_labels) == ("AutoModelForTokenClassification", 2)


def test_loftq_bits_default_and_target_modules_string():
    spec, _ = _parse("peft:\n  loftq_config: {}\nlora_target_modules: '.*proj'\n")
    assert spec.loftq_bits == 4 and spec.lora_target_modules == ".*proj"
