"""lint: formats as exact strings, exit codes, --strict, --no-model without torch, policy files, schema."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner
from conftest import DATASETS_YAML, REPO

from lora_compiler.cli import cli
from lora_compiler.engine.compiler import CompileResult
from lora_compiler.render.lint_formats import render_github, render_sarif, render_text
from lora_compiler.results.findings import Finding, Severity

TYPO = (
    "base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_targt_modules: [q_proj]\n"
    "lora_target_linear: true\n" + DATASETS_YAML
)


def _result(*findings: Finding) -> CompileResult:
    return CompileResult(file="cfg/a.yml", findings=list(findings))


ERR = Finding(
    "qlora-quantization",
    Severity.ERROR,
    "qlora requires load_in_4bit: true",
    "cfg/a.yml",
    3,
    1,
    "add load_in_4bit: true, or use adapter: lora",
)
WARN = Finding("unknown-key", Severity.WARNING, "unknown key 'x,y': 100% ignored\nsecond line", "cfg/a.yml", 7, 1)


def test_text_format_exact():
    assert render_text([_result(ERR, WARN)]) == (
        "cfg/a.yml:3:1: error [qlora-quantization] qlora requires load_in_4bit: true\n"
        "    hint: add load_in_4bit: true, or use adapter: lora\n"
        "cfg/a.yml:7:1: warning [unknown-key] unknown key 'x,y': 100% ignored\nsecond line\n"
        "1 file checked: 1 errors, 1 warnings, 0 info\n"
    )


def test_github_format_exact_with_escaping():
    assert render_github([_result(ERR, WARN)]) == (
        "::error file=cfg/a.yml,line=3,col=1,title=qlora-quantization::qlora requires load_in_4bit: true "
        "(hint: add load_in_4bit: true, or use adapter: lora)\n"
        "::warning file=cfg/a.yml,line=7,col=1,title=unknown-key::unknown key 'x,y': 100%25 ignored%0Asecond line\n"
    )


def test_sarif_lists_each_rule_once_and_results_with_locations():
    from lora_compiler.rules import by_id

    sarif = json.loads(render_sarif([_result(ERR, WARN)]))
    assert sarif["version"] == "2.1.0"
    driver = sarif["runs"][0]["tool"]["driver"]
    ids = [r["id"] for r in driver["rules"]]
    assert ids == sorted(by_id()) and len(ids) == len(set(ids))
    first = sarif["runs"][0]["results"][0]
    assert first == {
        "ruleId": "qlora-quantization",
        "level": "error",
        "message": {"text": "qlora requires load_in_4bit: true (hint: add load_in_4bit: true, or use adapter: lora)"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": "cfg/a.yml"},
                    "region": {"startLine": 3, "startColumn": 1},
                }
            }
        ],
        "ruleIndex": ids.index("qlora-quantization"),
    }
    assert driver["rules"][first["ruleIndex"]]["help"]["text"] == by_id()["qlora-quantization"].doc


def test_lint_exit_codes_and_strict(write_yaml):
    path = str(write_yaml(TYPO))
    plain = CliRunner().invoke(cli, ["lint", "--offline", path])
    assert plain.exit_code == 0 and "5:1: warning [unknown-key]" in plain.output
    assert "did you mean 'lora_target_modules'?" in plain.output
    assert CliRunner().invoke(cli, ["lint", "--offline", "--strict", path]).exit_code == 1
    assert CliRunner().invoke(cli, ["lint", "--offline", str(write_yaml("adapter: [", "bad.yml"))]).exit_code == 2


def test_lint_json_and_sarif_to_file(write_yaml, tmp_path):
    path = str(write_yaml(TYPO))
    res = CliRunner().invoke(cli, ["lint", "--offline", "--format", "json", path])
    data = json.loads(res.output)
    assert data["files"][0]["summary"] == {"error": 0, "warning": 1, "info": 0}
    _validate_lint_json(data)
    out = tmp_path / "lint.sarif"
    assert CliRunner().invoke(cli, ["lint", "--offline", "--format", "sarif", "-o", str(out), path]).exit_code == 0
    assert json.loads(out.read_text())["runs"][0]["results"][0]["ruleId"] == "unknown-key"


def test_project_levels_from_pyproject(write_yaml, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.lora-compiler.rules]\nunknown-key = "error"\n')
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["lint", "--offline", str(write_yaml(TYPO))])
    assert res.exit_code == 1 and "error [unknown-key]" in res.output
    (tmp_path / "pyproject.toml").write_text('[tool.lora-compiler.rules]\nunknown-key = "off"\n')
    assert "unknown-key" not in CliRunner().invoke(cli, ["lint", "--offline", str(write_yaml(TYPO))]).output


def test_bad_policy_file_is_a_usage_error(write_yaml, tmp_path):
    policy = tmp_path / "rules.toml"
    policy.write_text('[rules]\nno-such-rule = "off"\n')
    res = CliRunner().invoke(cli, ["lint", "--config", str(policy), str(write_yaml(TYPO))])
    assert res.exit_code == 2 and "unknown rule 'no-such-rule'" in res.output


def test_unusable_input_cannot_be_silenced(write_yaml):
    res = CliRunner().invoke(cli, ["lint", str(write_yaml("# lora-compiler: disable-file=all\nadapter: [\n"))])
    assert res.exit_code == 2


def test_no_model_lint_and_schema_never_import_torch(write_yaml):
    path = write_yaml(TYPO.replace("meta-llama/Llama-3.2-1B", "nobody/unknown"))
    code = (
        "import sys\nfrom lora_compiler.cli import cli\n"
        f"for args in (['lint', '--no-model', {str(path)!r}], ['schema'], ['--help']):\n"
        "    try:\n        cli(args)\n    except SystemExit:\n        pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "warning [unknown-key]" in proc.stdout


def test_committed_schema_is_current():
    res = CliRunner().invoke(cli, ["schema"])
    assert res.output == (REPO / "schemas" / "axolotl-lora.schema.json").read_text(), (
        "regenerate with: lora-compiler schema > schemas/axolotl-lora.schema.json"
    )


def test_schema_validates_a_real_axolotl_config_and_rejects_bad_types():
    import jsonschema
    import yaml

    schema = json.loads((REPO / "schemas" / "axolotl-lora.schema.json").read_text())
    good = yaml.safe_load((REPO / "fixtures" / "configs" / "llama-3.2-1b-lora.yml").read_text())
    jsonschema.validate(good, schema)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors({**good, "lora_r": "eight"}))
    assert [e.path[0] for e in errors] == ["lora_r"]


def test_batch_builds_each_model_skeleton_once(write_yaml):
    from lora_compiler.engine.compiler import Options, compile_document
    from lora_compiler.engine.session import Session

    session = Session()
    paths = [write_yaml(TYPO.replace("lora_r: 8", f"lora_r: {r}"), f"c{r}.yml") for r in (4, 8, 16)]
    reports = [compile_document(p, Options(offline=True), session).report for p in paths]
    assert session.builds == 1
    # Llama-3.2-1B: sum of (in + out) over the 7 projections is 44,032 per layer, 16 layers.
    assert [r.trainable_params for r in reports] == [44_032 * 16 * r for r in (4, 8, 16)]
    fresh = compile_document(paths[1], Options(offline=True)).report
    assert reports[1].to_dict() == fresh.to_dict()  # a reused skeleton answers exactly as a fresh one


def _validate_lint_json(data: dict) -> None:
    import jsonschema
    from referencing import Registry, Resource

    schemas = {
        name: json.loads((REPO / "schemas" / name).read_text()) for name in ("lint.schema.json", "targets.schema.json")
    }
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    jsonschema.Draft202012Validator(schemas["lint.schema.json"], registry=registry).validate(data)


def test_committed_rules_doc_is_current():
    res = CliRunner().invoke(cli, ["rules"])
    assert res.output == (REPO / "docs" / "rules.md").read_text(), (
        "regenerate with: lora-compiler rules > docs/rules.md"
    )


def test_ctrl_c_exits_130_and_writes_nothing(write_yaml, tmp_path, monkeypatch, capsys):
    """Ctrl-C is not "findings would fail training" (1): the shell's 130, and no output directory."""
    import os
    import signal
    import time

    import pytest

    import lora_compiler.api as api
    from lora_compiler.cli import main

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the signal arrives first; reaching the next line would mean it was swallowed
        raise AssertionError("SIGINT did not interrupt")

    monkeypatch.setattr(api, "compile_job", interrupted)
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["lora-compiler", "compile", str(write_yaml("adapter: lora\n")), "-o", str(out)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 130
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists()
    assert signal.getsignal(signal.SIGINT) is not None  # main put the previous handler back


def test_lora_compiler_error_is_importable_from_the_package():
    import lora_compiler
    from lora_compiler.features.runtime import LoraCompilerError

    assert lora_compiler.LoraCompilerError is LoraCompilerError
    assert "LoraCompilerError" in lora_compiler.__all__


def test_lint_of_a_directory_checks_its_yaml_files_recursively_minus_the_policy_s_ignore(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "configs" / "nested").mkdir(parents=True)
    (project / ".hidden").mkdir()
    good = (
        "base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
        + DATASETS_YAML
    )
    (project / "configs" / "a.yml").write_text(good)
    (project / "configs" / "nested" / "b.yaml").write_text(good)
    (project / "configs" / "nested" / "draft-c.yml").write_text("adapter: [\n")
    (project / ".hidden" / "d.yml").write_text("adapter: [\n")
    (project / "configs" / "notes.txt").write_text("not yaml")
    (project / "pyproject.toml").write_text('[tool.lora-compiler]\nignore = ["configs/**/draft-*.yml"]\n')
    monkeypatch.chdir(project)
    res = CliRunner().invoke(cli, ["lint", "--no-model", "--format", "json", "configs"])
    assert res.exit_code == 0, res.output
    assert [f["file"] for f in json.loads(res.output)["files"]] == ["configs/a.yml", "configs/nested/b.yaml"]
    (project / "pyproject.toml").write_text('[tool.lora-compiler]\nignore = "configs"\n')
    assert CliRunner().invoke(cli, ["lint", "--no-model", "configs"]).exit_code == 2  # a bad policy: usage error


def test_a_peft_warning_about_an_unset_key_points_at_its_cause_with_the_fix(write_yaml):
    cfg = write_yaml(
        "base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"
        "lora_target_linear: true\nlora_modules_to_save: [embed_tokens, lm_head]\n"
    )
    res = CliRunner().invoke(cli, ["lint", "--offline", "--format", "json", str(cfg)])
    (warning,) = [f for f in json.loads(res.output)["files"][0]["findings"] if f["rule"] == "peft-warning"]
    assert (warning["line"], warning["column"]) == (6, 1)  # lora_modules_to_save, not adapter:
    assert "peft_ensure_weight_tying: true" in warning["hint"]
