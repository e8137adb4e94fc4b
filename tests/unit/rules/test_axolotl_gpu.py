"""The declared training device: the table (devices.py), --gpu on lint and compile, the policy's `gpu` key, and the
checks that judge it running only with one (without, one info finding lists what was skipped)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from lora_compiler.cli import cli
from lora_compiler.devices import DEVICES, DeviceError, Hardware, parse
from lora_compiler.engine.policy import Policy, PolicyError

SAGE = (
    "base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
    "pad_to_sequence_len: true\nattn_implementation: sage\n"
    "datasets:\n  - path: mhenrichsen/alpaca_2k_test\n    type: alpaca\n"
)


@pytest.mark.parametrize(
    ("text", "name", "count"),
    [
        ("H100", "H100", 1),
        ("h100-sxm", "H100", 1),
        ("8xH100", "H100", 8),
        ("8 x a100_80gb", "A100-80GB", 8),
        ("rtx4090", "RTX-4090", 1),
        ("Tesla T4", "T4", 1),
        ("CPU", "cpu", 1),
    ],
)
def test_names_are_case_insensitive_with_aliases_and_a_count(text: str, name: str, count: int) -> None:
    assert parse(text) == Hardware(next(d for d in DEVICES if d.name == name), count)


@pytest.mark.parametrize("text", ["A100", "B200", "0xH100", "2xcpu", ""])
def test_unknown_or_ambiguous_devices_are_refused(text: str) -> None:
    with pytest.raises(DeviceError):
        parse(text)


def test_capabilities_are_what_axolotl_probes() -> None:
    """torch reports emulated bf16 on a T4; fp8 counts from sm_90 (cli/config.py compute_supports_fp8)."""
    assert parse("2xT4").capabilities() == {
        "bf16": True,
        "fp8": False,
        "tf32": False,
        "n_gpu": 2,
        "n_node": 1,
        "compute_capability": "sm_75",
    }
    assert parse("H100").capabilities()["fp8"] and not parse("L40S").capabilities()["fp8"]
    assert parse("cpu").capabilities()["compute_capability"] is None and not parse("cpu").capabilities()["bf16"]
    assert all(d.memory for d in DEVICES if d.name != "cpu")


def test_the_policy_declares_a_device(tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.lora-compiler]\ngpu = "4xL4"\n')
    assert Policy.discover(tmp_path).gpu == parse("4xL4")
    (tmp_path / "pyproject.toml").write_text('[tool.lora-compiler]\ngpu = "A100"\n')
    with pytest.raises(PolicyError, match="'gpu'"):
        Policy.discover(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.lora-compiler]\ngpu = 8\n")
    with pytest.raises(PolicyError, match="'gpu'"):
        Policy.discover(tmp_path)


def test_lint_without_a_device_lists_the_skipped_checks_once(write_yaml, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["lint", "--no-model", str(write_yaml(SAGE))])
    assert res.exit_code == 0 and res.output.count("info [axolotl-gpu-undeclared]") == 1
    assert "axolotl-sage-compute-capability (T4)" in res.output


def test_lint_judges_the_declared_device(write_yaml, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = str(write_yaml(SAGE))
    res = CliRunner().invoke(cli, ["lint", "--no-model", "--gpu", "t4", path])
    assert res.exit_code == 1 and "error [axolotl-sage-compute-capability]" in res.output and "on T4:" in res.output
    assert "axolotl-gpu-undeclared" not in res.output
    assert CliRunner().invoke(cli, ["lint", "--no-model", "--gpu", "A10G", path]).exit_code == 0
    (tmp_path / "pyproject.toml").write_text('[tool.lora-compiler]\ngpu = "T4"\n')
    assert "on T4:" in CliRunner().invoke(cli, ["lint", "--no-model", path]).output
    assert CliRunner().invoke(cli, ["lint", "--no-model", "--gpu", "H100", path]).exit_code == 0  # --gpu wins


@pytest.mark.parametrize("command", ["lint", "compile"])
def test_an_unknown_gpu_is_a_usage_error(write_yaml, command: str) -> None:
    res = CliRunner().invoke(cli, [command, "--gpu", "B300", str(write_yaml(SAGE))])
    assert res.exit_code == 2 and "unknown device 'B300'" in res.output
