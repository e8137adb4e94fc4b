"""axolotl-field-type: the checker restates pydantic's lax mode (held to pydantic itself here), the type table
covers every field of every release with its declaring class, every rewrite Axolotl applies first is mirrored
or declared harmless, and the rule reports at the value with the path, the type in words and a hint."""

from __future__ import annotations

import datetime
import enum
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.pipeline.document import load_text
from lora_compiler.profiles import PROFILES
from lora_compiler.rules.axolotl import types
from lora_compiler.rules.axolotl.types_2 import Checker
from lora_compiler.rules.axolotl.types_3 import FIELD_VALIDATORS, REWRITES
from lora_compiler.rules.axolotl.validator import example

NUMBERS = (True, False, 0, 1, 2, 3, 4, -1, 0.0, 1.0, 1.5, 2.0, -0.0, 9.2e18, 9.3e18, 1e20, float("inf"), 10**30)
NUMERIC_TEXT = ("0", "1", "2", " 3 ", "1.0", "1.00", "-1.0", "1.5", "1e3", "1_000", "1__0", "_1", "+4", "0x10", "1.")
MORE_TEXT = (".5", "5.", "inf", "nan", "-inf", "Infinity", "\u0661\u0662", "", "abc", "a", "b", "auto", "A")
BOOL_TEXT = ("true", "True", "TRUE", "yes", "on", "off", "y", "n", "t", "f", "no", "false", " true")
OTHERS = (float("nan"), b"xy", b"12", b"\xff", None, [], {}, [1], ["a"], ("a",), {"a": 1}, {1: 1}, [1, 2], [1, 2, 3])
VALUES: list[Any] = [*NUMBERS, *NUMERIC_TEXT, *MORE_TEXT, *BOOL_TEXT, *OTHERS, datetime.date(2024, 1, 1)]


class Letters(str, enum.Enum):
    a = "a"
    b = "b"


class Numbers(enum.IntEnum):
    two = 2
    four = 4


ENUMS = {"Letters": {"sub": "str", "v": ["a", "b"]}, "Numbers": {"sub": "int", "v": [2, 4]}}
PAIRS: list[tuple[Any, Any]] = [  # (python type, table type)
    (str, "str"),
    (int, "int"),
    (float, "float"),
    (bool, "bool"),
    (Annotated[int, Field(ge=1)], {"k": "int", "ge": 1}),
    (Annotated[float, Field(gt=0, le=1)], {"k": "float", "gt": 0, "le": 1}),
    (Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)], {"k": "float", "ge": 0, "lt": 1, "nan": False}),
    (Annotated[str, Field(min_length=1)], {"k": "str", "min": 1}),
    (Annotated[str, Field(pattern="^tok_")], {"k": "str", "pattern": "^tok_"}),
    (Annotated[int, Field(strict=True)], {"k": "int", "strict": True}),
    (Literal["a", 1], {"k": "lit", "v": ["a", 1]}),
    (Literal[True], {"k": "lit", "v": [True]}),
    (Letters, {"k": "enum", "name": "Letters"}),
    (Numbers, {"k": "enum", "name": "Numbers"}),
    (list[int], {"k": "list", "of": "int"}),
    (Annotated[list[str], Field(min_length=1)], {"k": "list", "of": "str", "min": 1}),
    (dict[str, int], {"k": "dict", "key": "str", "of": "int"}),
    (tuple[int, int], {"k": "tuple", "of": ["int", "int"]}),
    (str | list[str] | None, {"k": "null", "of": {"k": "union", "of": ["str", {"k": "list", "of": "str"}]}}),
    (bool | Literal["auto"], {"k": "union", "of": ["bool", {"k": "lit", "v": ["auto"]}]}),
    (Any, "any"),
]


@pytest.mark.parametrize("pair", PAIRS, ids=[str(t) for _, t in PAIRS])
def test_the_checker_accepts_exactly_what_pydantic_accepts(pair: tuple[Any, Any]) -> None:
    python, table = pair
    adapter = TypeAdapter(python)
    check = Checker({"models": {}, "enums": ENUMS}, lambda entry, value: value, lambda entries, data: None)
    for value in VALUES:
        try:
            adapter.validate_python(value)
            pydantic_accepts = True
        except ValidationError:
            pydantic_accepts = False
        assert (not check.check(value, table, (), "")) is pydantic_accepts, (table, value)


def _types(t: Any) -> list[Any]:
    if isinstance(t, str):
        return [t]
    inner = t.get("of", [])
    return [t, *(x for member in (inner if isinstance(inner, list) else [inner]) for x in _types(member))] + (
        _types(t["key"]) if "key" in t else []
    )


@pytest.mark.parametrize("release", PROFILES)
def test_every_field_of_the_release_has_a_type_the_checker_knows_and_its_declaring_class(release: str) -> None:
    tab = types.table(release)
    blocks = {**tab["models"], **{f"plugin {m}": p for m, p in tab["plugins"].items()}}
    kinds = {"str", "int", "float", "bool", "any", "none", "null", "union", "lit", "enum", "list", "dict", "tuple"}
    count = 0
    for block, spec in blocks.items():
        for name, f in spec["fields"].items():
            path, _, owner = f["src"].partition(":")
            assert path.endswith(".py") and owner.endswith(f".{name}"), (block, name, f["src"])
            for t in _types(f["t"]):
                kind = t if isinstance(t, str) else t["k"]
                assert kind in kinds | {"model", "fn"}, (block, name, t)
                assert kind != "model" or t["name"] in tab["models"]
            count += 1
    assert count > 700
    assert set(tab["datasets"].values()) <= set(tab["models"])


@pytest.mark.parametrize("release", PROFILES)
def test_every_rewrite_before_the_type_check_is_mirrored_or_declared_harmless(release: str) -> None:
    tab = types.table(release)
    entries = {e for spec in [*tab["models"].values(), *tab["plugins"].values()] for e in spec.get("rewrites", [])}
    assert sorted(entries - set(REWRITES)) == []


def _validators(t: Any) -> list[str]:
    return [x["entry"] for x in _types(t) if isinstance(x, dict) and x["k"] == "fn"]


# Fields whose validator of mode before maps names to values itself and refuses the rest with its own message:
# the type check leaves them alone (their validators are other rules' concern).
UNCHECKED = {
    "utils/schemas/quantization.py:QATConfig.validate_dtype",
    "utils/schemas/quantization.py:PTQConfig.validate_dtype",
    "utils/schemas/export.py:ExportConfig.validate_quant_types",
}


@pytest.mark.parametrize("release", PROFILES)
def test_field_validators_are_restated_or_their_fields_left_unchecked(release: str) -> None:
    tab = types.table(release)
    blocks = [*tab["models"].values(), *tab["plugins"].values()]
    found = {e for spec in blocks for f in spec["fields"].values() for e in _validators(f["t"])}
    assert found - set(FIELD_VALIDATORS) <= UNCHECKED


def _findings(config: dict[str, Any], release: str = "0.21.0") -> list[Any]:
    found = compile_document(config, Options(offline=True, no_model=True, axolotl=release)).findings
    return [f for f in found if f.rule == "axolotl-field-type"]


def test_a_chat_template_near_miss_is_refused_with_the_template_it_meant() -> None:
    (finding,) = _findings(example({"chat_template": "qwen2_5"}))
    assert "one of 'alpaca'" in finding.message and finding.hint == "did you mean 'qwen_25'?"
    assert not _findings(example({"chat_template": "qwen_25"}))
    assert not _findings(example({"chat_template": "tokenizer_default_fallback_chatml"}))


def test_a_dataset_entry_is_checked_as_the_model_axolotl_builds_for_it() -> None:
    sft = [{"path": "x", "type": "alpaca", "shards": "two"}]
    (finding,) = _findings(example({"datasets": sft}))
    assert finding.key == "datasets.0.shards" and "an integer" in finding.message
    dpo = [{"path": "x", "type": "chatml.intel", "field_chosen": 3}]
    assert [f.key for f in _findings(example({"rl": "dpo", "datasets": dpo}))] == ["datasets.0.field_chosen"]
    assert not _findings(example({"datasets": [{"path": "x", "type": "alpaca", "field_chosen": 3}]}))  # SFT: extra


def test_the_finding_points_at_the_value_and_quotes_axolotl_s_description() -> None:
    text = "base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nspecial_tokens:\n  pad_token: 0\n"
    doc = load_text(text, "x.yml")
    found = [f for f in compile_document(doc.values, Options(offline=True, no_model=True)).findings]
    problem = types.problems(doc.values, "0.21.0")
    assert [p.path for p in problem] == [("special_tokens", "pad_token")]
    (finding,) = [f for f in found if f.rule == "axolotl-field-type"]
    assert "a string, got 0" in finding.message and finding.hint.startswith("quote it")


def test_keys_axolotl_moves_first_are_checked_where_they_land_and_reported_where_written() -> None:
    assert not _findings(example({"fsdp_config": {"fsdp_offload_params": True}}))
    (moved,) = _findings(example({"fsdp_config": {"fsdp_offload_params": "maybe"}}))
    assert moved.key == "fsdp_config.fsdp_offload_params"
    assert not _findings(example({"flash_attention": "maybe"}))  # legacy flags are dropped before validation
    assert not _findings(example({"wandb_name": False, "wandb_run_id": "run"}))  # wandb_name takes the run id


def test_plugin_keys_are_typed_only_when_their_plugin_is_listed() -> None:
    liger = {"liger_rope": "maybe"}
    assert not _findings(example(liger))
    listed = _findings(example({**liger, "plugins": ["axolotl.integrations.liger.LigerPlugin"]}))
    assert [f.key for f in listed] == ["liger_rope"]


def test_a_nested_block_s_required_key_is_reported_missing() -> None:
    (finding,) = _findings(example({"lr_groups": [{"name": "g", "lr": 0.1}]}))
    assert finding.key == "lr_groups.0.modules" and "required" in finding.message


def test_a_string_axolotl_compares_as_a_number_is_refused_once() -> None:
    def rules(config: dict[str, Any]) -> list[str]:
        found = compile_document(config, Options(offline=True, no_model=True, axolotl="0.21.0")).findings
        return [f.rule for f in found if f.key == "gc_steps"]

    assert rules(example({"gc_steps": "1"})) == ["axolotl-field-type"]  # a valid int for pydantic, a TypeError first
    assert rules(example({"gc_steps": "abc"})) == ["axolotl-key-type"]  # the type rule of top-level scalars says it
