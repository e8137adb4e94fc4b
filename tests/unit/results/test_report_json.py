"""targets.json is one serializer over typed values: what it writes matches the schema and reads back the same.

Real compiles, in process: every bundled fixture, plus the parts the fixtures leave empty (sharding with
DeepSpeed's master weights, post-load freezing, an adapter file whose size is unknown).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import REPO
from reports import full

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.features.diff import load_side
from lora_compiler.results.report import Report
from lora_compiler.results.serialize import ReportFormatError

SCHEMA = json.loads((REPO / "schemas" / "targets.schema.json").read_text())
FIXTURES = sorted((REPO / "fixtures" / "configs").glob("*.yml"))
LLAMA = yaml.safe_load((REPO / "fixtures" / "configs" / "llama-3.2-1b-lora.yml").read_text())
EXTRA = {
    "zero2-freezing": {
        **LLAMA,
        "bf16": True,
        "deepspeed": {"zero_optimization": {"stage": 2}},
        "unfrozen_parameters": ["base_model.model.model.layers.0.self_attn.*", "no_such_module"],
    },
    "fsdp2-offload": {**LLAMA, "fsdp_version": 2, "fsdp_config": {"offload_params": True}},
}


@pytest.fixture(scope="module")
def compiled() -> dict[str, Report]:
    out = {}
    for name, config in [*((p.stem, p) for p in FIXTURES), *EXTRA.items()]:
        result = compile_document(config, Options(offline=True, devices=(2, 3)))
        assert result.report is not None, (name, [f.message for f in result.findings])
        out[name] = result.report
    return out


def test_every_part_the_schema_knows_is_filled_by_some_compile(compiled):
    dicts = [r.to_dict() for r in compiled.values()]
    assert any(d["freezing"] and d["freezing"]["unmatched_patterns"] == ["no_such_module"] for d in dicts)
    assert any(d["adapter_file"]["bytes"] is None and d["adapter_file"]["unknown_because"] for d in dicts)
    rows = [row for d in dicts for row in (d["static_memory"]["per_device"] or [])]
    assert any("master_weights" in row for row in rows) and any("master_weights" not in row for row in rows)
    assert any(row["on_host"] for row in rows)
    assert any(d["modules_to_save"] for d in dicts) and any(d["coverage"]["entries"] for d in dicts)


def test_targets_json_matches_the_schema(compiled):
    for report in compiled.values():
        jsonschema.validate(report.to_dict(), SCHEMA)


def test_from_dict_reads_back_what_to_dict_wrote(compiled):
    for name, report in compiled.items():
        written = json.loads(json.dumps(report.to_dict()))
        back = Report.from_dict(written)
        assert back == report, name
        assert json.dumps(back.to_dict(), indent=2) == json.dumps(report.to_dict(), indent=2), name


def test_keys_come_in_the_schema_order(compiled):
    """targets.json is compared byte for byte: the order is part of the format."""
    report = compiled["llama-3.2-1b-lora"].to_dict()
    assert list(report)[:4] == ["schema_version", "file", "model", "environment"]
    assert list(report)[-3:] == ["all_params", "trainable_percent", "findings"]
    assert list(report["modules"][0]) == SCHEMA["properties"]["modules"]["items"]["required"]


def test_an_older_targets_json_reads_with_its_missing_parts_empty():
    old = full({"modules": [], "modules_to_save": [], "trainable_tokens": []})  # schema 1.0: no later parts
    report = Report.from_dict(old)
    assert (report.coverage, report.static_memory, report.adapter_file, report.axolotl) == (None,) * 4
    assert report.candidates == () and report.peft_trainable_params == 0
    unversioned = {k: v for k, v in old.items() if k != "environment"}
    assert Report.from_dict(unversioned).environment == {}  # not the versions of the run that reads it


@pytest.mark.parametrize(
    "broken",
    [
        [],
        {"modules": [{"name": "q_proj"}]},
        {"trainable_params": "many"},
        {"all_params": True},
        {"modules_to_save": [{"name": "lm_head", "type": "Linear", "params": 1.5}]},
        {"coverage": {"entries": [], "decoder_layers": 2, "adapted_decoder_layers": None}},
        {"adapter_file": {"bytes": 1, "data_bytes": {"F32": "1"}}},
        {"modules": "q_proj"},
        {"target_modules": [1, 2]},
        {"model": None},
        {"findings": [{"rule": "x", "severity": "fatal", "message": "m"}]},
    ],
    ids=str,
)
def test_a_malformed_targets_json_is_a_format_error(broken: Any):
    data = broken if isinstance(broken, list) else {**full({"modules": []}), **broken}
    with pytest.raises(ReportFormatError):
        Report.from_dict(data)


def test_diff_says_a_malformed_targets_json_is_unreadable(tmp_path: Path):
    path = tmp_path / "targets.json"
    path.write_text(json.dumps({**full({"modules": []}), "modules": [{"name": "q_proj"}]}))
    side = load_side(path)
    assert side.report is None and [f.rule for f in side.findings] == ["input-unreadable"]
    assert "WrappedModule: no 'type'" in side.findings[0].message
