"""The one YAML <-> LoraConfig table (pipeline/fields.py): it names real LoraConfig fields and their YAML keys."""

from __future__ import annotations

import dataclasses

import pytest

from lora_compiler.pipeline import fields, peftcfg
from lora_compiler.pipeline.document import Document
from lora_compiler.pipeline.spec import parse_spec
from lora_compiler.pipeline.targets import TargetPlan

PLAN = TargetPlan(["q_proj", "v_proj"], None, [])


def _spec(**keys):
    spec, problems = parse_spec(Document(file=None, values={"adapter": "lora", "lora_r": 8, "lora_alpha": 16, **keys}))
    assert spec is not None, problems
    return spec


def test_every_field_of_the_table_is_a_field_of_peft_lora_config() -> None:
    from peft import LoraConfig

    assert {f.name for f in fields.FIELDS} <= {f.name for f in dataclasses.fields(LoraConfig)}


def test_keywords_come_from_the_table_and_unset_keys_keep_peft_defaults() -> None:
    kwargs = fields.lora_kwargs(_spec(lora_rank_pattern={"q_proj": 4}), PLAN, "LlamaForCausalLM")
    assert kwargs["rank_pattern"] == {"q_proj": 4} and kwargs["target_modules"] == ["q_proj", "v_proj"]
    assert (kwargs["r"], kwargs["lora_alpha"], kwargs["bias"], kwargs["task_type"]) == (8, 16, "none", "CAUSAL_LM")
    assert not {"use_dora", "alpha_pattern", "init_lora_weights", "loftq_config"} & set(kwargs)
    assert set(kwargs) <= {f.name for f in fields.FIELDS}


def test_loftq_sets_init_weights_unless_the_yaml_names_them() -> None:
    loftq = {"peft": {"loftq_config": {"loftq_bits": 4}}}
    assert fields.lora_kwargs(_spec(**loftq), PLAN, "X")["init_lora_weights"] == "loftq"
    given = fields.lora_kwargs(_spec(**loftq, peft_init_lora_weights="gaussian"), PLAN, "X")
    assert (given["init_lora_weights"], given["loftq_config"]) == ("gaussian", {"loftq_bits": 4})


def test_a_field_the_installed_peft_lacks_is_named_with_its_yaml_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read from LoraConfig's own field list, not guessed from a TypeError's wording."""
    knob = fields.Field("future_knob", "peft_future_knob", value=lambda spec, plan, arch: 1)
    monkeypatch.setattr(fields, "FIELDS", (*fields.FIELDS, knob))
    monkeypatch.setattr(fields, "_BY_NAME", {**fields._BY_NAME, "future_knob": knob})
    with pytest.raises(peftcfg.PeftConfigError) as err:
        peftcfg.build_lora_config(_spec(), PLAN, "LlamaForCausalLM")
    assert (str(err.value), err.value.key) == (
        "the installed peft does not support LoraConfig.future_knob",
        "peft_future_knob",
    )


@pytest.mark.parametrize(
    ("modules", "linear", "expected"),
    [
        (None, True, "lora_target_linear"),
        (["q_proj"], True, "lora_target_modules"),
        (None, None, "lora_target_modules"),
    ],
)
def test_target_module_findings_point_at_the_key_that_gave_the_targets(modules, linear, expected) -> None:
    assert fields.targets_key("lora_target_modules", modules, linear) == expected
    assert fields.targets_key("lora_r", modules, linear) == "lora_r"
