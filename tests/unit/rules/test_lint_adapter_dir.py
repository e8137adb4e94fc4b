"""lint/compile check an existing lora_model_dir against the YAML and the model, never unpickling it."""

from __future__ import annotations

import pickle

import torch
from click.testing import CliRunner
from conftest import DATASETS_YAML

from lora_compiler.cli import cli


def _save_adapter(model_dir, out, r=8):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))
    peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(out)
    return out


class _Marker:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def _lint(write_yaml, base, adapter_dir, extra=""):
    cfg = write_yaml(
        f"base_model: {base}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"
        f"lora_target_modules: [q_proj, v_proj]\nlora_model_dir: {adapter_dir}\n{extra}{DATASETS_YAML}"
    )
    return cfg, CliRunner().invoke(cli, ["lint", "--offline", str(cfg)])


def test_adapter_from_a_wider_model_is_a_shape_error_at_lora_model_dir(model_dir, write_yaml, tmp_path):
    wide = model_dir("llama")
    adapter = _save_adapter(wide, tmp_path / "adapter")
    narrow = tmp_path / "narrow"
    from transformers import AutoConfig

    AutoConfig.from_pretrained(wide).__class__.from_pretrained(wide, hidden_size=32, head_dim=8).save_pretrained(narrow)
    cfg, res = _lint(write_yaml, narrow, adapter)
    assert res.exit_code == 1
    assert f"{cfg}:6:1: error [adapter-dir-shape-mismatch]" in res.output
    assert "warning [adapter-dir-base-model-differs]" in res.output


def test_matching_adapter_lints_clean_and_rank_difference_is_a_warning(model_dir, write_yaml, tmp_path):
    base = model_dir("llama")
    adapter = _save_adapter(base, tmp_path / "adapter", r=4)
    cfg, res = _lint(write_yaml, base, adapter)
    assert res.exit_code == 0
    assert f"{cfg}:3:1: warning [adapter-dir-config-differs]" in res.output  # lora_r: 8 vs saved 4
    assert "adapter-dir-shape-mismatch" not in res.output


def test_pickle_adapter_is_never_unpickled(model_dir, write_yaml, tmp_path):
    adapter = tmp_path / "pickled"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8, "lora_alpha": 16}')
    marker = tmp_path / "MARKER"
    (adapter / "adapter_model.bin").write_bytes(pickle.dumps(_Marker(marker)))
    _, res = _lint(write_yaml, model_dir("llama"), adapter)
    assert "[adapter-dir-pickle]" in res.output
    assert not marker.exists()


def test_hostile_safetensors_header_is_a_clean_finding(model_dir, write_yaml, tmp_path):
    adapter = tmp_path / "hostile"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8, "lora_alpha": 16}')
    (adapter / "adapter_model.safetensors").write_bytes((2**40).to_bytes(8, "little") + b"{")
    _, res = _lint(write_yaml, model_dir("llama"), adapter)
    assert res.exit_code == 1 and "[adapter-dir-header-invalid]" in res.output


def test_missing_adapter_dir(model_dir, write_yaml, tmp_path):
    cfg, res = _lint(write_yaml, model_dir("llama"), tmp_path / "nowhere")
    assert f"{cfg}:6:1: error [adapter-dir-missing]" in res.output
