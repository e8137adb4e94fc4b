"""Hostile input beyond the case folder: no code run, no network when offline, YAML merge semantics.

Most hostile cases (tracebacks, bombs, special files, oversized models, forged caches) live in
tests/hostile/ and are replayed, with resource bounds, by tests/acceptance/test_hostile_cases.py."""

from __future__ import annotations

import json
import socket

from conftest import DATASETS_YAML

from lora_compiler.engine.compiler import Options, compile_document


def test_nothing_touches_the_network_offline(monkeypatch, write_yaml):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    cfg = write_yaml(
        "base_model: some-org/not-cached\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
        + DATASETS_YAML
    )
    result = compile_document(cfg, Options(offline=True))
    assert [f.rule for f in result.findings] == ["model-not-found"]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert [f.rule for f in compile_document(cfg, Options()).findings] == ["model-not-found"]
    bundled = write_yaml(
        "base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
        + DATASETS_YAML,
        "bundled.yml",
    )
    assert compile_document(bundled, Options(offline=True)).ok
    assert attempts == []


def _remote_code_model(tmp_path, marker):
    from transformers import LlamaConfig

    d = tmp_path / "remote-model"
    LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=128,
    ).save_pretrained(d)
    config = json.loads((d / "config.json").read_text())
    config.update(
        model_type="evil_llama",
        architectures=["EvilForCausalLM"],
        auto_map={
            "AutoConfig": "configuration_evil.EvilConfig",
            "AutoModelForCausalLM": "modeling_evil.EvilForCausalLM",
        },
    )
    (d / "config.json").write_text(json.dumps(config))
    (d / "configuration_evil.py").write_text(
        f"open({str(marker)!r}, 'a').write('config imported\\n')\n"
        "from transformers import LlamaConfig\n\n\nclass EvilConfig(LlamaConfig):\n    model_type = 'evil_llama'\n"
    )
    (d / "modeling_evil.py").write_text(
        f"open({str(marker)!r}, 'a').write('model imported\\n')\n"
        "from transformers import LlamaForCausalLM\nfrom .configuration_evil import EvilConfig\n\n\n"
        "class EvilForCausalLM(LlamaForCausalLM):\n    config_class = EvilConfig\n"
    )
    return d


def test_remote_code_runs_only_with_the_command_line_flag(tmp_path, write_yaml, monkeypatch):
    from click.testing import CliRunner

    from lora_compiler.cli import cli

    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    marker = tmp_path / "MARKER"
    model = _remote_code_model(tmp_path, marker)
    cfg = write_yaml(
        f"base_model: {model}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
        "trust_remote_code: true\n" + DATASETS_YAML
    )
    for command in (
        ["compile", str(cfg), "--no-cache"],
        ["lint", str(cfg)],
        ["diff", str(cfg), str(cfg)],
        ["diff", str(cfg), "--convention", "axolotl", "--convention", "peft-all-linear"],
    ):
        res = CliRunner().invoke(cli, command)
        assert res.exit_code == 2 and "remote-code-required" in res.output, (command, res.output)
        assert not marker.exists()
    res = CliRunner().invoke(cli, ["compile", str(cfg), "--trust-remote-code", "--no-cache", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["model"]["architecture"] == "EvilForCausalLM"
    assert "model imported" in marker.read_text()


def test_a_yaml_merge_override_is_not_a_duplicate_key():
    """`<<: *defaults` then `lora_r: 8` is standard YAML that PyYAML (so Axolotl) accepts."""
    from lora_compiler.pipeline.document import load_text

    doc = load_text("defaults: &d {lora_r: 4, lora_alpha: 8}\nadapter: lora\n<<: *d\nlora_r: 8\n", "t.yml")
    assert doc.findings == [] and doc.values["lora_r"] == 8 and doc.values["lora_alpha"] == 8
    twice = load_text("adapter: lora\nlora_r: 4\nlora_r: 8\n", "t.yml")
    assert [f.rule for f in twice.findings] == ["yaml-duplicate-key"]
