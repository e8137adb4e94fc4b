"""load_lora on real, randomly initialised tiny CPU models: it must train exactly what compile reports.

Architectures: llama and gpt_neox (Linear projections), gpt2 (Conv1D with fan_in_fan_out, tied
embeddings), qwen2 (another width, for refusals) and mixtral (fused MoE experts).
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from conftest import DATASETS, DATASETS_YAML, TINY, needs_modern_stack

from lora_compiler import load_lora
from lora_compiler.engine.compiler import Options, compile_document
from lora_compiler.features.runtime import LoraCompilerError, parameter_summary
from lora_compiler.pipeline.peftcfg import adapter_config_dict

LORA = {"adapter": "lora", "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "datasets": DATASETS}
IDS = torch.tensor([[1, 5, 9, 13, 17, 21, 25, 29]])


def _config(model_type: str, **overrides: Any) -> Any:
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type, **{**TINY.get(model_type, {}), **overrides})


def _model(config: Any) -> Any:
    """The same random weights for the same config, every time."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config)


def _yaml(tmp_path: Path, config: Any, keys: dict[str, Any], name: str = "train.yml") -> Path:
    """A YAML whose base_model is a local directory holding `config` (what compile reads)."""
    model_dir = tmp_path / f"tiny-{config.model_type}"
    config.save_pretrained(model_dir)
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"base_model": str(model_dir), **keys}, sort_keys=False), encoding="utf-8")
    return path


def _wrapped(peft_model: Any) -> set[str]:
    from peft.tuners.lora import LoraLayer

    return {n for n, m in peft_model.base_model.model.named_modules() if isinstance(m, LoraLayer)}


def _saved(peft_model: Any) -> set[str]:
    from peft.utils.other import ModulesToSaveWrapper

    return {n for n, m in peft_model.base_model.model.named_modules() if isinstance(m, ModulesToSaveWrapper)}


def _assert_matches_compile(tmp_path: Path, model_type: str, keys: dict[str, Any]) -> Any:
    config = _config(model_type)
    path = _yaml(tmp_path, config, {**LORA, **keys})
    result = compile_document(path, Options(offline=True))
    assert result.ok, [f"{f.rule}: {f.message}" for f in result.findings]
    peft_model, lora_config = load_lora(_model(config), path)
    report = result.report
    assert _wrapped(peft_model) == {m.name for m in report.modules}
    assert _saved(peft_model) == {m.name for m in report.modules_to_save}
    summary = parameter_summary(peft_model)
    assert (summary.trainable, summary.total) == (report.trainable_params, report.all_params)
    ignore = {"base_model_name_or_path", "revision"}  # get_peft_model records the live model's name
    ours = {k: v for k, v in adapter_config_dict(lora_config).items() if k not in ignore}
    assert ours == {k: v for k, v in adapter_config_dict(result.lora_config).items() if k not in ignore}
    return peft_model


@pytest.mark.parametrize(
    "model_type, keys",
    [
        ("llama", {"lora_target_linear": True}),
        ("gpt_neox", {"lora_target_linear": True}),
        ("gpt2", {"lora_target_modules": ["c_attn", "c_proj"], "lora_fan_in_fan_out": True}),
    ],
    ids=["llama-linear", "gpt_neox-linear", "gpt2-conv1d"],
)
def test_fresh_lora_wraps_what_compile_reports(
    tmp_path: Path, model_type: str, keys: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="lora_compiler.features.runtime"):
        peft_model = _assert_matches_compile(tmp_path, model_type, keys)
    assert str(parameter_summary(peft_model)) in caplog.text


@pytest.mark.parametrize(
    "keys",
    [
        {
            "lora_target_modules": ["q_proj", "v_proj", "o_proj"],
            "peft_use_dora": True,
            "lora_modules_to_save": ["lm_head"],
            "peft_layers_to_transform": [1],
        },
        {
            "lora_target_linear": True,
            "peft_use_rslora": True,
            "lora_rank_pattern": {"q_proj": 4},
            "lora_alpha_pattern": {"down_proj": 32},
        },
    ],
    ids=["dora-save-layers", "rslora-patterns"],
)
def test_variants_match_compile(tmp_path: Path, keys: dict[str, Any]) -> None:
    peft_model = _assert_matches_compile(tmp_path, "llama", keys)
    layer = peft_model.base_model.model.model.layers[1].self_attn.q_proj
    if keys.get("peft_use_dora"):
        assert layer.use_dora["default"] and not hasattr(
            peft_model.base_model.model.model.layers[0].self_attn.q_proj, "lora_A"
        )
    else:
        assert layer.r["default"] == 4 and layer.scaling["default"] == pytest.approx(16 / 4**0.5)


def test_config_only_leaves_model_untouched() -> None:
    model = _model(_config("llama"))
    before = {n: id(p) for n, p in model.named_parameters()}
    modules = [type(m) for m in model.modules()]
    none, lora_config = load_lora(model, {"base_model": "tiny", **LORA, "lora_target_linear": True}, config_only=True)
    assert none is None and sorted(lora_config.target_modules) == [
        "down_proj",
        "gate_proj",
        "k_proj",
        "o_proj",
        "q_proj",
        "up_proj",
        "v_proj",
    ]
    assert {n: id(p) for n, p in model.named_parameters()} == before
    assert [type(m) for m in model.modules()] == modules and all(p.requires_grad for p in model.parameters())


def _train_step(peft_model: Any) -> None:
    peft_model.train()
    optimizer = torch.optim.SGD([p for p in peft_model.parameters() if p.requires_grad], lr=0.5)
    peft_model(IDS, labels=IDS).loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def test_only_adapter_parameters_get_gradients_and_change() -> None:
    peft_model, _ = load_lora(_model(_config("llama")), {"base_model": "tiny", **LORA, "lora_target_linear": True})
    params = dict(peft_model.named_parameters())
    adapter = {n for n in params if ".lora_A." in n or ".lora_B." in n}
    assert adapter and {n for n, p in params.items() if p.requires_grad} == adapter
    before = {n: p.detach().clone() for n, p in params.items()}
    peft_model(IDS, labels=IDS).loss.backward()
    assert {n for n, p in params.items() if p.grad is not None} == adapter
    torch.optim.SGD([params[n] for n in adapter], lr=0.5).step()
    changed = {n for n, p in params.items() if not torch.equal(p, before[n])}
    assert {n for n in adapter if ".lora_B." in n} <= changed <= adapter


@pytest.mark.parametrize(
    "model_type, keys",
    [
        ("llama", {"lora_target_linear": True}),
        ("gpt2", {"lora_target_modules": ["c_attn", "c_fc"], "lora_fan_in_fan_out": True}),
    ],
)
def test_saved_adapter_reloads_bit_for_bit(tmp_path: Path, model_type: str, keys: dict[str, Any]) -> None:
    config = _config(model_type)
    cfg = {"base_model": "tiny", **LORA, **keys}
    trained, _ = load_lora(_model(config), cfg)
    _train_step(trained)
    assert any(p.abs().sum() > 0 for n, p in trained.named_parameters() if ".lora_B." in n)
    trained.eval()
    with torch.no_grad():
        expected = trained(IDS).logits
    trained.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    for inference in (False, True):
        loaded, _ = load_lora(_model(config), {**cfg, "lora_model_dir": str(tmp_path / "adapter")}, inference=inference)
        lora = [p for n, p in loaded.named_parameters() if ".lora_" in n]
        assert lora and all(p.requires_grad is not inference for p in lora)
        assert inference is not any(p.requires_grad for p in loaded.parameters())
        loaded.eval()
        with torch.no_grad():
            assert torch.equal(loaded(IDS).logits, expected)


def test_adapter_of_another_width_is_refused_before_peft(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import peft

    source, _ = load_lora(_model(_config("llama")), {"base_model": "tiny", **LORA, "lora_target_modules": ["q_proj"]})
    source.save_pretrained(tmp_path / "adapter")
    narrow = _model(
        _config(
            "qwen2",
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=128,
        )
    )
    monkeypatch.setattr(peft.PeftModel, "from_pretrained", lambda *a, **k: pytest.fail("PEFT was called"))
    with pytest.raises(LoraCompilerError) as err:
        load_lora(narrow, {"base_model": "tiny", **LORA, "lora_model_dir": str(tmp_path / "adapter")})
    message = str(err.value)
    assert "[adapter-dir-shape-mismatch] model.layers.0.self_attn.q_proj: saved lora_A has shape [8, 64]" in message
    assert "needs [8, 32]" in message
    assert not any("lora_" in n for n, _ in narrow.named_parameters())


LOFTQ = {"base_model": "tiny", **LORA, "lora_target_linear": True, "peft": {"loftq_config": {"loftq_bits": 4}}}


def test_loftq_config_only_is_exact() -> None:
    _, lora_config = load_lora(_model(_config("llama")), LOFTQ, config_only=True)
    assert lora_config.init_lora_weights == "loftq"
    assert lora_config.loftq_config["loftq_bits"] == 4


@pytest.mark.skipif(torch.cuda.is_available(), reason="the stop is for machines without CUDA")
def test_loftq_stops_before_touching_the_model_without_cuda_or_bitsandbytes() -> None:
    model = _model(_config("llama"))
    before = {n: id(p) for n, p in model.named_parameters()}
    with pytest.raises(LoraCompilerError) as err:
        load_lora(model, LOFTQ)
    assert "[loftq-unavailable]" in str(err.value) and "CUDA" in str(err.value)
    assert {n: id(p) for n, p in model.named_parameters()} == before


# A bitsandbytes-quantized base carries both marks: transformers writes quantization_config into the
# model config and sets is_loaded_in_4bit. Without bitsandbytes, either is set on a real model.
@pytest.mark.parametrize("mark", ["quantization_config", "is_loaded_in_4bit"])
def test_loftq_is_refused_on_a_quantized_base(mark: str) -> None:
    model = _model(_config("llama"))
    if mark == "quantization_config":
        model.config.quantization_config = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    else:
        model.is_loaded_in_4bit = True
    with pytest.raises(LoraCompilerError) as err:
        load_lora(model, LOFTQ)
    assert "[loftq-quantized]" in str(err.value) and "already quantized" in str(err.value) and mark in str(err.value)


class _WritesMarker:
    """A pickle payload: unpickling it creates `path`."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def test_pickle_adapter_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_WritesMarker(probe))).close()
    assert probe.exists()  # the payload is live
    marker = tmp_path / "marker"
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.bin").write_bytes(pickle.dumps(_WritesMarker(marker)))
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8, "target_modules": ["q_proj"]}')
    with pytest.raises(LoraCompilerError) as err:
        load_lora(_model(_config("llama")), {"base_model": "tiny", **LORA, "lora_model_dir": str(adapter)})
    assert "[adapter-dir-pickle]" in str(err.value) and "allow_pickle=True" in str(err.value)
    assert not marker.exists()


def test_truncated_adapter_is_a_clean_error(tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8}')
    (adapter / "adapter_model.safetensors").write_bytes((2**42).to_bytes(8, "little") + b"{}")
    with pytest.raises(LoraCompilerError, match=r"adapter-dir-header-invalid.*more than"):
        load_lora(_model(_config("llama")), {"base_model": "tiny", **LORA, "lora_model_dir": str(adapter)})


MIXED_YAML = """\
base_model: tiny
adapter: lora
lora_r: 8
lora_alpha: 16
lora_target_modules: [q_proj, v_proj]
mixed_adapters:
  - name: style
    type: loha
    r: 4
    alpha: 8
    target_modules: [q_proj, v_proj]
"""


def test_mixed_lora_loha_and_saved_adapter_run_forward(tmp_path: Path) -> None:
    from peft import PeftMixedModel

    old, _ = load_lora(_model(_config("llama")), {"base_model": "tiny", **LORA, "lora_target_modules": ["k_proj"]})
    old.save_pretrained(tmp_path / "old")
    path = tmp_path / "train.yml"
    path.write_text(MIXED_YAML + f"  - name: old\n    path: {tmp_path / 'old'}\n" + DATASETS_YAML, encoding="utf-8")
    mixed, lora_config = load_lora(_model(_config("llama")), path)
    assert isinstance(mixed, PeftMixedModel) and set(mixed.peft_config) == {"default", "style", "old"}
    assert sorted(mixed.active_adapters) == ["default", "old", "style"]
    names = {n for n, _ in mixed.named_parameters()}
    assert any(".lora_A.default." in n for n in names) and any(".hada_w1_a.style" in n for n in names)
    assert any("k_proj.lora_A.old." in n for n in names)
    assert mixed(IDS).logits.shape == (1, IDS.shape[1], 128)
    assert sorted(lora_config.target_modules) == ["q_proj", "v_proj"]


def test_mixed_adapters_errors_are_positioned(tmp_path: Path) -> None:
    path = tmp_path / "train.yml"
    path.write_text(MIXED_YAML.replace("    r: 4\n", "    rank: 4\n") + "  - name: old\n    path: ./x\n    r: 4\n")
    with pytest.raises(LoraCompilerError) as err:
        load_lora(_model(_config("llama")), path)
    message = str(err.value)
    assert f"{path}:9:5: error [schema] mixed_adapters[0].rank: Extra inputs are not permitted" in message
    assert f"{path}:12:5: error [schema] mixed_adapters[1]: Value error, an entry with path" in message


def test_a_hanging_regex_is_refused_with_the_finding_compile_gives(tmp_path: Path) -> None:
    """compile and load_lora reach the LoraConfig through one middle step: one guard, one wording."""
    config = _config("llama")
    path = _yaml(tmp_path, config, {**LORA, "lora_target_modules": "(.|.)*Z"})
    compiled = [f for f in compile_document(path, Options(offline=True)).findings if f.rule == "regex-too-slow"]
    with pytest.raises(LoraCompilerError) as err:
        load_lora(_model(config), path)
    assert len(compiled) == 1
    assert [f for f in err.value.findings if f.rule == "regex-too-slow"] == compiled


def test_bad_cfg_raises_with_file_line_col(tmp_path: Path) -> None:
    path = tmp_path / "train.yml"
    path.write_text("base_model: tiny\nadapter: lora\nlora_r: -1\nlora_alpha: 16\nlora_target_linear: true\n")
    with pytest.raises(LoraCompilerError) as err:
        load_lora(_model(_config("llama")), path)
    assert f"{path}:3:9: error [schema] lora_r" in str(err.value)
    assert [f.rule for f in err.value.findings] == ["schema"]


@needs_modern_stack
def test_moe_dropout_stays_off_fused_experts_only() -> None:
    from peft.tuners.lora.layer import ParamWrapper

    init = ParamWrapper.__init__
    peft_model, _ = load_lora(
        _model(_config("mixtral")),
        {"base_model": "tiny", **LORA, "lora_dropout": 0.1, "lora_target_modules": ["q_proj", "w1", "w2", "w3"]},
    )
    dropouts = {n: m for n, m in peft_model.named_modules() if n.endswith("lora_dropout.default")}
    assert all(isinstance(m, torch.nn.Dropout) and m.p == 0.1 for n, m in dropouts.items() if ".q_proj." in n)
    assert all(isinstance(m, torch.nn.Identity) for n, m in dropouts.items() if ".experts." in n)
    assert any(".experts." in n for n in dropouts) and ParamWrapper.__init__ is init  # nothing patched globally
    peft_model(IDS, labels=IDS).loss.backward()
