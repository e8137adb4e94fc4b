"""The stack verdict (axolotl-stack-mismatch): once per run, an info unless a recorded library change touches a
config of the run, naming only those configs, and never failing --strict by itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATASETS_YAML, REPO

from lora_compiler import profiles
from lora_compiler.cli import cli

pytestmark = pytest.mark.stack  # what PEFT and transformers build: .ci/run runs it on the newest too

LLAMA = "base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n" + DATASETS_YAML
PLAIN = LLAMA + "lora_target_modules:\n  - q_proj\n  - v_proj\n"
PARTIAL = (
    "base_model: mistralai/Mistral-7B-v0.1\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"
    "lora_target_modules:\n  - q_proj\nlora_modules_to_save:\n  - head\n" + DATASETS_YAML
)
RULE = "axolotl-stack-mismatch"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The libraries the run reports as installed (no axolotl), whatever this machine has."""
    versions = {"transformers": "5.25.0", "peft": "0.22.0"}
    monkeypatch.setattr(profiles, "installed", versions.get)
    monkeypatch.delenv(profiles.ENV_VAR, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return versions


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "a.yml").write_text(PLAIN)
    (folder / "b.yml").write_text(PLAIN)
    (folder / "partial.yml").write_text(PARTIAL)
    return folder


def _lint(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, ["lint", "--offline", "--axolotl", "0.21", *args])
    return res.exit_code, res.output


def _without_verdict(stack: dict[str, str], *args: str) -> int:
    """The exit code of the same lint on the pinned libraries' versions, where no verdict is said. The configs' own
    findings come from the libraries really installed (a partial modules_to_save name is an error on PEFT 0.22),
    so the verdict is proved harmless by comparison, not by a fixed code."""
    said = dict(stack)
    stack.update(transformers=profiles.NEWEST.transformers, peft=profiles.NEWEST.peft)
    code, out = _lint(*args)
    assert RULE not in out
    stack.clear(), stack.update(said)
    return code


def test_a_folder_gets_one_verdict_naming_only_the_config_a_library_change_touches(
    tmp_path: Path, stack: dict[str, str]
) -> None:
    folder = _folder(tmp_path)
    code, out = _lint(str(folder))
    lines = [line for line in out.splitlines() if RULE in line]
    assert len(lines) == 1 and lines[0].startswith("run: warning [axolotl-stack-mismatch]"), out
    assert "PEFT 0.22 matches lora_modules_to_save only at a dot boundary" in lines[0]
    assert "partial.yml" in lines[0] and "a.yml" not in lines[0] and "b.yml" not in lines[0]
    assert "Axolotl 0.21.0's pinned stack" in lines[0]
    assert code == _without_verdict(stack, str(folder))


def test_the_verdict_never_fails_strict_by_itself(tmp_path: Path, stack: dict[str, str]) -> None:
    folder = _folder(tmp_path)
    (folder / "a.yml").unlink(), (folder / "b.yml").unlink()
    code, out = _lint("--strict", str(folder))
    assert "warning [axolotl-stack-mismatch]" in out
    assert code == _without_verdict(stack, "--strict", str(folder))


def test_machine_formats_carry_the_verdict_once_without_a_file(tmp_path: Path, stack: dict[str, str]) -> None:
    folder = _folder(tmp_path)
    data = json.loads(_lint("--format", "json", str(folder))[1])
    assert [f["rule"] for f in data["findings"]] == [RULE] and data["findings"][0]["file"] is None
    assert all(f["rule"] != RULE for file in data["files"] for f in file["findings"])
    in_files = [f for file in data["files"] for f in file["findings"] if f["severity"] == "warning"]
    assert data["summary"]["warning"] == len(in_files) + 1  # the files' own (PEFT 0.22: the partial name), the verdict
    github = _lint("--format", "github", str(folder))[1]
    assert github.count(RULE) == 1 and "::warning title=axolotl-stack-mismatch::" in github
    sarif = json.loads(_lint("--format", "sarif", str(folder))[1])
    (result,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == RULE]
    assert "locations" not in result


def test_a_patch_release_of_the_pinned_minors_is_an_info(tmp_path: Path, stack: dict[str, str]) -> None:
    stack.update(transformers="5.20.3", peft="0.21.2")
    (tmp_path / "partial.yml").write_text(PARTIAL)
    code, out = _lint("--strict", str(tmp_path / "partial.yml"))
    (line,) = [line for line in out.splitlines() if RULE in line]
    assert "info [axolotl-stack-mismatch]" in line and "patch releases of the pinned minors" in line
    assert "transformers 5.20.3" in line and "peft" not in line.split("this run has")[1]
    assert code == _without_verdict(stack, "--strict", str(tmp_path / "partial.yml"))


def test_no_recorded_change_touching_the_run_is_an_info_that_names_no_change(
    tmp_path: Path, stack: dict[str, str]
) -> None:
    (tmp_path / "a.yml").write_text(PLAIN)
    out = _lint(str(tmp_path / "a.yml"))[1]
    (line,) = [line for line in out.splitlines() if RULE in line]
    assert "info" in line and "no recorded library change touches these configs" in line
    assert "PEFT 0.22" not in line


def test_another_installed_axolotl_is_a_warning_even_on_the_pinned_libraries(
    tmp_path: Path, stack: dict[str, str]
) -> None:
    stack.update(axolotl="0.20.0", transformers="5.20.1", peft="0.21.2")
    (tmp_path / "a.yml").write_text(PLAIN)
    out = _lint(str(tmp_path / "a.yml"))[1]
    (line,) = [line for line in out.splitlines() if RULE in line]
    assert "warning" in line and line.endswith("pins transformers 5.20.1, peft 0.21.2; this run has axolotl 0.20.0")


def test_a_transformers_change_names_the_model_type_it_touches(
    stack: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the probe names its model by a path relative to the repository
    stack.update(peft="0.21.2")  # transformers 5.25.0 alone moved
    out = _lint("tests/stack_cases/jamba-router.yml", "tests/stack_cases/jamba-mamba.yml")[1]
    (line,) = [line for line in out.splitlines() if RULE in line]
    assert "transformers 5.21 makes Jamba's feed_forward.router a module of its own" in line
    assert "tests/stack_cases/jamba-router.yml" in line and "jamba-mamba" not in line
