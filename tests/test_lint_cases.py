"""Acceptance: every folder case is a test. `cases/bad/*.yml` declare `# expect: RULE LINE` (one per
finding, order free) and optionally `# lint-options: serve=vllm`; `cases/good/*.yml` lint clean.
A case marked `# requires: modern-stack` is skipped on transformers 4 / peft < 0.20."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from conftest import MODERN_STACK
from lora_compiler.api import lint_files
from lora_compiler.compiler import Options
from lora_compiler.rules import REGISTRY

CASES = Path(__file__).parent / "cases"
BAD = sorted((CASES / "bad").glob("*.yml"))
GOOD = sorted((CASES / "good").glob("*.yml"))


def _options(path: Path) -> Options:
    found = re.search(r"^# lint-options: serve=(\w+)$", path.read_text(), re.M)
    return Options(offline=True, serve=found.group(1) if found else None)


@pytest.fixture(scope="module")
def linted() -> dict[Path, object]:
    """Lint the whole folder in one batch, as CI would (skeletons shared across files)."""
    out = {}
    for path in BAD + GOOD:
        [result] = lint_files([path], _options(path))
        out[path] = result
    return out


def _skip_unless_stack(path: Path) -> None:
    if "# requires: modern-stack" in path.read_text() and not MODERN_STACK:
        pytest.skip("case expects transformers 5 layouts and peft >= 0.20")


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_case_reports_exactly_its_expected_findings(path, linted):
    _skip_unless_stack(path)
    expected = Counter((rule, int(line)) for rule, line in re.findall(r"^# expect: ([\w-]+) (\d+)$", path.read_text(), re.M))
    assert expected, "a bad case must declare what it expects"
    got = Counter((f.rule, f.line) for f in linted[path].findings)
    assert got == expected, [f"{f.line}:{f.column} {f.rule} {f.message}" for f in linted[path].findings]


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_good_case_lints_clean(path, linted):
    _skip_unless_stack(path)
    result = linted[path]
    assert result.findings == [], [f"{f.line} {f.rule} {f.message}" for f in result.findings]
    assert result.exit_code(strict=True) == 0


def test_every_rule_has_a_bad_case_or_a_dedicated_test():
    covered = {rule for p in BAD for rule in re.findall(r"^# expect: ([\w-]+)", p.read_text(), re.M)}
    # Covered by tests that need files a folder case cannot hold (tmp dirs, directories, binary input).
    elsewhere = {"input-unreadable", "yaml-too-complex", "remote-code-required", "output-protected", "peft-refused",
                 "loftq-unavailable",  # load_lora only: tests/test_runtime.py
                 # adapter directories are built in tmp dirs: tests/test_lint_adapter_dir.py, test_adapter_dir.py
                 "adapter-dir-missing", "adapter-dir-config-invalid", "adapter-dir-header-invalid", "adapter-dir-pickle",
                 "adapter-dir-target-missing", "adapter-dir-shape-mismatch", "adapter-dir-config-differs",
                 "adapter-dir-base-model-differs",
                 "convention-replaced", "convention-empty", "diff-incomparable"}  # diff notes: tests/test_diff.py
    assert set(REGISTRY) - covered - elsewhere == set()


def test_every_rule_is_documented():
    for rule in REGISTRY.values():
        assert rule.summary.endswith(".") and len(rule.doc) > 40, rule.id
        assert re.fullmatch(r"[a-z0-9-]+", rule.id)
