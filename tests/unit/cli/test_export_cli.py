"""`lora-compiler export` and `compile --export`: what is printed, written, refused, and why."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner
from conftest import DATASETS_YAML, REPO

from lora_compiler.cli import cli

EXAMPLE = REPO / "fixtures" / "configs" / "llama-3.2-1b-lora.yml"
RANKS = REPO / "tests" / "trainer_facts" / "configs" / "llama32-rank-pattern.yml"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_export_prints_the_trainers_yaml_and_two_runs_are_identical():
    first, second = (
        run("export", str(EXAMPLE), "--to", "llamafactory", "--offline"),
        run("export", str(EXAMPLE), "--to", "llamafactory", "--offline"),
    )
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    fields = yaml.safe_load(first.stdout)
    assert fields["lora_target"] == "all" and fields["lora_alpha"] == 32  # explicit: LLaMA-Factory's default is 2r
    assert fields["lora_rank"] == 16 and fields["lora_dropout"] == 0.05


def test_output_dir_gets_the_file_and_a_different_file_there_needs_force(tmp_path):
    out = tmp_path / "out"
    assert run("export", str(EXAMPLE), "--to", "trl", "-o", str(out), "--offline").exit_code == 0
    written = (out / "trl.yaml").read_text()
    assert yaml.safe_load(written)["lora_r"] == 16
    assert run("export", str(EXAMPLE), "--to", "trl", "-o", str(out), "--offline").exit_code == 0  # same bytes
    (out / "trl.yaml").write_text("mine: true\n")
    refused = run("export", str(EXAMPLE), "--to", "trl", "-o", str(out), "--offline")
    assert refused.exit_code == 2 and "output-protected" in refused.stderr
    assert (out / "trl.yaml").read_text() == "mine: true\n"
    assert run("export", str(EXAMPLE), "--to", "trl", "-o", str(out), "--offline", "--force").exit_code == 0
    assert (out / "trl.yaml").read_text() == written


def test_a_choice_the_trainer_cannot_carry_exits_1_at_its_yaml_line_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    res = run("export", str(RANKS), "--to", "llamafactory", "-o", str(out), "--offline")
    assert res.exit_code == 1
    line = next(i for i, text in enumerate(RANKS.read_text().splitlines(), 1) if text.startswith("lora_rank_pattern"))
    assert f"llama32-rank-pattern.yml:{line}:" in res.stderr and "export-unexpressible" in res.stderr
    assert "rank_pattern" in res.stderr and not out.exists() and res.stdout == ""


def test_the_same_yaml_exports_for_unsloth_with_its_rank_pattern():
    res = run("export", str(RANKS), "--to", "unsloth", "--offline")
    assert res.exit_code == 0, res.output
    assert "rank_pattern={'v_proj': 32}" in res.stdout
    compile(res.stdout, "unsloth.py", "exec")


def test_peft_python_builds_the_compiled_lora_config():
    pytest.importorskip("peft")
    res = run("export", str(RANKS), "--to", "peft", "--offline")
    scope: dict = {}
    exec(res.stdout, scope)
    built = scope["lora_config"]
    assert built.rank_pattern == {"v_proj": 32} and built.r == 8 and built.lora_alpha == 16
    assert sorted(built.target_modules) == ["q_proj", "v_proj"]


def test_json_format_and_a_format_the_trainer_has_no_use_for():
    res = run("export", str(EXAMPLE), "--to", "torchtune", "--format", "json", "--offline")
    assert res.exit_code == 0, res.output
    model = json.loads(res.stdout)["model"]
    assert model["_component_"] == "torchtune.models.llama3_2.lora_llama3_2_1b"
    assert model["lora_attn_modules"] == ["q_proj", "k_proj", "v_proj", "output_proj"] and model["apply_lora_to_mlp"]
    bad = run("export", str(EXAMPLE), "--to", "unsloth", "--format", "yaml", "--offline")
    assert bad.exit_code == 2 and "python" in bad.output


def test_unusable_input_exits_2(write_yaml):
    res = run("export", str(write_yaml("adapter: [")), "--to", "trl", "--offline")
    assert res.exit_code == 2 and "yaml-syntax" in res.stderr


def test_compile_export_adds_the_file_to_the_output_set(tmp_path):
    from lora_compiler.io.files import read_set

    out = tmp_path / "out"
    res = run("compile", str(EXAMPLE), "-o", str(out), "--offline", "--export", "ms-swift")
    assert res.exit_code == 0, res.output
    assert "ms-swift.yaml" in read_set(out)
    assert yaml.safe_load((out / "ms-swift.yaml").read_text())["target_modules"] == ["all-linear"]
    assert run("compile", str(EXAMPLE), "--offline", "--export", "trl").exit_code == 2  # where would it go?


def test_compile_export_that_is_refused_writes_no_output_at_all(tmp_path):
    out = tmp_path / "out"
    res = run("compile", str(RANKS), "-o", str(out), "--offline", "--export", "torchtune")
    assert res.exit_code == 1 and "export-unexpressible" in res.stderr
    assert not out.exists()


def test_an_exporter_that_would_train_other_layers_is_caught_before_writing(monkeypatch):
    """The judge is not a formality: a draft that loses a module is refused with export-not-faithful."""
    from lora_compiler.export import TRAINERS, trl

    real = trl.TRAINER.draft

    def lossy(subject):
        draft = real(subject)
        draft.peft = {**draft.peft, "target_modules": ["q_proj"]}
        return draft

    monkeypatch.setitem(TRAINERS, "trl", trl.TRAINER.__class__(**{**vars(trl.TRAINER), "draft": lossy}))
    res = run("export", str(EXAMPLE), "--to", "trl", "--offline")
    assert res.exit_code == 1 and "export-not-faithful" in res.stderr and res.stdout == ""
    assert "model.layers.0.mlp.down_proj: wrapped by the compile, not by the export" in res.stderr


def test_export_help_does_not_import_torch():
    code = (
        "import sys; from lora_compiler.cli import cli\n"
        "try:\n    cli(['export', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules and 'peft' not in sys.modules, 'heavy import'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--to" in proc.stdout


def test_trainer_conventions_on_llama():
    from lora_compiler.engine.options import Options
    from lora_compiler.features.diff import diff_conventions

    d = diff_conventions(
        EXAMPLE, ["axolotl", "torchtune", "ms-swift-all-linear", "unsloth-default"], Options(offline=True)
    )
    counts = [len(side.report.modules) for side in d.sides]
    assert counts == [112, 96, 112, 112]  # torchtune's recipes leave k_proj out


def test_trainer_conventions_that_are_not_restated_say_so_on_a_multimodal_model():
    from lora_compiler.engine.options import Options
    from lora_compiler.features.diff import diff_conventions

    config = REPO / "fixtures" / "configs" / "gemma-3-4b-multimodal.yml"
    d = diff_conventions(config, ["ms-swift-all-linear", "unsloth-default", "torchtune"], Options(offline=True))
    for side in d.sides:
        assert "convention-empty" in {f.rule for f in side.findings}


def test_every_export_example_in_the_docs_runs_as_it_says(tmp_path, monkeypatch):
    import re
    import shlex

    monkeypatch.chdir(REPO)
    pattern = re.compile(r"^lora-compiler (export fixtures/\S+ .*)$", re.M)
    lines = pattern.findall((REPO / "docs" / "export.md").read_text())
    assert len(lines) >= 7  # one per trainer, and a refused one
    lines += pattern.findall((REPO / "README.md").read_text())
    for line in lines:
        command, _, comment = line.partition("#")
        args = [str(tmp_path / "out") if a == "out/" else a for a in shlex.split(command)]
        res = run(*args)
        assert res.exit_code == (1 if "refused" in comment else 0), (line, res.output)


def test_axolotls_post_load_freezing_refuses_a_trainer_export_and_warns_on_peft(write_yaml):
    config = write_yaml(
        "base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"
        "lora_target_modules: [q_proj, v_proj]\nunfrozen_parameters:\n"
        "  - base_model.model.model.layers.0.+\n" + DATASETS_YAML
    )
    trl = run("export", str(config), "--to", "trl", "--offline")
    assert trl.exit_code == 1 and "export-unexpressible" in trl.stderr and "post-load freezing" in trl.stderr
    peft = run("export", str(config), "--to", "peft", "--offline")
    assert peft.exit_code == 0 and "export-lossy" in peft.stderr
