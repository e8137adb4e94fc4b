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
from lora_compiler.serving import table

pytestmark = pytest.mark.stack  # what PEFT and transformers build: .ci/run runs it on the newest too

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


def _tiny(tmp_path, name: str, config: dict) -> str:
    model = tmp_path / name
    model.mkdir()
    (model / "config.json").write_text(json.dumps(config))
    return str(model)


BERT = {"architectures": ["BertForMaskedLM"], "model_type": "bert", "hidden_size": 64, "intermediate_size": 128}
BERT |= {"num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 1000}


@pytest.mark.parametrize(
    ("release", "targets", "said"),
    [
        ("0.33.0", ["dense"], "is a plain torch layer vLLM does not wrap, so it loads the adapter, drops"),
        ("0.34.0", ["dense"], "received bert.pooler.dense (not a LoRA layer)"),
        ("0.33.0", ["query", "value"], None),
        ("0.34.0", ["query", "value"], None),
    ],
)
def test_vllm_lora_on_a_plain_layer_named_like_a_lora_layer_is_dropped_then_refused(tmp_path, release, targets, said):
    """BERT's pooler.dense is an nn.Linear in vLLM (BertPooler) while its encoder's `dense` layers are LoRA layers:
    0.33 leaves it unwrapped and ignores its weights, 0.34 refuses the adapter."""
    config = {"base_model": _tiny(tmp_path, "bert", BERT), "reward_model": True, "adapter": "lora", "lora_r": 8}
    found = _serve({**config, "lora_alpha": 16, "lora_target_modules": targets}, f"vllm@{release}")
    plain = [f for f in found if "bert.pooler.dense" in f.message]
    assert [said in f.message for f in plain] == ([True] if said else []), [f.message for f in found]
    assert all(f.key == "lora_target_modules" for f in plain)


VAULTGEMMA = {"architectures": ["VaultGemmaForCausalLM"], "model_type": "vaultgemma", "hidden_size": 64}
VAULTGEMMA |= {"intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1}
VAULTGEMMA |= {"head_dim": 32, "vocab_size": 1000}


@pytest.mark.parametrize(
    ("release", "targets", "refused"),
    [("0.33.0", ["q_proj", "embed_tokens"], True), ("0.34.0", ["q_proj", "embed_tokens"], False)]
    + [("0.33.0", ["q_proj"], False), ("0.34.0", ["q_proj"], False)],
)
def test_vllm_scales_embedding_lora_by_embed_scale_only_from_034(tmp_path, release, targets, refused):
    """VaultGemma is served by vLLM's Transformers backend, which keeps HF's scaled embedding: PEFT scales the
    embedding LoRA delta by embed_scale, vLLM 0.33 adds it unscaled, 0.34 scales it too (set_lora)."""
    base = _tiny(tmp_path, "vaultgemma", VAULTGEMMA)
    config = {"base_model": base, "adapter": "lora", "lora_r": 8, "lora_alpha": 16, "lora_target_modules": targets}
    found = _serve(config, f"vllm@{release}")
    scaled = [f for f in found if "embed_scale" in f.message]
    assert bool(scaled) == refused, [f.message for f in found]
    assert all(f.rule == "serve-unsupported" and "VocabParallelEmbeddingWithLoRA.set_lora" in f.message for f in scaled)
    assert any(f.rule == "serve-launch" for f in found) != refused


@pytest.mark.parametrize("release", ["0.33.0", "0.34.0"])
def test_a_qwen35_vision_config_is_judged_by_its_vllm_model_class(tmp_path, release):
    """vLLM 0.34 moved Qwen3.5 to vllm/models/qwen3_5/<platform>/model.py; its table still has the class."""
    from transformers import Qwen3_5Config

    config = Qwen3_5Config().to_dict()
    config["architectures"] = ["Qwen3_5ForConditionalGeneration"]
    config["text_config"].update(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=2)
    config["text_config"].update(num_key_value_heads=1, head_dim=32, vocab_size=1000, linear_num_key_heads=2)
    config["text_config"].update(linear_num_value_heads=2, linear_key_head_dim=16, linear_value_head_dim=16)
    config["text_config"].pop("layer_types", None)
    config["vision_config"].update(hidden_size=32, intermediate_size=64, depth=1, num_heads=2, out_hidden_size=64)
    base = _tiny(tmp_path, "qwen3_5", config)
    found = _serve(
        {"base_model": base, "adapter": "lora", "lora_r": 8, "lora_alpha": 16, "lora_target_modules": ["q_proj"]},
        f"vllm@{release}",
    )
    assert [f.rule for f in found] == ["serve-launch"], [f.message for f in found]
    assert table(f"vllm@{release}")["architectures"]["Qwen3_5ForConditionalGeneration"]["module"] == (
        "vllm/models/qwen3_5/nvidia/model.py" if release == "0.34.0" else "vllm/model_executor/models/qwen3_5.py"
    )


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
    assert res.exit_code == 2 and "this lora-compiler knows vllm 0.33.0, 0.34.0" in res.output


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


def _saved_heads(tmp_path, task_type: str) -> list[str]:
    """modules_to_save of the adapter_config.json the installed PEFT writes for a tiny classifier."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForSequenceClassification, LlamaForTokenClassification

    tiny = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, vocab_size=64)
    model = (LlamaForSequenceClassification if task_type == "SEQ_CLS" else LlamaForTokenClassification)(tiny)
    lora = LoraConfig(task_type=task_type, r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])
    get_peft_model(model, lora).save_pretrained(tmp_path / task_type)
    return json.loads((tmp_path / task_type / "adapter_config.json").read_text())["modules_to_save"]


@pytest.mark.parametrize(("key", "task_type"), [("reward_model", "SEQ_CLS"), ("process_reward_model", "TOKEN_CLS")])
def test_vllm_judges_the_task_heads_the_installed_peft_saves(tmp_path, key, task_type):
    """PEFT adds the classification heads to modules_to_save (0.21.2: classifier, score; 0.22.0 adds
    pre_classifier): vLLM refuses a head outside its list, so we do exactly when the installed PEFT saves one."""
    saved = _saved_heads(tmp_path, task_type)
    refused = [m for m in saved if m not in table("vllm")["peft_helper"]["modules_to_save_allowed"]]
    config = {"base_model": str(LLAMA), key: True, "adapter": "lora", "lora_r": 8, "lora_alpha": 16}
    found = _serve({**config, "lora_target_modules": ["q_proj", "v_proj"]}, "vllm")
    heads = [f for f in found if "modules_to_save" in f.message]
    assert len(heads) == bool(refused), [f.message for f in found]
    for finding in heads:
        assert finding.key == key and repr(refused) in finding.message and f"{task_type} adapter" in finding.message
