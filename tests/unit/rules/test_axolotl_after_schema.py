"""A config whose adapter keys fail lora-compiler's schema still hears Axolotl's other start-up refusals: the
Validators read the YAML, not the spec, and Axolotl would refuse the same start for those reasons too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lora_compiler.devices import parse
from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.results.findings import Severity
from lora_compiler.rules.axolotl.validator import example

LOFTQ_NULL = {"peft": {"loftq_config": {"loftq_bits": None}}}  # `loftq_bits:` left empty, as a template leaves it


def _errors(tmp_path: Path, keys: dict[str, Any], gpu: str | None = None) -> list[tuple[str, int | None]]:
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(example(keys), sort_keys=False))
    options = Options(offline=True, no_model=True, axolotl="0.21.0", gpu=parse(gpu) if gpu else None)
    found = compile_document(path, options).findings
    return sorted((f.rule, f.line) for f in found if f.severity is Severity.ERROR)


def test_a_schema_error_does_not_hide_axolotl_start_up_refusals(tmp_path: Path) -> None:
    errors = _errors(tmp_path, {**LOFTQ_NULL, "warmup_steps": 10, "warmup_ratio": 0.1})
    assert [rule for rule, _ in errors] == ["axolotl-warmup-steps-ratio", "schema"]


def test_a_schema_error_alone_stays_the_only_error(tmp_path: Path) -> None:
    assert [rule for rule, _ in _errors(tmp_path, LOFTQ_NULL)] == ["schema"]


def test_device_checks_run_after_a_schema_error_on_the_declared_gpu(tmp_path: Path) -> None:
    sage = {**LOFTQ_NULL, "attn_implementation": "sage"}
    assert [rule for rule, _ in _errors(tmp_path, sage, gpu="H100")] == ["schema"]
    assert [rule for rule, _ in _errors(tmp_path, sage, gpu="T4")] == ["axolotl-sage-compute-capability", "schema"]
