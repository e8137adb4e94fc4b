"""Every mirrored Axolotl validator proves itself on its own examples, in every release that runs it: the
refused example gets its finding at its level, the accepted near miss does not (lint --no-model, no torch). A form
that judges the GPU runs its examples on its own declared device, and without one is skipped and listed once."""

from __future__ import annotations

import pytest
import yaml

from lora_compiler.devices import DEVICES, Hardware, parse
from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.pipeline.document import load_text
from lora_compiler.profiles import PROFILES
from lora_compiler.rules.axolotl.validator import ALL, EXAMPLE_BASE, Validator, example

CASES = [(v, release) for v in ALL for release in PROFILES if v.runs_in(release)]


def _ids(case: tuple[Validator, str]) -> str:
    v, release = case
    return f"{v.id}[{v.since}..{v.until or ''}]@{release}"


def _findings(config: dict, release: str, gpu: Hardware | None = None) -> list:
    """Lint the config as the YAML file it would be, so findings carry the line of the key they blame."""
    doc = load_text(yaml.safe_dump(config, sort_keys=False), "example.yml")
    return compile_document(doc, Options(offline=True, no_model=True, axolotl=release, gpu=gpu)).findings


def test_the_example_base_lints_clean_in_every_release() -> None:
    for release in PROFILES:
        assert [f.rule for f in _findings(dict(EXAMPLE_BASE), release)] == [], release


def test_the_example_base_lints_clean_on_every_device() -> None:
    for device in DEVICES:
        for release in PROFILES:
            assert [f.rule for f in _findings(dict(EXAMPLE_BASE), release, Hardware(device))] == [], (device, release)


def test_every_validator_has_a_refused_and_an_accepted_example() -> None:
    missing = sorted({v.id for v in ALL if not v.refused or not v.accepted})
    assert missing == []


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_the_refused_example_fires_and_the_near_miss_does_not(case: tuple[Validator, str]) -> None:
    v, release = case
    if not v.refused:
        pytest.fail(f"{v.id} has no refused example")
    gpu = parse(v.device) if v.device else None
    fired = [f for f in _findings(example(v.refused), release, gpu) if f.rule == v.id]
    assert [f.severity for f in fired] == [v.level], fired
    assert fired[0].line is not None
    assert not [f for f in _findings(example(v.accepted), release, gpu) if f.rule == v.id]


DEVICE_CASES = [c for c in CASES if c[0].device]


@pytest.mark.parametrize("case", DEVICE_CASES, ids=[_ids(c) for c in DEVICE_CASES])
def test_without_a_device_a_gpu_check_is_skipped_and_listed_once(case: tuple[Validator, str]) -> None:
    """Listed when it would fire on some GPU of the table (a form whose example needs `cpu` is not)."""
    v, release = case
    findings = _findings(example(v.refused), release)
    assert not [f for f in findings if f.rule == v.id]
    skipped = [f for f in findings if f.rule == "axolotl-gpu-undeclared"]
    if parse(v.device).device.sm is None:
        assert not [f for f in skipped if v.id in f.message]
        return
    assert len(skipped) == 1 and v.id in skipped[0].message and skipped[0].line is not None
    assert not [f for f in _findings(example(v.accepted), release) if f.rule == "axolotl-gpu-undeclared"]
