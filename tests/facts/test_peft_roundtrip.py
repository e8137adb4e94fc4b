"""The compiler's meta-device answer must be PEFT's answer on a real model.

For every bundled model family: shrink its config.json to a tiny model of the same architecture,
compile an Axolotl YAML against it, load the written adapter_config.json with PEFT, apply it to a
real randomly initialised CPU model, and compare what PEFT wrapped (names, per-module LoRA
parameters, trainable count) with targets.json.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import DATASETS, needs_modern_stack

from lora_compiler.engine.compiler import Options, compile_document
from lora_compiler.features.shrink import shrink_config
from lora_compiler.io.files import write_all
from lora_compiler.render.outputs import render_files

pytestmark = pytest.mark.stack  # what PEFT and transformers build: .ci/run runs it on the newest too

REPO = Path(__file__).resolve().parents[2]
FIXTURES = sorted((REPO / "fixtures" / "models").glob("*/*/config.json"))
IDS = [p.parent.name for p in FIXTURES]
MAX_TINY_PARAMS = 5_000_000
_BASE_SUFFIX = re.compile(r"(\.base_layer)+$")


def _raw(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _llama_fixture(tied: bool = False) -> Path:
    llamas = [
        p for p in FIXTURES if _raw(p).get("model_type") == "llama" and bool(_raw(p).get("tie_word_embeddings")) == tied
    ]
    if not llamas:
        pytest.skip(f"no llama fixture with tie_word_embeddings={tied} bundled")
    return llamas[0]


def _tiny_model_dir(tmp_path: Path, fixture: Path) -> Path:
    out = tmp_path / "model"
    out.mkdir()
    (out / "config.json").write_text(json.dumps(shrink_config(_raw(fixture)), indent=2), encoding="utf-8")
    return out


def _compile(tmp_path: Path, model_dir: Path, keys: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """Compile through the real pipeline and write the outputs as the CLI does."""
    doc = {"base_model": str(model_dir), "adapter": "lora", "lora_r": 8, "lora_alpha": 16, "datasets": DATASETS, **keys}
    yml = tmp_path / "train.yml"
    yml.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    result = compile_document(yml, Options(offline=True))
    assert result.ok, [f"{f.rule}: {f.message}" for f in result.findings]
    out = tmp_path / "out"
    write_all(out, render_files(result))
    return out, json.loads((out / "targets.json").read_text(encoding="utf-8"))


def _real_model(model_dir: Path) -> Any:
    """A real CPU model, loaded with the class the compiler chose (skeleton.choose_loader)."""
    import torch
    from transformers.utils import logging

    from lora_compiler.pipeline.skeleton import choose_loader, load_config
    from lora_compiler.pipeline.source import ModelSource
    from lora_compiler.pipeline.spec import AdapterSpec

    spec = AdapterSpec(base_model=str(model_dir))
    config = load_config(ModelSource(str(model_dir), "local", model_dir), spec, allow_remote_code=False)
    loader, name, _ = choose_loader(spec, config)
    torch.manual_seed(0)
    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return loader.from_config(config) if name.startswith("Auto") else loader(config)
    finally:
        logging.set_verbosity(level)


def _own_trainable(module: Any) -> int:
    return sum(p.numel() for n, p in module.named_parameters() if p.requires_grad and not n.startswith("base_layer."))


def _apply_real(model_dir: Path, out: Path) -> tuple[Any, dict[str, Any]]:
    """PEFT on a real model, from the adapter_config.json on disk; wrapped names as inject.py names them."""
    from peft import PeftConfig, get_peft_model
    from peft.tuners.lora import LoraLayer
    from peft.utils.other import ModulesToSaveWrapper

    config = PeftConfig.from_pretrained(str(out))
    config.inference_mode = False  # the file is a saved adapter's: trained on, as from_pretrained(is_trainable=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = get_peft_model(_real_model(model_dir), config)
    wrapped: dict[str, Any] = {}
    saved: dict[str, int] = {}
    for name, module in peft_model.base_model.model.named_modules():
        if isinstance(module, LoraLayer):
            parameter = getattr(module, "parameter_name", None)
            key = _BASE_SUFFIX.sub("", name) + "." + parameter if parameter else name
            wrapped[key] = (int(module.r["default"]), _own_trainable(module))
        elif isinstance(module, ModulesToSaveWrapper):
            saved[name] = _own_trainable(module)
    trainable, total = peft_model.get_nb_trainable_parameters()
    return peft_model, {
        "modules": wrapped,
        "modules_to_save": saved,
        "trainable_params": int(trainable),
        "all_params": int(total),
    }


def _assert_same(targets: dict[str, Any], real: dict[str, Any]) -> None:
    reported = {m["name"]: (m["r"], m["params"]) for m in targets["modules"]}
    assert set(reported) == set(real["modules"]), (
        f"only on meta: {sorted(set(reported) - set(real['modules']))}; "
        f"only on the real model: {sorted(set(real['modules']) - set(reported))}"
    )
    assert reported == real["modules"], "rank or LoRA parameter count differs for some module"
    assert {m["name"]: m["params"] for m in targets["modules_to_save"]} == real["modules_to_save"]
    assert targets["trainable_params"] == real["trainable_params"]
    assert targets["all_params"] == real["all_params"]


def _family_keys(raw: dict[str, Any]) -> dict[str, Any]:
    if raw.get("model_type") == "gpt2":  # Conv1D layers: lora_target_linear finds nothing
        return {"lora_target_modules": ["c_attn", "c_proj", "c_fc"], "lora_fan_in_fan_out": True}
    return {"lora_target_linear": True}


# --- shrink_config ------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", FIXTURES, ids=IDS)
def test_shrunk_config_builds_tiny_model_of_same_architecture(fixture: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoConfig

    from lora_compiler.pipeline.skeleton import choose_loader
    from lora_compiler.pipeline.spec import AdapterSpec

    raw = _raw(fixture)
    tiny = shrink_config(raw)
    assert tiny["model_type"] == raw["model_type"]
    assert tiny.get("architectures") == raw.get("architectures")
    for sub in ("text_config", "vision_config", "audio_config"):
        if isinstance(raw.get(sub), dict):
            assert tiny[sub].get("model_type") == raw[sub].get("model_type")
    assert "quantization_config" not in tiny
    model_dir = _tiny_model_dir(tmp_path, fixture)
    config = AutoConfig.from_pretrained(model_dir)
    loader, name, _ = choose_loader(AdapterSpec(base_model=str(model_dir)), config)
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = loader.from_config(config)
    assert type(model).__name__ in (raw.get("architectures") or [type(model).__name__])
    assert sum(p.numel() for p in model.parameters()) < MAX_TINY_PARAMS
    assert config.get_text_config().num_hidden_layers == 2
    # Layer kinds survive: sliding and full attention, dense and MoE feed-forward.
    kinds = set(getattr(AutoConfig.from_pretrained(fixture.parent).get_text_config(), "layer_types", None) or [])
    tiny_kinds = set(getattr(config.get_text_config(), "layer_types", None) or [])
    assert tiny_kinds <= kinds and len(tiny_kinds) == min(len(kinds), 2)
    if raw.get("first_k_dense_replace") or raw.get("mlp_only_layers") or (raw.get("decoder_sparse_step") or 1) > 1:
        mlps = {type(m).__name__ for n, m in model.named_modules() if re.fullmatch(r".*layers\.\d+\.mlp", n)}
        assert len(mlps) == 2, mlps


def test_shrink_keeps_dense_and_moe_layers_where_the_original_mixed_them() -> None:
    deepseek = {
        "model_type": "deepseek_v3",
        "num_hidden_layers": 61,
        "first_k_dense_replace": 3,
        "n_routed_experts": 256,
        "num_experts_per_tok": 8,
        "n_group": 8,
        "topk_group": 4,
    }
    tiny = shrink_config(deepseek)
    assert (tiny["first_k_dense_replace"], tiny["n_routed_experts"], tiny["num_experts_per_tok"]) == (1, 4, 2)
    assert tiny["topk_group"] <= tiny["n_group"] and tiny["n_routed_experts"] % tiny["n_group"] == 0

    qwen = {
        "model_type": "qwen3_moe",
        "num_hidden_layers": 48,
        "num_experts": 128,
        "decoder_sparse_step": 4,
        "mlp_only_layers": [0, 1, 40],
        "layer_types": ["full_attention"] * 48,
        "max_window_layers": 48,
    }
    tiny = shrink_config(qwen)
    assert tiny["decoder_sparse_step"] == 2 and tiny["mlp_only_layers"] == [0]
    assert tiny["layer_types"] == ["full_attention"] * 2 and tiny["max_window_layers"] == 2
    assert shrink_config({**qwen, "mlp_only_layers": [], "decoder_sparse_step": 1})["mlp_only_layers"] == []


def test_shrink_keeps_rope_factor_lists_and_vision_pooling_consistent() -> None:
    phi = {
        "model_type": "phi3",
        "hidden_size": 3072,
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "rope_scaling": {"type": "longrope", "long_factor": [1.0] * 48, "short_factor": [1.0] * 48},
    }
    rope = shrink_config(phi)["rope_scaling"]
    assert len(rope["long_factor"]) == len(rope["short_factor"]) == 16 // 2

    gemma3 = {
        "model_type": "gemma3",
        "mm_tokens_per_image": 256,
        "image_token_index": 262144,
        "text_config": {"model_type": "gemma3_text", "num_hidden_layers": 34},
        "vision_config": {"model_type": "siglip_vision_model", "image_size": 896, "patch_size": 14},
    }
    tiny = shrink_config(gemma3)
    per_side = tiny["vision_config"]["image_size"] // tiny["vision_config"]["patch_size"]
    tokens_per_side = int(tiny["mm_tokens_per_image"] ** 0.5)
    assert per_side % tokens_per_side == 0 and tiny["image_token_index"] < tiny["text_config"]["vocab_size"]


# --- compiler vs PEFT on a real model -----------------------------------------------------------


@pytest.mark.parametrize("fixture", FIXTURES, ids=IDS)
def test_compiled_adapter_wraps_the_same_modules_on_a_real_model(fixture: Path, tmp_path: Path) -> None:
    model_dir = _tiny_model_dir(tmp_path, fixture)
    out, targets = _compile(tmp_path, model_dir, _family_keys(_raw(fixture)))
    _, real = _apply_real(model_dir, out)
    assert real["modules"], "the adapter wrapped nothing"
    _assert_same(targets, real)


LLAMA_VARIANTS: dict[str, dict[str, Any]] = {
    "dora": {"lora_target_linear": True, "peft_use_dora": True},
    "modules_to_save": {"lora_target_linear": True, "lora_modules_to_save": ["lm_head"]},
    "layers_to_transform": {"lora_target_linear": True, "peft_layers_to_transform": [0]},
    "rank_pattern": {"lora_target_linear": True, "lora_rank_pattern": {"q_proj": 4, "down_proj": 2}},
    "regex": {"lora_target_modules": r".*\.(q_proj|v_proj)"},
}


@pytest.mark.parametrize("variant", sorted(LLAMA_VARIANTS))
def test_llama_variant_wraps_the_same_modules_on_a_real_model(variant: str, tmp_path: Path) -> None:
    model_dir = _tiny_model_dir(tmp_path, _llama_fixture())
    out, targets = _compile(tmp_path, model_dir, LLAMA_VARIANTS[variant])
    _, real = _apply_real(model_dir, out)
    _assert_same(targets, real)
    names = set(real["modules"])
    if variant == "layers_to_transform":
        assert names and all(".layers.0." in n for n in names)
    elif variant == "regex":
        assert {n.rsplit(".", 1)[-1] for n in names} == {"q_proj", "v_proj"}
    elif variant == "modules_to_save":
        assert list(real["modules_to_save"]) == ["lm_head"]
    elif variant == "rank_pattern":
        ranks = {n.rsplit(".", 1)[-1]: r for n, (r, _) in real["modules"].items()}
        assert (ranks["q_proj"], ranks["down_proj"], ranks["k_proj"]) == (4, 2, 8)
    elif variant == "dora":  # A, B and one magnitude per output feature
        assert all(
            m["params"] == m["r"] * (m["in_features"] + m["out_features"]) + m["out_features"]
            for m in targets["modules"]
        )


@needs_modern_stack
def test_tied_embeddings_modules_to_save_with_weight_tying_counts_the_shared_copy_once(tmp_path: Path) -> None:
    model_dir = _tiny_model_dir(tmp_path, _llama_fixture(tied=True))
    keys = {"lora_target_linear": True, "lora_modules_to_save": ["lm_head"], "peft_ensure_weight_tying": True}
    out, targets = _compile(tmp_path, model_dir, keys)
    _, real = _apply_real(model_dir, out)
    _assert_same(targets, real)
