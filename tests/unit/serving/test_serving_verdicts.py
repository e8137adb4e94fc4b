"""--serve's verdicts beyond the folder cases: the ones a bundled model cannot show (a vocabulary over vLLM's
limit), that every verdict names the engine rule it restates, and the option on compile and export."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import REPO

from lora_compiler.cli import cli
from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options

LLAMA = REPO / "fixtures" / "models" / "meta-llama" / "Llama-3.2-1B"


def _serve(config: dict, engine: str) -> list:
    result = compile_document(config, Options(offline=True, serve=engine))
    return [f for f in result.findings if f.rule.startswith("serve-")]


@pytest.mark.parametrize(("vocab", "refused"), [(258048, False), (262144, True)])
def test_vllm_refuses_output_layer_lora_over_its_vocabulary_limit(tmp_path, vocab, refused):
    model = tmp_path / "big-vocab"
    model.mkdir()
    config = json.loads((LLAMA / "config.json").read_text())
    config["vocab_size"] = vocab
    (model / "config.json").write_text(json.dumps(config))
    found = _serve(
        {
            "base_model": str(model),
            "adapter": "lora",
            "lora_r": 8,
            "lora_alpha": 16,
            "lora_target_modules": ["q_proj", "lm_head"],
        },
        "vllm",
    )
    over = [f for f in found if "vocab size must be <= 258048" in f.message]
    assert bool(over) == refused, [f.message for f in found]
    assert (not any(f.rule == "serve-launch" for f in found)) == refused


def test_every_serving_verdict_names_the_engine_file_and_function_it_restates():
    cases = sorted((REPO / "tests" / "cases" / "bad").glob("serve-*.yml"))
    seen = 0
    for path in cases:
        engine = next(
            line.split("serve=")[1].split()[0]
            for line in path.read_text().splitlines()
            if line.startswith("# lint-options:")
        )
        for finding in compile_document(path, Options(offline=True, serve=engine)).findings:
            if finding.rule == "serve-unsupported":
                seen += 1
                source = finding.message.rsplit(" [", 1)[1]
                assert source.startswith(f"{engine}/") and source.endswith(")]"), finding.message
    assert seen >= 15


def test_sglang_is_told_the_rslora_scaling_it_would_need_without_rslora():
    found = _serve(
        {
            "base_model": str(LLAMA),
            "adapter": "lora",
            "lora_r": 16,
            "lora_alpha": 8,
            "lora_target_modules": ["q_proj"],
            "peft_use_rslora": True,
        },
        "sglang",
    )
    rslora = next(f for f in found if "RSLoRA" in f.message)
    assert "lora_alpha: 32" in rslora.hint  # alpha / sqrt(r) == 32 / r at r = 16


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_compile_with_serve_writes_the_launch_command_into_the_report(tmp_path):
    res = _run(
        "compile",
        str(REPO / "fixtures" / "configs" / "llama-3.2-1b-lora.yml"),
        "-o",
        str(tmp_path / "out"),
        "--offline",
        "--serve",
        "vllm@0.33.0",
    )
    assert res.exit_code == 0, res.output
    report = (tmp_path / "out" / "report.md").read_text()
    assert "vllm serve meta-llama/Llama-3.2-1B --enable-lora --max-lora-rank 16 --lora-modules" in report
    targets = json.loads((tmp_path / "out" / "targets.json").read_text())
    assert [f["rule"] for f in targets["findings"] if f["rule"].startswith("serve-")] == ["serve-launch"]


def test_export_with_serve_prints_the_engines_verdicts_and_still_exports(tmp_path):
    res = _run(
        "export",
        str(REPO / "fixtures" / "configs" / "llama-3.2-1b-lora.yml"),
        "--to",
        "trl",
        "--offline",
        "--serve",
        "sglang",
        "-o",
        str(tmp_path),
    )
    assert res.exit_code == 0, res.output
    assert "python -m sglang.launch_server --model-path meta-llama/Llama-3.2-1B --enable-lora" in res.output
    assert "--lora-strict-loading" in res.output and (tmp_path / "trl.yaml").is_file()


def test_export_refused_by_the_engine_exits_1_and_writes_nothing(tmp_path):
    res = _run(
        "export",
        str(REPO / "fixtures" / "configs" / "mistral-7b-dora.yml"),
        "--to",
        "peft",
        "--offline",
        "--serve",
        "vllm",
        "-o",
        str(tmp_path / "x"),
    )
    assert res.exit_code == 1 and "vLLM does not yet support DoRA." in res.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("command", ["lint", "compile", "export"])
def test_an_unknown_engine_release_is_a_usage_error_naming_the_known_ones(command, tmp_path):
    args = [command, str(REPO / "fixtures" / "configs" / "llama-3.2-1b-lora.yml"), "--serve", "vllm@0.1.0"]
    res = _run(*args, *(["--to", "trl"] if command == "export" else []))
    assert res.exit_code == 2 and "this lora-compiler knows vllm 0.33.0" in res.output


def test_serve_with_no_model_is_a_usage_error_decided_without_importing_torch(tmp_path):
    shutil.copy(REPO / "fixtures" / "configs" / "llama-3.2-1b-lora.yml", tmp_path / "a.yml")
    code = (
        "import sys; from click.testing import CliRunner; from lora_compiler.cli import cli; "
        f"r = CliRunner().invoke(cli, ['lint', '--no-model', '--serve', 'sglang', {str(tmp_path / 'a.yml')!r}]); "
        "print(r.exit_code, sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules)); "
        "print(r.output)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[0] == "2 []" and "cannot run with --no-model" in out
