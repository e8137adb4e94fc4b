"""Acceptance: every folder case is a test. `cases/bad/*.yml` declare `# expect: RULE LINE:COLUMN` (one
per finding, order free; 1-based, the column where the key, value or list item the finding points at
begins) and optionally `# lint-options: serve=vllm axolotl=0.19.0`; `cases/good/*.yml` lint clean.
A case marked `# requires: modern-stack` is skipped on transformers 4 / peft < 0.20; one marked
`# requires: peft-sorted-patterns` where the installed PEFT saves rank_pattern in its own order (>= 0.22).

`# expect-if: QUESTION=ANSWER RULE LINE:COLUMN` expects a finding only where the installed libraries give that
answer, as scripts/stack_facts.py recorded it for them (tests/stack_facts.py): a finding about what PEFT does
follows the PEFT that does it.

`# wrong-column: RULE LINE:COLUMN (why)` records a column the tool is known to get wrong: what it
reports today in place of the expected finding with that rule and line. Such a case xfails while the
tool reports exactly that (everything else still checked), and fails once the column is right: then
delete the line."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import MODERN_STACK
from stack_facts import answer

from lora_compiler.engine.compiler import CompileResult, Options, compile_document
from lora_compiler.engine.session import Session
from lora_compiler.profiles import NEWEST
from lora_compiler.rules import by_id
from lora_compiler.rules.axolotl.validator import ALL as VALIDATORS

pytestmark = pytest.mark.stack  # what PEFT and transformers build: .ci/run runs it on the newest too

CASES = Path(__file__).resolve().parents[1] / "cases"
# About the machine, not the case: a case pinned to a release meets the other release's libraries on one stack.
ENVIRONMENT_RULES = frozenset({"axolotl-stack-mismatch"})
BAD = sorted((CASES / "bad").glob("*.yml"))
GOOD = sorted((CASES / "good").glob("*.yml"))


def _declared(path: Path, directive: str) -> list[tuple[str, int, int]]:
    """Every `# DIRECTIVE: RULE LINE:COLUMN` of a case; a malformed one (e.g. without a column) fails."""
    lines = [line for line in path.read_text().splitlines() if line.startswith(f"# {directive}:")]
    found = [re.fullmatch(rf"# {directive}: ([\w-]+) (\d+):(\d+)(?: \(.+\))?", line) for line in lines]
    bad = [line for line, m in zip(lines, found) if m is None]
    assert not bad, f"{path.name}: write '# {directive}: RULE LINE:COLUMN', not {bad}"
    return [(m.group(1), int(m.group(2)), int(m.group(3))) for m in found]


def _declared_if(path: Path) -> list[tuple[str, str, str, int, int]]:
    """Every `# expect-if: QUESTION=ANSWER RULE LINE:COLUMN` of a case, as (question, answer, rule, line, column)."""
    lines = [line for line in path.read_text().splitlines() if line.startswith("# expect-if:")]
    found = [re.fullmatch(r"# expect-if: ([\w.]+)=(\w+) ([\w-]+) (\d+):(\d+)", line) for line in lines]
    bad = [line for line, m in zip(lines, found) if m is None]
    assert not bad, f"{path.name}: write '# expect-if: QUESTION=ANSWER RULE LINE:COLUMN', not {bad}"
    return [(m.group(1), m.group(2), m.group(3), int(m.group(4)), int(m.group(5))) for m in found if m]


def _conditional(path: Path) -> list[tuple[str, int, int]]:
    """The `# expect-if:` findings whose recorded answer holds on the installed stack."""
    return [
        (rule, line, column)
        for question, expected, rule, line, column in _declared_if(path)
        if str(answer(question)).lower() == expected.lower()
    ]


def _options(path: Path) -> Options:
    """`# lint-options: serve=vllm axolotl=0.19.0`: the engine to check, the Axolotl release whose semantics apply
    (default: the newest profile, so a case's expectations do not follow whatever axolotl is installed)."""
    found = re.search(r"^# lint-options: (.+)$", path.read_text(), re.M)
    given = dict(item.split("=", 1) for item in found.group(1).split()) if found else {}
    return Options(offline=True, serve=given.get("serve"), axolotl=given.get("axolotl", NEWEST.version))


@pytest.fixture(scope="module")
def batch() -> tuple[Session, dict[Path, CompileResult]]:
    """Lint the whole folder in one batch, as CI would: one Session, so each distinct skeleton is built
    once and shared by every file on that model. This is api.lint_files' loop, spelled out because
    lint_files takes one Options for the whole batch (serve-vllm.yml needs serve=vllm) and keeps its
    Session, whose counters test_the_batch_builds_one_skeleton_per_distinct_model reads, to itself."""
    session = Session()
    return session, {path: compile_document(path, _options(path), session) for path in BAD + GOOD}


@pytest.fixture(scope="module")
def linted(batch) -> dict[Path, CompileResult]:
    return batch[1]


def _skip_unless_stack(path: Path) -> None:
    text = path.read_text()
    if "# requires: modern-stack" in text and not MODERN_STACK:
        pytest.skip("case expects transformers 5 layouts and peft >= 0.20")
    if "# requires: peft-sorted-patterns" in text and _peft_keeps_pattern_order():
        pytest.skip("case expects a PEFT that saves rank_pattern sorted (< 0.22); tests/facts/test_peft_saves.py")


def _peft_keeps_pattern_order() -> bool:
    """The installed PEFT's own list of the config dicts whose order save_pretrained keeps (0.22 and later)."""
    from peft import config

    return "rank_pattern" in getattr(config, "CONFIG_KEYS_WITH_PRESERVED_ORDER", ())


def _shown(result: CompileResult) -> list[str]:
    return [f"{f.line}:{f.column} {f.rule} {f.message}" for f in result.findings]


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_case_reports_exactly_its_expected_findings(path, linted):
    _skip_unless_stack(path)
    expected = Counter(_declared(path, "expect") + _conditional(path))
    assert expected or "# expect-if:" in path.read_text(), "a bad case must declare what it expects"
    result = linted[path]
    got = Counter((f.rule, f.line, f.column) for f in result.findings if f.rule not in ENVIRONMENT_RULES)
    wrong = _declared(path, "wrong-column")
    if not wrong:
        assert got == expected, _shown(result)
        return
    today = expected.copy()
    for rule, line, column in wrong:
        replaced = next((e for e in today.elements() if e[:2] == (rule, line) and e[2] != column), None)
        assert replaced, f"'# wrong-column: {rule} {line}:{column}' replaces no '# expect:' of that rule and line"
        today[replaced] -= 1
        today[(rule, line, column)] += 1
    assert got != expected, "the column is right now: delete the '# wrong-column:' line"
    assert got == +today, _shown(result)
    pytest.xfail(f"known wrong column: reports {wrong}")


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_good_case_lints_clean(path, linted):
    _skip_unless_stack(path)
    result = linted[path]
    assert [f for f in result.findings if f.rule not in ENVIRONMENT_RULES] == [], _shown(result)
    assert result.exit_code(strict=False) == 0


def test_every_rule_has_a_bad_case_or_a_dedicated_test():
    covered = {rule for p in BAD for rule, _, _ in _declared(p, "expect")}
    covered |= {rule for p in BAD for _, _, rule, _, _ in _declared_if(p)}  # expected on the stacks that answer so
    covered |= {v.id for v in VALIDATORS if v.refused}  # their examples: tests/unit/rules/test_axolotl_validators.py
    # Covered by tests that need files a folder case cannot hold (tmp dirs, directories, binary input).
    elsewhere = {
        "input-unreadable",
        "yaml-too-complex",
        "remote-code-required",
        "output-protected",
        "peft-refused",
        "loftq-unavailable",  # load_lora only: tests/unit/features/test_runtime.py
        # adapter directories are built in tmp dirs: tests/unit/rules/test_lint_adapter_dir.py, test_adapter_dir.py
        "adapter-dir-missing",
        "adapter-dir-config-invalid",
        "adapter-dir-header-invalid",
        "adapter-dir-pickle",
        "adapter-dir-target-missing",
        "adapter-dir-shape-mismatch",
        "adapter-dir-config-differs",
        "adapter-dir-base-model-differs",
        "convention-replaced",
        "convention-empty",
        "diff-incomparable",  # diff notes: tests/unit/features/test_diff.py
        "lock-differs",  # a lock beside the configs: tests/unit/features/test_lock.py
        "model-too-large",  # needs a model directory: tests/hostile/
        "axolotl-stack-mismatch",
        "axolotl-profile-unknown",  # about the machine: tests/unit/profiles/test_profiles.py
        # lint --with-axolotl runs Axolotl in a child process: tests/unit/features/test_with_axolotl.py
        "axolotl-disagrees",
        "axolotl-not-checked",
        # export findings: tests/unit/cli/test_export_cli.py and the cases of tests/facts/test_trainer_exports.py
        "export-unexpressible",
        "export-not-faithful",
        "export-lossy",
        "export-rewritten",
    }
    assert set(by_id()) - covered - elsewhere == set()


def test_every_rule_is_documented():
    for rule in by_id().values():
        assert rule.summary.endswith(".") and len(rule.doc) > 40, rule.id
        assert re.fullmatch(r"[a-z0-9-]+", rule.id)


# The Axolotl keys that decide which skeleton a config gets: the model, where its config.json comes
# from, and the class and config built from it (restated from Axolotl's schema, not from session.py).
_MODEL_KEYS = (
    "base_model",
    "base_model_config",
    "model_revision",
    "model_type",
    "cls_model_config",
    "model_config",
    "num_labels",
    "reward_model",
    "process_reward_model",
    "is_multimodal",
    "trust_remote_code",
    "gptq",
)
# Expected findings of a case that ends before a skeleton exists: the YAML or its keys are unusable, there
# is no adapter to compile, no model config is found, or building the skeleton itself fails.
_NO_SKELETON = {
    "yaml-syntax",
    "yaml-not-mapping",
    "schema",
    "adapter-missing",
    "adapter-unsupported",
    "model-not-found",
    "model-config-invalid",
    "skeleton-failed",
}


def test_the_batch_builds_one_skeleton_per_distinct_model(batch):
    session, _ = batch
    on_a_model = [p for p in BAD + GOOD if not {rule for rule, _, _ in _declared(p, "expect")} & _NO_SKELETON]
    models = {
        json.dumps({k: (yaml.safe_load(p.read_text()) or {}).get(k) for k in _MODEL_KEYS}, sort_keys=True)
        for p in on_a_model
    }
    assert len(models) < len(on_a_model)  # the folder has files to share a skeleton, else this proves nothing
    assert session.builds == len(models), sorted(models)
