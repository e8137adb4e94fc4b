"""The compile command: outputs, exit codes, positions, and what is (not) written."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
from click.testing import CliRunner
from conftest import DATASETS_YAML, REPO

from lora_compiler.cli import cli

EXAMPLE = REPO / "fixtures" / "configs" / "llama-3.2-1b-lora.yml"
SCHEMA = json.loads((REPO / "schemas" / "targets.schema.json").read_text())
GOOD = "base_model: {base}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_compile_bundled_example_writes_its_set_and_manifest_valid_against_schema(tmp_path):
    from lora_compiler.io.files import read_set

    out = tmp_path / "out"
    res = run("compile", str(EXAMPLE), "-o", str(out), "--offline")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "adapter_config.json",
        "lora-compiler.json",
        "report.html",
        "report.md",
        "targets.json",
    ]
    assert sorted(read_set(out)) == ["adapter_config.json", "report.html", "report.md", "targets.json"]
    targets = json.loads((out / "targets.json").read_text())
    jsonschema.validate(targets, SCHEMA)
    assert targets["model"]["config_source"] == "bundled"
    assert targets["model"]["num_parameters"] == 1_235_814_400  # Llama-3.2-1B, tied embeddings counted once
    assert targets["trainable_params"] == 11_272_192  # 16 layers x r16 x sum(in+out) of 7 projections
    assert "trainable params: 11,272,192" in res.output
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == "meta-llama/Llama-3.2-1B"
    assert adapter["target_modules"] == sorted(adapter["target_modules"])
    assert "| `q_proj` | 16 | 2048x2048 | r=16/a=32 | 1,048,576 |" in (out / "report.md").read_text()


def test_adapter_config_loads_with_peft(tmp_path):
    from peft import LoraConfig, PeftConfig

    run("compile", str(EXAMPLE), "-o", str(tmp_path), "--offline")
    loaded = PeftConfig.from_pretrained(str(tmp_path))
    assert isinstance(loaded, LoraConfig) and loaded.r == 16 and loaded.lora_alpha == 32
    assert loaded.target_modules == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_two_runs_are_byte_identical(tmp_path):
    for name in ("a", "b"):
        assert run("compile", str(EXAMPLE), "-o", str(tmp_path / name), "--offline", "--no-cache").exit_code == 0
    for f in ("adapter_config.json", "targets.json", "report.md", "report.html"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_schema_error_exits_1_with_line_and_writes_nothing(model_dir, write_yaml, tmp_path):
    cfg = write_yaml(GOOD.format(base=model_dir("llama")) + "lora_dropout: 2\n" + DATASETS_YAML)
    res = run("compile", str(cfg), "-o", str(tmp_path / "out"))
    assert res.exit_code == 1
    assert f"{cfg}:6:15: error [schema] lora_dropout" in res.output
    assert not (tmp_path / "out").exists()


def test_yaml_syntax_error_exits_2(write_yaml):
    res = run("compile", str(write_yaml("adapter: [lora\n")))
    assert res.exit_code == 2 and "[yaml-syntax]" in res.output


def test_unknown_adapter_exits_2_at_the_value(model_dir, write_yaml):
    cfg = write_yaml(f"base_model: {model_dir('llama')}\nadapter: ia3\n")
    res = run("compile", str(cfg))
    assert res.exit_code == 2 and f"{cfg}:2:10: error [adapter-unsupported]" in res.output


def test_unresolvable_model_names_every_place_tried(write_yaml):
    res = run(
        "compile",
        str(write_yaml("base_model: nobody/no-such-model\nadapter: lora\nlora_target_linear: true\n")),
        "--offline",
    )
    assert res.exit_code == 2
    for place in ("local directory", "hub cache", "bundled fixtures", "the Hub (skipped: --offline)", "drop --offline"):
        assert place in res.output


def test_target_that_matches_no_module_is_an_error_at_the_list_item(model_dir, write_yaml, tmp_path):
    cfg = write_yaml(
        f"base_model: {model_dir('llama')}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"
        "lora_target_modules:\n  - qkv_proj\n" + DATASETS_YAML
    )
    res = run("compile", str(cfg), "-o", str(tmp_path / "out"))
    assert res.exit_code == 1
    assert f"{cfg}:6:5: error [target-not-found] target 'qkv_proj' matches no module" in res.output
    assert "q_proj" in res.output  # the hint lists the model's real suffixes
    assert not (tmp_path / "out").exists()


def test_peft_config_refusal_points_at_the_key_peft_names(model_dir, write_yaml):
    cfg = write_yaml(
        f"base_model: {model_dir('llama')}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"
        "lora_target_modules: '.*q_proj'\npeft_layers_to_transform: [0]\n" + DATASETS_YAML
    )
    res = run("compile", str(cfg))
    assert res.exit_code == 1
    assert f"{cfg}:6:1: error [peft-config] PEFT refuses this LoraConfig" in res.output


def test_directory_with_adapter_weights_needs_force(tmp_path):
    out = tmp_path / "trained"
    out.mkdir()
    (out / "adapter_model.safetensors").write_bytes(b"weights")
    (out / "adapter_config.json").write_text("{}")
    res = run("compile", str(EXAMPLE), "-o", str(out), "--offline")
    assert res.exit_code == 2 and "[output-protected]" in res.output
    assert (out / "adapter_config.json").read_text() == "{}"
    assert run("compile", str(EXAMPLE), "-o", str(out), "--offline", "--force").exit_code == 0
    assert (out / "adapter_model.safetensors").read_bytes() == b"weights"


def test_remote_code_in_yaml_alone_is_not_run(model_dir, write_yaml):
    d = model_dir("llama")
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(
        json.dumps({**cfg, "model_type": "my_custom", "auto_map": {"AutoConfig": "evil.MyConfig"}})
    )
    (d / "evil.py").write_text(f"open({str(d / 'MARKER')!r}, 'w').write('ran')\n")
    res = run(
        "compile",
        str(write_yaml(f"base_model: {d}\nadapter: lora\ntrust_remote_code: true\nlora_target_linear: true\n")),
    )
    assert res.exit_code == 2 and "[remote-code-required]" in res.output and "--trust-remote-code" in res.output
    assert not (d / "MARKER").exists()


def test_json_format_prints_report_and_findings(tmp_path):
    res = run("compile", str(EXAMPLE), "--offline", "--format", "json")
    data = json.loads(res.output)
    assert data["exit_code"] == 0 and data["model"]["architecture"] == "LlamaForCausalLM"


def test_real_subprocess_module_entry_point_and_exit_codes(tmp_path, write_yaml):
    ok = subprocess.run(
        [sys.executable, "-m", "lora_compiler", "compile", str(EXAMPLE), "-o", str(tmp_path / "o"), "--offline"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "o" / "targets.json").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "lora_compiler", "compile", str(write_yaml("lora_r: [\n"))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr + bad.stdout


def test_help_does_not_import_torch():
    code = (
        "import sys; from lora_compiler.cli import cli\n"
        "try:\n    cli(['compile', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Compile CONFIG" in proc.stdout


def test_trust_remote_code_is_info_without_auto_map_and_a_warning_naming_both_classes_with_one(model_dir, write_yaml):
    plain = model_dir("llama")
    keys = (
        "adapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\ntrust_remote_code: true\n" + DATASETS_YAML
    )
    res = run("lint", str(write_yaml(f"base_model: {plain}\n{keys}", "plain.yml")))
    assert res.exit_code == 0 and "info [trust-remote-code]" in res.output and "no auto_map" in res.output
    config = json.loads((plain / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "configuration_x.XConfig", "AutoModelForCausalLM": "modeling_x.XForCausalLM"}
    (plain / "config.json").write_text(json.dumps(config))
    res = run("lint", str(write_yaml(f"base_model: {plain}\n{keys}", "mapped.yml")))
    assert "warning [trust-remote-code]" in res.output
    assert "modeling_x.XForCausalLM" in res.output and "LlamaForCausalLM" in res.output


def test_a_model_needing_an_optional_package_names_the_package_and_the_command(model_dir, write_yaml, monkeypatch):
    """gemma3n's vision tower needs Pillow (then timm): the finding says so instead of 'needs an upgrade'."""
    import lora_compiler.pipeline.skeleton as skeleton

    class NeedsPillow:
        __name__ = "AutoModelForCausalLM"

        @staticmethod
        def from_config(*args, **kwargs):
            raise ImportError(
                "TimmWrapperModel requires the PIL library but it was not found in your environment. "
                "You can install it with pip:\n`pip install pillow`. Please note that you may need to "
                "restart your runtime after installation."
            )

    monkeypatch.setattr(skeleton, "choose_loader", lambda spec, config: (NeedsPillow, "AutoModelForCausalLM", False))
    cfg = write_yaml(
        f"base_model: {model_dir('llama')}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
    )
    res = run("lint", str(cfg))
    assert res.exit_code == 2
    assert "without the optional package 'pillow' (TimmWrapperModel requires the PIL library)" in res.output
    assert "hint: pip install pillow" in res.output and "upgrade" not in res.output
