"""`lint --with-axolotl`: the child-process protocol against a fake axolotl package built in a temp dir, where
Axolotl's errors land in the YAML, how its verdict is compared with the rules', and the CLI's usage errors.

The default suite needs no Axolotl. One test runs the real one when LORA_COMPILER_TEST_AXOLOTL names the python
of a venv that has it (e.g. /work/venvs/axolotl-0.21.0/bin/python).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from lora_compiler.api import lint_files
from lora_compiler.cli import cli
from lora_compiler.devices import parse
from lora_compiler.engine.options import Options
from lora_compiler.engine.policy import Policy
from lora_compiler.features import with_axolotl
from lora_compiler.features.with_axolotl import Unavailable, compare, cross_check, judge, place
from lora_compiler.pipeline.document import load_file
from lora_compiler.results.findings import Severity

BASE = """\
base_model: meta-llama/Llama-3.2-1B
adapter: lora
lora_r: 8
lora_alpha: 16
lora_target_linear: true
datasets:
  - path: mhenrichsen/alpaca_2k_test
    type: alpaca
micro_batch_size: 1
num_epochs: 1
learning_rate: 0.0002
sequence_len: 512
output_dir: ./out
"""

FAKE = {
    "axolotl/__init__.py": "",
    "axolotl/utils/__init__.py": "",
    "axolotl/utils/dict.py": """
        class DictDefault(dict):
            def __getattr__(self, name):
                return self.get(name)

            def __setattr__(self, name, value):
                self[name] = value
    """,
    "axolotl/integrations/__init__.py": "",
    "axolotl/integrations/base.py": """
        class PluginManager:
            _instance = None
    """,
    "axolotl/utils/config/__init__.py": """
        import os

        class ValidationError(ValueError):
            def __init__(self, errors):
                super().__init__(f"{len(errors)} validation error for AxolotlInputConfig")
                self._errors = errors

            def errors(self):
                return self._errors

        def prepare_plugins(cfg):
            for name in cfg.get("plugins") or []:
                if not name.startswith("axolotl.integrations."):
                    raise RuntimeError(f"{name} reached prepare_plugins")

        def validate_config(cfg, capabilities=None, env_capabilities=None):
            assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["CUDA_VISIBLE_DEVICES"] == ""
            assert capabilities["bf16"] and env_capabilities["torch_version"]
            if cfg.get("fake_gpu"):
                n, sm, world = capabilities["n_gpu"], capabilities["compute_capability"], os.environ.get("WORLD_SIZE")
                raise ValueError(f"fake_gpu saw {n} x {sm}, WORLD_SIZE {world}")
            if cfg.get("fake_field"):
                raise ValidationError(
                    [{"loc": ("fake_field",), "msg": "Value error, fake_field must be false", "type": "value_error"}]
                )
            if cfg.get("fake_nested"):
                raise ValidationError([{"loc": ("size",), "msg": "Value error, size must divide 4", "type": "x"}])
            if cfg.get("fake_message"):
                raise ValueError("learning_rate cannot be used with fake_message")
            return cfg

        def normalize_config(cfg):
            if cfg.get("fake_offline"):
                raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")
            if cfg.get("fake_normalize"):
                raise ValueError("fake_normalize is refused by normalize_config")
    """,
}


@pytest.fixture()
def fake_axolotl(tmp_path: Path) -> str:
    root = tmp_path / "fake"
    for rel, text in FAKE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return str(root)


def _yaml(tmp_path: Path, name: str, extra: str = "") -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(BASE + extra)
    return path


def _cross(paths: list[Path], fake: str, policy: Policy = Policy(), gpu: str = "H100") -> list:
    options = Options(offline=True, no_model=True, axolotl="0.21.0", policy=policy, gpu=parse(gpu))
    results = lint_files(paths, options)
    cross_check(results, options, extra_paths=[fake])
    return results


def test_the_child_returns_a_verdict_per_config_offline_with_one_gpu(tmp_path: Path, fake_axolotl: str) -> None:
    ok, field = _yaml(tmp_path, "ok"), _yaml(tmp_path, "field", "fake_field: true\n")
    version, verdicts = judge([str(ok), str(field)], extra_paths=[fake_axolotl])
    assert version is None  # the fake has no distribution metadata
    assert verdicts[str(ok)] == {"verdict": "accepted", "stage": "normalize_config", "notes": [], "dropped": []}
    refused = verdicts[str(field)]
    assert refused["verdict"] == "refused" and refused["stage"] == "validate_config"
    assert refused["errors"] == [{"loc": ["fake_field"], "msg": "Value error, fake_field must be false"}]


def test_an_error_lands_on_the_line_of_the_key_it_names(tmp_path: Path, fake_axolotl: str) -> None:
    field = _yaml(tmp_path, "field", "fake_field: true\n")
    message = _yaml(tmp_path, "message", "fake_message: true\n")
    nested = _yaml(tmp_path, "nested", "fake_nested: true\nblock:\n  size: 3\n")
    found = {
        Path(str(r.file)).stem: [f for f in r.findings if f.rule == "axolotl-disagrees"]
        for r in _cross([field, message, nested], fake_axolotl)
    }
    assert [(f.severity, f.line, f.key) for f in found["field"]] == [(Severity.ERROR, 14, "fake_field")]
    assert found["field"][0].message.startswith("Axolotl on H100 refuses this config at start-up (validate_config)")
    assert "fake_field must be false; lint's rules accept it" in found["field"][0].message
    assert "validate_config" in found["field"][0].message and "report" in (found["field"][0].hint or "")
    assert [(f.line, f.key) for f in found["message"]] == [(11, "learning_rate")]  # first key the message names
    assert [(f.line, f.key) for f in found["nested"]] == [(16, "block.size")]  # a loc inside a nested block


def test_lint_refusing_what_axolotl_accepts_is_a_warning_at_lints_error(tmp_path: Path, fake_axolotl: str) -> None:
    path = _yaml(tmp_path, "fused", "flash_attn_fuse_mlp: true\n")
    (result,) = _cross([path], fake_axolotl)
    mine = [f for f in result.findings if f.rule == "axolotl-disagrees"]
    lint = next(f for f in result.findings if f.rule == "axolotl-fused-mlp-lora")
    assert [(f.severity, f.line) for f in mine] == [(Severity.WARNING, lint.line)]
    assert "accepts this config at start-up (validate_config and normalize_config)" in mine[0].message
    assert "axolotl-fused-mlp-lora" in mine[0].message


def test_agreement_is_silent_and_a_refusal_for_another_key_is_info(tmp_path: Path, fake_axolotl: str) -> None:
    both = _yaml(tmp_path, "both", "flash_attn_fuse_mlp: true\nfake_field: true\n")
    (result,) = _cross([both], fake_axolotl)
    (info,) = [f for f in result.findings if f.rule == "axolotl-disagrees"]
    assert info.severity is Severity.INFO and info.key == "fake_field"
    assert "lint refuses it for other keys (axolotl-fused-mlp-lora)" in info.message
    clean = _yaml(tmp_path, "clean")
    (result,) = _cross([clean], fake_axolotl)
    assert [f.rule for f in result.findings if f.rule.startswith("axolotl-")] == []


def test_a_silenced_rule_leaves_axolotls_refusal_as_the_disagreement(tmp_path: Path, fake_axolotl: str) -> None:
    path = _yaml(tmp_path, "field", "fake_field: true\n")
    (result,) = _cross([path], fake_axolotl, Policy(levels={"axolotl-disagrees": "warning"}))
    assert [f.severity for f in result.findings if f.rule == "axolotl-disagrees"] == [Severity.WARNING]


def test_the_declared_device_is_what_validate_config_sees(tmp_path: Path, fake_axolotl: str) -> None:
    path = _yaml(tmp_path, "gpu", "fake_gpu: true\n")
    (one,) = _cross([path], fake_axolotl)
    (eight,) = _cross([path], fake_axolotl, gpu="8xA100-80GB")
    said = [next(f.message for f in r.findings if f.rule == "axolotl-disagrees") for r in (one, eight)]
    assert "fake_gpu saw 1 x sm_90, WORLD_SIZE None" in said[0] and said[0].startswith("Axolotl on H100 ")
    assert "fake_gpu saw 8 x sm_80, WORLD_SIZE 8" in said[1] and said[1].startswith("Axolotl on 8xA100-80GB ")


def test_third_party_plugins_are_dropped_and_said_so(tmp_path: Path, fake_axolotl: str) -> None:
    path = _yaml(tmp_path, "plugins", "plugins:\n  - my_pkg.MyPlugin\n  - axolotl.integrations.liger.LigerPlugin\n")
    (result,) = _cross([path], fake_axolotl)
    notes = [f.message for f in result.findings if f.rule == "axolotl-not-checked"]
    assert notes == [
        "Axolotl on H100: plugin my_pkg.MyPlugin was not loaded: only Axolotl's own plugins (axolotl.integrations.*) are"
    ]
    assert not [f for f in result.findings if f.rule == "axolotl-disagrees"]


def test_a_refusal_by_a_dropped_plugins_rules_is_not_compared(tmp_path: Path, fake_axolotl: str) -> None:
    path = _yaml(tmp_path, "short", "plugins:\n  - liger.LigerPlugin\nliger_use_token_scaling: true\n")
    (result,) = _cross([path], fake_axolotl)
    assert "axolotl-liger-token-scaling" in [f.rule for f in result.findings]
    assert not [f for f in result.findings if f.rule == "axolotl-disagrees"]
    assert any(
        "without the plugins it did not load (liger.LigerPlugin): lint's refusal is not compared" in f.message
        for f in result.findings
        if f.rule == "axolotl-not-checked"
    )


def test_normalize_config_offline_or_with_remote_code_is_not_a_verdict(tmp_path: Path, fake_axolotl: str) -> None:
    offline = _yaml(tmp_path, "offline", "fake_offline: true\n")
    remote = _yaml(tmp_path, "remote", "trust_remote_code: true\nfake_normalize: true\n")
    refused = _yaml(tmp_path, "refused", "fake_normalize: true\n")
    by = {Path(str(r.file)).stem: r.findings for r in _cross([offline, remote, refused], fake_axolotl)}
    assert [f.rule for f in by["offline"] if f.rule.startswith("axolotl-n")] == ["axolotl-not-checked"]
    assert "normalize_config could not run offline (the model's config.json?): OSError" in next(
        f.message for f in by["offline"] if f.rule == "axolotl-not-checked"
    )
    assert any("normalize_config was not run" in f.message for f in by["remote"] if f.rule == "axolotl-not-checked")
    (disagrees,) = [f for f in by["refused"] if f.rule == "axolotl-disagrees"]
    assert (
        "(normalize_config): ValueError: fake_normalize is refused" in disagrees.message
        and disagrees.key == "fake_normalize"
    )


def test_the_child_never_imports_the_working_directorys_modules(
    tmp_path: Path, fake_axolotl: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    trap = tmp_path / "cwd"
    trap.mkdir()
    (trap / "yaml.py").write_text("raise SystemExit('a yaml.py from the working directory was imported')\n")
    monkeypatch.chdir(trap)
    path = _yaml(tmp_path, "ok")
    _, verdicts = judge([str(path)], extra_paths=[fake_axolotl])
    assert verdicts[str(path)]["verdict"] == "accepted"


def test_no_axolotl_to_import_is_unavailable(tmp_path: Path) -> None:
    path = _yaml(tmp_path, "ok")
    with pytest.raises(Unavailable, match="cannot import Axolotl"):
        judge([str(path)], extra_paths=[str(tmp_path / "nothing")])


def test_place_prefers_loc_then_the_first_key_the_message_names(tmp_path: Path) -> None:
    doc = load_file(_yaml(tmp_path, "doc", "fsdp_config:\n  state_dict_type: SHARDED_STATE_DICT\n"))
    assert place(doc, ["datasets", 0, "type"], "") == ("datasets", 0, "type")
    assert place(doc, ["datasets", 3, "type"], "") == ("datasets",)
    assert place(doc, [], "needs fsdp_config.state_dict_type: FULL_STATE_DICT and lora_r") == (
        "fsdp_config",
        "state_dict_type",
    )
    assert place(doc, [], "nothing this YAML has") is None
    assert compare([], {"verdict": "not-run", "message": "the YAML is not a mapping"}, doc, "0.21.0")[0].rule == (
        "axolotl-not-checked"
    )


def test_the_cli_without_an_installed_axolotl_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(with_axolotl, "installed", lambda: None)
    path = _yaml(tmp_path, "ok")
    result = CliRunner().invoke(cli, ["lint", "--no-model", "--with-axolotl", str(path)])
    assert result.exit_code == 2 and "none is installed in this Python" in result.output
    assert "Traceback" not in result.output


def test_the_cli_refuses_another_release_than_the_installed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(with_axolotl, "installed", lambda: "0.21.0")
    path = _yaml(tmp_path, "ok")
    result = CliRunner().invoke(cli, ["lint", "--no-model", "--with-axolotl", "--axolotl", "0.19", str(path)])
    assert result.exit_code == 2 and "--axolotl 0.19.0 asks for another" in result.output


REAL = os.environ.get("LORA_COMPILER_TEST_AXOLOTL")


@pytest.mark.skipif(not REAL, reason="set LORA_COMPILER_TEST_AXOLOTL to the python of a venv with Axolotl")
def test_the_real_axolotl_agrees_on_a_plugin_refusal_and_places_it(tmp_path: Path) -> None:
    assert REAL is not None
    liger = "plugins:\n  - axolotl.integrations.liger.LigerPlugin\nliger_use_token_scaling: true\n"
    refused, clean = _yaml(tmp_path, "liger", liger), _yaml(tmp_path, "clean")
    version, verdicts = judge([str(refused), str(clean)], python=REAL)
    assert version and verdicts[str(clean)]["verdict"] == "accepted"
    assert verdicts[str(refused)]["verdict"] == "refused"
    options = Options(offline=True, no_model=True, axolotl=version, policy=Policy(), gpu=parse("H100"))
    results = lint_files([refused, clean], options)
    cross_check(results, options, python=REAL)
    assert [f.rule for r in results for f in r.findings if f.rule == "axolotl-disagrees"] == []
    # the rule silenced: Axolotl's refusal becomes the disagreement, at the key its message names
    silenced = Options(
        offline=True,
        no_model=True,
        axolotl=version,
        policy=Policy(levels={"axolotl-liger-token-scaling": "off"}),
        gpu=parse("H100"),
    )
    results = lint_files([refused], silenced)
    cross_check(results, silenced, python=REAL)
    (found,) = [f for f in results[0].findings if f.rule == "axolotl-disagrees"]
    assert found.severity is Severity.ERROR and found.key == "liger_use_token_scaling" and found.line == 16
