"""The hostile-input promises, replayed from tests/hostile/: one folder a case, as tests/cases/ is for rules.

Every `run` step of a case is the real `lora-compiler` command line on the real files in a process of its
own (tests/hostile_replay.py): forked from a server that has already imported what the run may need, so
the torch import is paid once per pytest worker, not per run (tests/forkserver.py). Its exit code and
finding ids are checked, no traceback may appear, and its resources are bounded as the child measured
them itself, never by wall time:
- a YAML-only case (`"floor": false`) forks from a server without torch: it must not import torch, and
  its peak memory (VmHWM, which counts what it shares with that small server as a fresh process counts
  the interpreter) stays under 300 MB;
- a case that reaches the model or adapter forks from the server that has imported torch, transformers
  and peft; a child's VmHWM starts at its own resident set at the fork, so its peak is bounded at 150 MB
  over the import floor, the peak of an honest lint of the bundled example forked from the same server
  (measured here): what a case adds over an honest run, as when both were fresh processes;
- the run's CPU seconds under 10x the case's quiet figure (`cpu_s`, the slowest of its runs as a fresh
  process on a quiet 2-core machine, rounded up), so a busy CI machine cannot fail it and a hang or a
  blow-up does. A forked run's CPU is its own work: the 1.5-4 s of imports its server paid once are no
  longer in it, so the same bound now allows that much more work on the cases that import torch (a
  figure of 2-4 s allows 20-40 s); a case that never reaches the model is bounded as before.
Paths in `absent` must not exist afterwards (a pickle's marker, a file planted outside -o).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile_replay import CASES, import_floor, replay

YAML_ONLY_MB = 300
OVER_FLOOR_MB = 150
CPU_MARGIN = 10


@pytest.fixture(scope="module")
def floor_mb(tmp_path_factory: pytest.TempPathFactory) -> Callable[[bool], float]:
    """The honest lint's peak, measured as the run it bounds was made: forked, or (where a fork was not
    faithful) a fresh process."""
    peaks: dict[bool, float] = {}

    def peak(forked: bool) -> float:
        if forked not in peaks:
            run = import_floor(tmp_path_factory.mktemp("floor"), fresh=not forked)
            assert run.exit_code == 0 and run.forked == forked, run.output
            peaks[forked] = run.peak_mb
        return peaks[forked]

    return peak


@pytest.mark.parametrize("folder", CASES, ids=lambda p: p.name)
def test_hostile_case_ends_with_its_finding_in_bounded_memory_and_cpu(
    folder: Path, tmp_path: Path, floor_mb: Callable[[bool], float]
) -> None:
    spec, runs = replay(folder, tmp_path)
    for run in runs:
        limit = floor_mb(run.forked) + OVER_FLOOR_MB if spec.get("floor", True) else YAML_ONLY_MB
        step, output = run.step, run.output[-1500:]
        assert "Traceback" not in run.output, run.output[-2000:]
        assert run.exit_code == step["exit"], output
        for rule in step.get("rules", []):
            assert f"[{rule}]" in run.output, (rule, output)
        for text in step.get("output_has", []):
            assert text in run.output, (text, output)
        assert run.peak_mb < limit, f"peak {run.peak_mb:.0f} MB, limit {limit:.0f} MB"
        if not spec.get("floor", True):
            assert not run.torch, "a YAML-only run imported torch"
        assert run.cpu_s < CPU_MARGIN * spec["cpu_s"], f"{run.cpu_s:.2f} CPU s, quiet figure {spec['cpu_s']} s"
    for absent in spec.get("absent", []):
        assert not Path(absent).exists() and not Path(absent).is_symlink(), f"{absent} was created"


def test_every_case_says_what_it_proves_and_has_a_quiet_cpu_figure() -> None:
    for folder in CASES:
        spec = json.loads((folder / "case.json").read_text())
        assert spec["about"] and 0 < spec["cpu_s"] <= 10, folder.name
        assert any("run" in s for s in spec["steps"]), folder.name
