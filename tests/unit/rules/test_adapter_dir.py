"""adapter_dir: compatibility of a saved adapter with a model, from adapter_config.json and the safetensors
header alone. Adapters are saved by PEFT itself from tiny real models; checks run on meta-device models."""

from __future__ import annotations

import json
import pickle
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import TINY

from lora_compiler.io.adapter_dir import MAX_HEADER_BYTES, HeaderError, read_adapter_dir, read_safetensors_header
from lora_compiler.pipeline.document import load_text
from lora_compiler.pipeline.peftcfg import adapter_config_dict
from lora_compiler.results.findings import Severity
from lora_compiler.rules.adapter_dir import check_adapter_dir


def _config(model_type: str, **overrides: Any) -> Any:
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type, **{**TINY[model_type], **overrides})


def _meta(config: Any) -> Any:
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def _save(tmp_path: Path, config: Any, **lora: Any) -> Path:
    """An adapter written by PEFT's save_pretrained from a real tiny model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_config(config), LoraConfig(r=4, lora_alpha=8, **lora))
    out = tmp_path / f"adapter-{config.model_type}"
    model.save_pretrained(out)
    return out


GPT2 = dict(target_modules=["c_attn", "c_fc", "wte"], fan_in_fan_out=True, modules_to_save=["ln_f"])
LLAMA = dict(target_modules=["q_proj", "down_proj"], use_dora=True, modules_to_save=["lm_head"])


@pytest.mark.parametrize(
    "model_type, lora", [("gpt2", GPT2), ("llama", LLAMA)], ids=["gpt2-conv1d-embedding", "llama-dora-save"]
)
def test_adapter_fits_its_own_architecture_and_not_a_wider_one(
    tmp_path: Path, model_type: str, lora: dict[str, Any]
) -> None:
    adapter = _save(tmp_path, _config(model_type), **lora)
    assert check_adapter_dir(adapter, _meta(_config(model_type))) == []
    wider = {"n_embd": 96} if model_type == "gpt2" else {"hidden_size": 96}
    found = check_adapter_dir(adapter, _meta(_config(model_type, **wider)))
    assert found and {f.rule for f in found} == {"adapter-dir-shape-mismatch"}
    assert all(f.severity is Severity.ERROR for f in found)
    messages = [f.message for f in found]
    if model_type == "gpt2":  # Conv1D c_attn: weight [64, 192] -> lora_A [4, 64]; on the wider model [4, 96]
        assert (
            "transformer.h.0.attn.c_attn: saved lora_A has shape [4, 64], but this model's Conv1D (in 96, out 288) "
            "needs [4, 96]"
        ) in messages
    else:
        assert "lm_head.weight: saved shape [128, 64], this model has [128, 96]" in messages
        assert (
            "model.layers.0.mlp.down_proj: saved lora_B has shape [64, 4], but this model's Linear (in 128, "
            "out 96) needs [96, 4]"
        ) in messages
    assert found[-1].message.endswith("more like it)")
    # Another vocabulary: only the embedding's LoRA (gpt2) or the saved lm_head (llama) no longer fits.
    (other,) = check_adapter_dir(adapter, _meta(_config(model_type, vocab_size=160)))
    assert other.message == (
        "transformer.wte: saved lora_embedding_A has shape [4, 128], but this model's "
        "Embedding (in 160, out 64) needs [4, 160]"
        if model_type == "gpt2"
        else "lm_head.weight: saved shape [128, 64], this model has [160, 64]"
    )


def test_modules_the_model_lacks_are_named(tmp_path: Path) -> None:
    adapter = _save(tmp_path, _config("gpt_neox"), target_modules=["query_key_value"])
    found = check_adapter_dir(adapter, _meta(_config("llama")))
    assert [f.rule for f in found] == ["adapter-dir-target-missing"] * 2
    assert "gpt_neox.layers.0.attention.query_key_value" in found[0].message


def test_config_differences_are_warnings_at_the_yaml_keys(tmp_path: Path) -> None:
    from peft import LoraConfig

    adapter = _save(tmp_path, _config("llama"), target_modules=["q_proj"])
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "org/other-model"
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    doc = load_text(f"base_model: org/tiny\nlora_r: 16\nlora_alpha: 8\nlora_model_dir: {adapter}\n", "train.yml")
    expected = adapter_config_dict(
        LoraConfig(r=16, lora_alpha=8, target_modules=["q_proj"], base_model_name_or_path="org/tiny")
    )
    found = check_adapter_dir(adapter, _meta(_config("llama")), expected, doc=doc)
    assert [(f.rule, f.severity, f.line, f.column) for f in found] == [
        ("adapter-dir-config-differs", Severity.WARNING, 2, 1),
        ("adapter-dir-base-model-differs", Severity.WARNING, 1, 1),
    ]
    assert "r 16" in found[0].message and "has 4" in found[0].message and "org/other-model" in found[1].message


def test_missing_and_invalid_directories_are_positioned_at_lora_model_dir(tmp_path: Path) -> None:
    doc = load_text("base_model: x\nlora_model_dir: ./nowhere\n", "train.yml")
    (found,) = check_adapter_dir(tmp_path / "nowhere", doc=doc)
    assert (found.rule, found.location) == ("adapter-dir-missing", "train.yml:2:1")
    assert read_adapter_dir(tmp_path)[1][0].rule == "adapter-dir-missing"  # no adapter_config.json
    (tmp_path / "adapter_config.json").write_text("{broken")
    assert read_adapter_dir(tmp_path)[1][0].rule == "adapter-dir-config-invalid"
    (tmp_path / "adapter_config.json").write_text("{}")
    assert read_adapter_dir(tmp_path)[1][0].message.endswith("has no adapter_model.safetensors")


class _WritesMarker:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def test_pickle_is_never_opened(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    (tmp_path / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    (tmp_path / "adapter_model.bin").write_bytes(pickle.dumps(_WritesMarker(marker)))
    (refused,) = check_adapter_dir(tmp_path, _meta(_config("llama")))
    assert (refused.rule, refused.severity) == ("adapter-dir-pickle", Severity.ERROR)
    adapter, (allowed,) = read_adapter_dir(tmp_path, allow_pickle=True)
    assert allowed.severity is Severity.WARNING and adapter is not None and adapter.tensors is None
    assert not marker.exists()


def test_header_shapes_come_from_the_header(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file(
        {"a.lora_A.weight": torch.zeros(4, 64), "a.lora_B.weight": torch.zeros(32, 4, dtype=torch.bfloat16)},
        tmp_path / "x.safetensors",
    )
    header = read_safetensors_header(tmp_path / "x.safetensors")
    assert {k: (v.dtype, v.shape) for k, v in header.items()} == {
        "a.lora_A.weight": ("F32", (4, 64)),
        "a.lora_B.weight": ("BF16", (32, 4)),
    }


def _header(length: int, body: bytes) -> bytes:
    return length.to_bytes(8, "little") + body


_GOOD = json.dumps({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}).encode()


@pytest.mark.parametrize(
    "content, reason",
    [
        (_header(5 * 2**40, b"{}"), "more than"),  # declares 5 TB
        (_header(MAX_HEADER_BYTES, b"{}"), "truncated"),  # allowed size, but the file is short
        (_header(9, b"{not json"), "not valid JSON"),
        (_header(2, b"[]"), "not a JSON object"),
        (_header(len(_GOOD), _GOOD) + b"\0" * 10, "truncated: tensor data ends"),  # 64 data bytes declared, 10 present
        (_header(len(b'{"w": {"shape": [-1]}}'), b'{"w": {"shape": [-1]}}'), "no valid shape"),
        (b"\x01\x02", "fewer than the 8-byte"),
    ],
    ids=["terabytes", "short-file", "broken-json", "json-list", "truncated-data", "bad-shape", "tiny-file"],
)
def test_malformed_headers_are_clean_findings_in_bounded_memory(tmp_path: Path, content: bytes, reason: str) -> None:
    (tmp_path / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    (tmp_path / "adapter_model.safetensors").write_bytes(content)
    tracemalloc.start()
    try:
        adapter, (found,) = read_adapter_dir(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert adapter is None and found.rule == "adapter-dir-header-invalid" and reason in found.message
    assert peak < 1_000_000
    with pytest.raises(HeaderError):
        read_safetensors_header(tmp_path / "adapter_model.safetensors")


def test_a_non_string_base_model_in_the_saved_config_is_compared_not_a_traceback(tmp_path: Path) -> None:
    adapter = _save(tmp_path, _config("llama"), target_modules=["q_proj"])
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = 123
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    expected = {**config, "base_model_name_or_path": "org/tiny"}
    found = check_adapter_dir(adapter, _meta(_config("llama")), expected)
    assert [f.rule for f in found] == ["adapter-dir-base-model-differs"]


def test_tensors_of_another_rank_than_the_saved_config_gives_are_a_shape_mismatch(tmp_path: Path) -> None:
    """PEFT builds each layer with rank_pattern's rank (else r) and then fails loading tensors of another rank."""
    adapter = _save(tmp_path, _config("llama"), target_modules=["q_proj", "v_proj"])  # tensors of rank 4
    config = json.loads((adapter / "adapter_config.json").read_text())
    model = _meta(_config("llama"))
    assert check_adapter_dir(adapter, model) == []
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "r": 8, "rank_pattern": {"q_proj": 4}}))
    found = check_adapter_dir(adapter, model)
    layers = TINY["llama"]["num_hidden_layers"]
    assert [f.rule for f in found] == ["adapter-dir-shape-mismatch"] * layers
    assert all(
        f.message.endswith("v_proj: saved tensors have rank 4, but the saved config's r is 8") for f in found
    )  # rank_pattern gives q_proj its rank 4
    (adapter / "adapter_config.json").write_text(json.dumps({**config, "rank_pattern": {"v_proj": 2}}))
    found = check_adapter_dir(adapter, model)
    assert [f.message.split(": ", 1)[1] for f in found] == [
        "saved tensors have rank 4, but the saved config's rank_pattern['v_proj'] is 2"
    ] * layers
