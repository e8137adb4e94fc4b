"""The hostile-input promises, replayed from tests/hostile/: one folder a case, as tests/cases/ is for rules.

Every `run` step of a case is a fresh `lora-compiler` process (tests/hostile_replay.py). Its exit code and
finding ids are checked, no traceback may appear, and its resources are bounded as the child measured
them itself, never by wall time:
- peak memory (VmHWM) under 300 MB when only the YAML is read (`"floor": false`), and within 150 MB
  of the import floor (an honest lint of the bundled example, measured here) when the case reaches the
  model or adapter and so imports torch, transformers and peft;
- CPU seconds under 10x the case's quiet figure (`cpu_s`, the slowest of its runs on a quiet 2-core
  machine, rounded up), so a busy CI machine cannot fail it and a hang or a blow-up does.
Paths in `absent` must not exist afterwards (a pickle's marker, a file planted outside -o).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hostile_replay import CASES, import_floor, replay

YAML_ONLY_MB = 300
OVER_FLOOR_MB = 150
CPU_MARGIN = 10


@pytest.fixture(scope="module")
def floor_mb(tmp_path_factory: pytest.TempPathFactory) -> float:
    run = import_floor(tmp_path_factory.mktemp("floor"))
    assert run.exit_code == 0, run.output
    return run.peak_mb


@pytest.mark.parametrize("folder", CASES, ids=lambda p: p.name)
def test_hostile_case_ends_with_its_finding_in_bounded_memory_and_cpu(
    folder: Path, tmp_path: Path, floor_mb: float
) -> None:
    spec, runs = replay(folder, tmp_path)
    limit = floor_mb + OVER_FLOOR_MB if spec.get("floor", True) else YAML_ONLY_MB
    for run in runs:
        step, output = run.step, run.output[-1500:]
        assert "Traceback" not in run.output, run.output[-2000:]
        assert run.exit_code == step["exit"], output
        for rule in step.get("rules", []):
            assert f"[{rule}]" in run.output, (rule, output)
        for text in step.get("output_has", []):
            assert text in run.output, (text, output)
        assert run.peak_mb < limit, f"peak {run.peak_mb:.0f} MB, limit {limit:.0f} MB"
        assert run.cpu_s < CPU_MARGIN * spec["cpu_s"], f"{run.cpu_s:.2f} CPU s, quiet figure {spec['cpu_s']} s"
    for absent in spec.get("absent", []):
        assert not Path(absent).exists() and not Path(absent).is_symlink(), f"{absent} was created"


def test_every_case_says_what_it_proves_and_has_a_quiet_cpu_figure() -> None:
    for folder in CASES:
        spec = json.loads((folder / "case.json").read_text())
        assert spec["about"] and 0 < spec["cpu_s"] <= 10, folder.name
        assert any("run" in s for s in spec["steps"]), folder.name
