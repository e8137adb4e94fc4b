"""`lora-compiler lock` and `lint --locked`, end to end: a lock records what each config trains; a later run that
trains anything else fails with the difference, and names the library change when the lock's versions differ."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATASETS_YAML

from lora_compiler.cli import cli
from lora_compiler.features.lock import _entries, _grouped, _indices

pytestmark = pytest.mark.stack  # what PEFT and transformers build: .ci/run runs it on the newest too

PLAIN = (
    "base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"
    "lora_target_modules:\n  - q_proj\n  - v_proj\n" + DATASETS_YAML
)
PARTIAL = (
    "base_model: mistralai/Mistral-7B-v0.1\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"
    "lora_target_modules:\n  - q_proj\nlora_modules_to_save:\n  - head\n" + DATASETS_YAML
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with two configs, as the working directory."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "plain.yml").write_text(PLAIN)
    (tmp_path / "configs" / "partial.yml").write_text(PARTIAL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def _run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, [*args, "--offline", "--axolotl", "0.21"])
    return res.exit_code, res.output


def _lock() -> dict:
    return json.loads(Path("lora-compiler.lock").read_text())


def _other_side(versions: dict) -> dict:
    """The libraries on the other side of PEFT 0.22 and transformers 5.21 from `versions`."""
    newer = versions["peft"].startswith("0.22")
    return {
        **versions,
        **({"transformers": "5.20.1", "peft": "0.21.2"} if newer else {"transformers": "5.25.0", "peft": "0.22.0"}),
    }


def test_a_lock_is_deterministic_json_keyed_by_paths_relative_to_it(repo: Path) -> None:
    assert _run("lock", "configs")[0] == 0
    first = Path("lora-compiler.lock").read_text()
    assert _run("lock", "configs/plain.yml", "configs/partial.yml")[0] == 0
    assert Path("lora-compiler.lock").read_text() == first
    data = json.loads(first)
    assert list(data["configs"]) == ["configs/partial.yml", "configs/plain.yml"]
    plain = data["configs"]["configs/plain.yml"]
    assert plain["axolotl"] == "0.21.0" and set(plain["libraries"]) == {"torch", "transformers", "peft"}
    assert plain["target_modules"] == ["q_proj", "v_proj"] and plain["wrapped_modules"] == 32
    assert plain["trainable_params"] == 16 * (8 * (2048 + 2048) + 8 * (2048 + 512))
    assert plain["adapter_bytes"] > 0 and len(plain["wrapped_digest"]) == 16
    assert [(m["name"], m["layers"]) for m in plain["modules"]] == [
        ("model.layers.*.self_attn.q_proj", "0-15"),
        ("model.layers.*.self_attn.v_proj", "0-15"),
    ]


def test_unchanged_configs_pass_lint_locked(repo: Path) -> None:
    _run("lock", "configs")
    code, out = _run("lint", "--locked")
    assert code == 0 and "lock-differs" not in out, out


def test_an_edit_that_changes_the_trained_set_fails_with_the_difference(repo: Path) -> None:
    _run("lock", "configs")
    Path("configs/plain.yml").write_text(PLAIN.replace("lora_r: 8", "lora_r: 16"))
    code, out = _run("lint", "--locked")
    assert code == 1, out
    assert "configs/plain.yml: error [lock-differs] configs/plain.yml trains another set than the lock records" in out
    assert "lock -> configs/plain.yml: 0 removed, 0 added, 32 changed modules" in out
    assert "model.layers.*.self_attn.q_proj [0-15]" in out and "rank r=8/a=16 -> r=16/a=16" in out
    assert "configs/partial.yml: error" not in out


def test_an_upgrade_that_changes_a_trained_set_fails_naming_the_library_change(repo: Path) -> None:
    _run("lock", "configs")
    data = _lock()
    entry = data["configs"]["configs/partial.yml"]
    # as the other side of PEFT 0.22 answered: `head` saved lm_head before 0.22, nothing from 0.22 on
    saved = [m for m in entry["modules"] if m["section"] == "modules_to_save"]
    row = {"section": "modules_to_save", "name": "lm_head", "layers": "", "count": 1, "type": "Linear"}
    entry["modules"] = (
        [m for m in entry["modules"] if m not in saved]
        if saved
        else [*entry["modules"], {**row, "shape": "", "rank": "", "params": 131072000}]
    )
    entry["wrapped_digest"], entry["trainable_params"] = "0" * 16, entry["trainable_params"] + (1 if saved else -1)
    entry["libraries"] = _other_side(entry["libraries"])
    data["configs"]["configs/plain.yml"]["libraries"] = _other_side(entry["libraries"])
    Path("lora-compiler.lock").write_text(json.dumps(data))
    code, out = _run("lint", "--locked")
    assert code == 1, out
    (finding,) = [line for line in out.splitlines() if "[lock-differs]" in line]
    assert finding.startswith("configs/partial.yml: error")
    assert "PEFT 0.22 matches lora_modules_to_save only at a dot boundary" in finding
    assert ("removed:" if not saved else "added:") in out and "lm_head (modules_to_save)" in out
    assert "versions: transformers " in out and "; peft 0.2" in out


def test_an_upgrade_that_changes_no_trained_set_passes(repo: Path) -> None:
    _run("lock", "configs/plain.yml")
    data = _lock()
    entry = data["configs"]["configs/plain.yml"]
    entry["libraries"] = _other_side(entry["libraries"])
    Path("lora-compiler.lock").write_text(json.dumps(data))
    code, out = _run("lint", "--locked")
    assert code == 0 and "lock-differs" not in out, out


def test_a_config_the_lock_does_not_know_fails(repo: Path) -> None:
    _run("lock", "configs/plain.yml")
    code, out = _run("lint", "--locked", "configs")
    assert code == 1 and "configs/partial.yml is not in the lock" in out


def test_lock_keeps_other_entries_and_never_clobbers_a_foreign_file(repo: Path) -> None:
    _run("lock", "configs/plain.yml")
    _run("lock", "configs/partial.yml")
    assert list(_lock()["configs"]) == ["configs/partial.yml", "configs/plain.yml"]
    Path("other.lock").write_text("not a lock\n")
    code, out = _run("lock", "-o", "other.lock", "configs/plain.yml")
    assert code == 2 and "not a lora-compiler lock" in out and Path("other.lock").read_text() == "not a lock\n"
    assert _run("lock", "-o", "other.lock", "--force", "configs/plain.yml")[0] == 0
    assert list(json.loads(Path("other.lock").read_text())["configs"]) == ["configs/plain.yml"]


def test_lint_locked_without_a_lock_is_a_usage_error(repo: Path) -> None:
    code, out = _run("lint", "--locked")
    assert code == 2 and "lora-compiler.lock does not exist" in out
    assert _run("lint")[0] == 2  # neither configs nor --locked


def test_grouped_modules_expand_back_to_every_name() -> None:
    from lora_compiler.results.diff import Facts

    facts = Facts("Linear", "8x8", "r=8/a=16", 128)
    entries = {("modules", f"model.layers.{i}.mlp.experts.{e}.w1"): facts for i in (0, 1, 3) for e in range(4)}
    entries[("modules_to_save", "lm_head")] = Facts("Linear", "", "", 10)
    assert _entries(_grouped(entries)) == entries
    assert _indices("0-2,5") == [(0,), (1,), (2,), (5,)] and _indices("1.0-2") == [(1, 0), (1, 1), (1, 2)]


def test_an_unusable_config_is_not_locked(repo: Path) -> None:
    Path("configs/broken.yml").write_text("adapter: [\n")
    code, out = _run("lock", "configs")
    assert code == 2 and "unusable configs cannot be locked: configs/broken.yml" in out
    assert not Path("lora-compiler.lock").exists()


def test_a_malformed_lock_entry_is_a_usage_error_not_a_traceback(repo: Path) -> None:
    _run("lock", "configs/plain.yml")
    data = _lock()
    data["configs"]["configs/plain.yml"]["modules"][0]["layers"] = "0-x"
    Path("lora-compiler.lock").write_text(json.dumps(data))
    code, out = _run("lint", "--locked")
    assert code == 2 and "the entry of configs/plain.yml is malformed (ValueError" in out
