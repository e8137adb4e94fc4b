"""Axolotl release profiles: which release applies, what differs between releases, and what outputs record.

Figures by hand: Pythia-1.4b (fixtures) has hidden 2048 and vocabulary 50,304, so a LoRA pair of r=8 on
its output layer is 8 * (2048 + 50304) = 418,816 parameters: what 0.19 trains more than 0.20/0.21 with
lora_target_linear (0.19's output-layer table says embed_out, the model's head is lm_head).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import DATASETS_YAML, REPO

from lora_compiler import profiles
from lora_compiler.cli import cli
from lora_compiler.engine.compiler import Options, compile_document
from lora_compiler.engine.policy import Policy, PolicyError
from lora_compiler.features.diff import DiffUsageError, diff

PYTHIA = (
    "base_model: EleutherAI/pythia-1.4b\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
    + DATASETS_YAML
)
PYTHIA_HEAD = 8 * (2048 + 50304)


@pytest.fixture
def no_axolotl(monkeypatch: pytest.MonkeyPatch) -> None:
    """No axolotl installed and no LORA_COMPILER_AXOLOTL, whatever this machine has."""
    real = profiles.installed
    monkeypatch.setattr(profiles, "installed", lambda p: None if p == "axolotl" else real(p))
    monkeypatch.delenv(profiles.ENV_VAR, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _yaml(tmp_path: Path, text: str, name: str = "train.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "asked, version", [("0.19", "0.19.0"), ("0.21.0", "0.21.0"), ("v0.20.0", "0.20.0"), ("0.21.3", "0.21.0")]
)
def test_a_release_maps_to_its_profile_and_a_patch_release_to_its_minor(asked: str, version: str) -> None:
    assert profiles.find(asked).version == version


def test_an_unknown_release_is_refused_with_the_known_ones() -> None:
    with pytest.raises(profiles.ProfileError, match="0.19.0, 0.20.0, 0.21.0"):
        profiles.find("0.18")


def test_selection_order_flag_then_env_then_installed_then_policy_then_newest(
    monkeypatch: pytest.MonkeyPatch, no_axolotl: None
) -> None:
    assert (profiles.select().profile, profiles.select().chosen_by) == (profiles.NEWEST, "newest supported")
    assert profiles.select(policy="0.19").chosen_by == "policy"
    monkeypatch.setattr(profiles, "installed", lambda p: "0.20.0" if p == "axolotl" else None)
    assert profiles.select(policy="0.19").profile.version == "0.20.0"  # the installed release beats the policy
    monkeypatch.setenv(profiles.ENV_VAR, "0.19")
    assert profiles.select(policy="0.21").profile.version == "0.19.0"
    assert profiles.select("0.21", "0.19").profile.version == "0.21.0"
    assert profiles.select("0.21").chosen_by == "--axolotl"


def test_an_installed_axolotl_of_another_release_is_a_mismatch_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiles, "installed", {"axolotl": "0.21.0", "transformers": "5.20.1", "peft": "0.21.2"}.get)
    monkeypatch.delenv(profiles.ENV_VAR, raising=False)
    assert profiles.select().mismatches() == []
    assert profiles.select("0.19").mismatches() == [
        "axolotl 0.21.0 is installed",
        "transformers 5.20.1 serves this run (Axolotl 0.19.0 was released with 5.16.1)",
        "peft 0.21.2 serves this run (Axolotl 0.19.0 was released with 0.20.0)",
    ]


def test_the_stack_mismatch_names_the_versions_once_and_only_when_a_model_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_axolotl: None
) -> None:
    monkeypatch.setattr(profiles, "installed", {"transformers": "5.16.1", "peft": "0.20.0"}.get)
    path = _yaml(tmp_path, PYTHIA)
    (found,) = [
        f
        for f in compile_document(path, Options(offline=True, axolotl="0.21"), verdict=True).findings
        if f.rule == "axolotl-stack-mismatch"
    ]
    # no recorded library change lies between these versions and touches Pythia: an info, said of this one file
    assert found.severity.value == "info" and found.line is None and found.file == str(path)
    assert "pins transformers 5.20.1, peft 0.21.2; this run has transformers 5.16.1, peft 0.20.0" in found.message
    assert "no recorded library change touches these configs" in found.message
    assert not [
        f
        for f in compile_document(path, Options(offline=True, axolotl="0.19"), verdict=True).findings
        if f.rule == "axolotl-stack-mismatch"
    ]
    no_model = compile_document(path, Options(offline=True, axolotl="0.21", no_model=True), verdict=True)
    assert "axolotl-stack-mismatch" not in {f.rule for f in no_model.findings}


def test_lora_target_linear_on_pythia_targets_the_head_in_0_19_only(tmp_path: Path, no_axolotl: None) -> None:
    path = _yaml(tmp_path, PYTHIA)
    old = compile_document(path, Options(offline=True, axolotl="0.19")).report
    new = compile_document(path, Options(offline=True, axolotl="0.21")).report
    assert "embed_out" not in old.linear_names and "lm_head" in old.linear_names
    assert "lm_head" not in new.linear_names
    assert old.trainable_params - new.trainable_params == PYTHIA_HEAD
    assert (old.axolotl.version, new.axolotl.version) == ("0.19.0", "0.21.0")


def test_the_upgrade_view_shows_the_verdict_findings_and_trained_counts_per_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_axolotl: None
) -> None:
    path = _yaml(tmp_path, PYTHIA + "fsdp:\n  - full_shard\n")
    d = diff([path], releases=["0.19", "0.21"], options=Options(offline=True))
    old, new = d.sides
    assert (old.label, new.label) == ("Axolotl 0.19.0", "Axolotl 0.21.0")
    assert old.exit_code == 0 and new.exit_code == 1
    appear = [f.rule for f, sides in d.shared_findings() if sides == (1,) and f.rule != "axolotl-stack-mismatch"]
    assert appear == ["axolotl-fsdp1-removed"]  # (the stack warning: one column's release is not this stack's)
    assert d.differs and d.exit_code(check=True) == 1
    # a relative path: the text view cuts its headline at 100 characters, and a long tmp path would cut it
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["diff", path.name, "--axolotl", "0.19", "--axolotl", "0.21", "--offline"])
    assert "across 2 Axolotl releases" in res.output
    assert "exit 0, accepted" in res.output and "exit 1, refused: axolotl-fsdp1-removed" in res.output


def test_the_upgrade_view_of_pythia_shows_the_head_leaving(tmp_path: Path, no_axolotl: None) -> None:
    d = diff([_yaml(tmp_path, PYTHIA)], releases=["0.19", "0.21"], options=Options(offline=True))
    head = next(r for r in d.rows if r.key == "lm_head")
    assert head.cells[0].params == PYTHIA_HEAD and head.cells[1] is None
    assert d.sides[0].totals.trainable_params - d.sides[1].totals.trainable_params == PYTHIA_HEAD


def test_the_upgrade_view_refuses_other_axes_and_unknown_releases(tmp_path: Path) -> None:
    path = _yaml(tmp_path, PYTHIA)
    with pytest.raises(DiffUsageError, match="no profile"):
        diff([path], releases=["0.19", "0.9"])
    with pytest.raises(DiffUsageError, match="across releases"):
        diff([path], releases=["0.19", "0.21"], models=["Qwen/Qwen3-8B"])


def test_an_unknown_axolotl_on_the_command_line_is_a_usage_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["lint", "--no-model", "--axolotl", "0.18", str(_yaml(tmp_path, PYTHIA))])
    assert res.exit_code == 2 and "no profile for Axolotl '0.18'" in res.output


def test_an_unknown_release_in_the_environment_is_unusable_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_axolotl: None
) -> None:
    monkeypatch.setenv(profiles.ENV_VAR, "9.9")
    result = compile_document(_yaml(tmp_path, PYTHIA), Options(offline=True))
    assert [f.rule for f in result.findings] == ["axolotl-profile-unknown"] and result.exit_code() == 2


def test_the_policy_key_names_the_release_and_an_unknown_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.lora-compiler]\naxolotl = "0.19"\n')
    assert Policy.discover(tmp_path).axolotl == "0.19"
    (tmp_path / "pyproject.toml").write_text('[tool.lora-compiler]\naxolotl = "1.0"\n')
    with pytest.raises(PolicyError, match="no profile for Axolotl '1.0'"):
        Policy.discover(tmp_path)


@pytest.mark.parametrize("release, known", [("0.19", False), ("0.21", True)])
def test_keys_follow_the_release_s_key_tree(tmp_path: Path, release: str, known: bool, no_axolotl: None) -> None:
    """mixlora_num_experts and nf4_backend arrived in 0.20; context parallelism's keys are built in since 0.20."""
    path = _yaml(tmp_path, PYTHIA + "mixlora_num_experts: 4\nnf4_backend: torchao\n")
    result = compile_document(path, Options(offline=True, no_model=True, axolotl=release))
    unknown = {f.key for f in result.findings if f.rule == "unknown-key"}
    assert (unknown == set()) is known
    if not known:
        assert unknown == {"mixlora_num_experts", "nf4_backend"}


@pytest.mark.parametrize(
    "release, says",
    [
        ("0.19", "Axolotl 0.19.0 has no mixlora adapter (it arrived in Axolotl 0.20.0, as a plugin)"),
        ("0.21", "adapter 'mixlora' (Axolotl 0.21.0's MixLoRA plugin) is not compiled"),
    ],
)
def test_mixlora_is_refused_with_the_reason_of_the_release(
    tmp_path: Path, release: str, says: str, no_axolotl: None
) -> None:
    path = _yaml(
        tmp_path,
        PYTHIA.replace("adapter: lora", "adapter: mixlora").replace(
            "lora_target_linear: true", "lora_target_modules: [query_key_value]"
        ),
    )
    result = compile_document(path, Options(offline=True, axolotl=release))
    (found,) = [f for f in result.findings if f.rule == "adapter-unsupported"]
    assert says in found.message and result.exit_code() == 2 and result.report is None


def _outputs(tmp_path: Path, fmt: str) -> Any:
    res = CliRunner().invoke(
        cli, ["lint", "--format", fmt, "--axolotl", "0.20", "--offline", str(_yaml(tmp_path, PYTHIA))]
    )
    return json.loads(res.output)


def test_lint_json_and_sarif_record_the_profile_and_the_libraries(tmp_path: Path, no_axolotl: None) -> None:
    data = _outputs(tmp_path, "json")
    assert data["files"][0]["axolotl"]["version"] == "0.20.0"
    assert data["files"][0]["axolotl"]["released_with"] == {"transformers": "5.17.0", "peft": "0.21.0"}
    assert set(data["environment"]) == {"lora_compiler", "torch", "transformers", "peft"}
    props = _outputs(tmp_path, "sarif")["runs"][0]["properties"]
    assert [p["version"] for p in props["axolotl"]] == ["0.20.0"] and props["environment"] == data["environment"]


def test_compile_outputs_record_the_profile(tmp_path: Path, no_axolotl: None) -> None:
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["compile", "--axolotl", "0.19", "--offline", "--no-cache", "-o", str(out), str(_yaml(tmp_path, PYTHIA))]
    )
    assert res.exit_code == 0, res.output
    targets = json.loads((out / "targets.json").read_text())
    assert targets["axolotl"] == {
        "version": "0.19.0",
        "chosen_by": "--axolotl",
        "installed_axolotl": None,
        "released_with": {"transformers": "5.16.1", "peft": "0.20.0"},
    }
    line = "0.19.0 (--axolotl; released with transformers 5.16.1, peft 0.20.0)"
    assert f"- Axolotl semantics: {line}" in (out / "report.md").read_text()
    assert f"<dt>Axolotl semantics</dt><dd>{line}</dd>" in (out / "report.html").read_text()


def test_every_profile_names_a_key_tree_that_is_shipped() -> None:
    for profile in profiles.PROFILES.values():
        tree = json.loads((REPO / "lora_compiler" / profile.keys).read_text())
        assert tree["axolotl"] == profile.version


def test_the_upgrade_view_in_md_json_and_html_keeps_the_refusing_release(tmp_path: Path, no_axolotl: None) -> None:
    path = str(_yaml(tmp_path, PYTHIA + "fsdp:\n  - full_shard\n"))
    run = lambda fmt: (  # noqa: E731
        CliRunner()
        .invoke(
            cli,
            [
                "diff",
                path,
                "--axolotl",
                "0.19",
                "--axolotl",
                "0.21",
                "--offline",
                "--format",
                fmt,
            ],
        )
        .output
    )
    assert "`Axolotl 0.21.0` exit 1, refused (`axolotl-fsdp1-removed`)" in run("md")
    data = json.loads(run("json"))
    assert data["axis"] == "axolotl" and [s["label"] for s in data["sides"]] == ["Axolotl 0.19.0", "Axolotl 0.21.0"]
    # the refusal is about FSDP, not the adapter: 0.21.0 keeps its map, and the page says it refuses the run
    assert "<td><b>Axolotl 0.21.0</b> (refused: axolotl-fsdp1-removed)</td>" in run("html")


@pytest.mark.parametrize(
    "release, plugin, refused",
    [("0.19", True, False), ("0.20", False, False), ("0.20", True, True), ("0.21", False, True)],
)
def test_expert_parallel_topology_runs_where_the_release_merges_the_plugin_s_args(
    tmp_path: Path, release: str, plugin: bool, refused: bool, no_axolotl: None
) -> None:
    """0.21 registers expert parallelism as a built-in plugin; 0.20 checks it only when `plugins:` lists it;
    0.19's plugin has no topology check (the glm-5.2 nvfp4 example: accepted by 0.19, refused by 0.20/0.21)."""
    text = PYTHIA + "expert_parallel_size: 8\nfsdp_config:\n  fsdp_version: 2\n  state_dict_type: SHARDED_STATE_DICT\n"
    if plugin:
        text += "plugins:\n  - axolotl.integrations.expert_parallel.ExpertParallelPlugin\n"
    result = compile_document(_yaml(tmp_path, text), Options(offline=True, no_model=True, axolotl=release))
    assert ("axolotl-expert-parallel" in {f.rule for f in result.findings}) is refused
