"""shrink.candidates: the configs the survey tries for transformers' default config of a model type.

Pure dict work, so each rule is checked on a hand-written config of the family it is for; the survey
(tests/unit/features/test_survey.py) checks that the models then build.
"""

from __future__ import annotations

from typing import Any

from lora_compiler.features.shrink import HEAD_DIM
from lora_compiler.features.survey_configs import (
    _kinds_needed,
    _select_layers,
    candidates,
)

Config = dict[str, Any]


def _ladder(default: Config, causal_lm: bool = True) -> dict[str, tuple[Config, list[str]]]:
    """Candidates by level; the repaired one as "repaired" (it shares the level "shrunk")."""
    out: dict[str, tuple[Config, list[str]]] = {}
    for level, config, repaired in candidates(default, causal_lm):
        out["repaired" if level in out else level] = (config, repaired)
    return out


def test_the_ladder_goes_from_shrunk_to_as_shipped_and_repairs_only_when_there_is_something_to_repair() -> None:
    llama = {"model_type": "llama", "hidden_size": 768, "num_attention_heads": 12, "num_hidden_layers": 4}
    ladder = _ladder(llama)
    assert list(ladder) == ["shrunk", "layers-only", "as-shipped"]
    assert ladder["shrunk"][0]["hidden_size"] == 64 and ladder["layers-only"][0]["hidden_size"] == 768
    assert ladder["layers-only"][0]["num_hidden_layers"] == 2 and ladder["as-shipped"] == (llama, [])


def test_layer_selection_keeps_every_kind_and_its_indices() -> None:
    cfg = {
        "num_hidden_layers": 12,
        "layer_types": ["linear", "linear", "linear", "full"] * 3,  # shrink alone keeps 2 linear layers
        "mlp_only_layers": [0],
        "no_rope_layers": [1, 1, 1, 0] * 3,  # flags, not indices
        "text_config": {"model_type": "t", "num_hidden_layers": 6, "layer_types": ["a"] * 5 + ["b"]},
    }
    assert _kinds_needed(cfg) == 3
    out = _select_layers(cfg, 3)
    assert out["num_hidden_layers"] == 3 and out["layer_types"] == ["linear", "linear", "full"]
    assert out["mlp_only_layers"] == [0] and out["no_rope_layers"] == [1, 1, 0]
    assert out["text_config"]["num_hidden_layers"] == 3 and out["text_config"]["layer_types"] == ["a", "a", "b"]


def test_strictly_increasing_lists_are_renumbered_as_indices() -> None:
    lfm2 = {"model_type": "lfm2", "num_hidden_layers": 16, "full_attn_idxs": [2, 5, 8, 10, 12, 14]}
    shrunk = _ladder(lfm2)["shrunk"][0]
    assert shrunk["num_hidden_layers"] == 2 and shrunk["full_attn_idxs"] == [1]  # layers 0 and 2, renumbered


def test_first_k_and_trailing_layers_are_counted_over_the_kept_layers() -> None:
    layer_types = (["sliding_attention"] * 4 + ["full_attention"]) * 6
    gemma3n = {
        "model_type": "gemma3n_text",
        "num_hidden_layers": 30,
        "layer_types": layer_types,
        "num_kv_shared_layers": 10,
        "first_k_dense_replace": 3,
    }
    shrunk = _ladder(gemma3n)["shrunk"][0]
    # kept: 0 (dense), 3 (MoE), 4 (MoE, full attention), 20 and 24 (KV-shared, sliding and full)
    assert shrunk["num_hidden_layers"] == 5
    assert [t[0] for t in shrunk["layer_types"]] == ["s", "s", "f", "s", "f"]
    assert (shrunk["first_k_dense_replace"], shrunk["num_kv_shared_layers"]) == (1, 2)


def test_per_layer_config_is_keyed_by_layer_index_and_its_settings_shrink() -> None:
    cfg = {
        "model_type": "x",
        "num_hidden_layers": 12,
        "per_layer_config": {"07": {"hidden_size": 1024, "num_attention_heads": 16}},
    }
    ladder = _ladder(cfg)
    assert ladder["shrunk"][0]["per_layer_config"] == {"01": {"hidden_size": 64, "num_attention_heads": 4}}
    assert ladder["layers-only"][0]["per_layer_config"] == {"01": cfg["per_layer_config"]["07"]}


def test_model_configs_under_encoder_and_decoder_keys_shrink() -> None:
    t5gemma2 = {
        "model_type": "t5gemma2",
        "encoder": {"model_type": "t5gemma2_encoder", "num_hidden_layers": 12, "hidden_size": 1024},
        "decoder": {"model_type": "t5gemma2_decoder", "num_hidden_layers": 12, "hidden_size": 1024},
    }
    shrunk = _ladder(t5gemma2)["shrunk"][0]
    for key in ("encoder", "decoder"):
        assert (shrunk[key]["num_hidden_layers"], shrunk[key]["hidden_size"]) == (2, 64)


def test_jamba_periods_and_offsets_fall_within_the_kept_layers() -> None:
    jamba = {
        "model_type": "jamba",
        "num_hidden_layers": 32,
        "attn_layer_period": 8,
        "attn_layer_offset": 4,
        "expert_layer_period": 2,
        "expert_layer_offset": 1,
    }
    shrunk = _ladder(jamba)["shrunk"][0]
    assert (shrunk["attn_layer_period"], shrunk["attn_layer_offset"]) == (2, 1)
    assert (shrunk["expert_layer_period"], shrunk["expert_layer_offset"]) == (2, 1)


def test_repairs_keep_head_dims_consistent_and_zero_switches_off() -> None:
    xlnet = {"model_type": "xlnet", "d_model": 1024, "n_head": 16, "d_head": 64, "n_layer": 24}
    config, repaired = _ladder(xlnet)["repaired"]
    assert repaired == ["d_head"] and config["d_head"] == config["d_model"] // config["n_head"] == HEAD_DIM

    mamba2 = {
        "model_type": "mamba2",
        "hidden_size": 768,
        "num_heads": 24,
        "head_dim": 64,
        "expand": 2,
        "num_hidden_layers": 24,
    }
    config, repaired = _ladder(mamba2)["repaired"]
    assert repaired == ["head_dim", "num_heads"]
    assert config["num_heads"] * config["head_dim"] == config["expand"] * config["hidden_size"]

    nope = {
        "model_type": "x",
        "hidden_size": 768,
        "num_attention_heads": 12,
        "num_hidden_layers": 4,
        "text_config": {"model_type": "x_text", "qk_rope_head_dim": 0},
    }
    ladder = _ladder(nope)
    assert ladder["shrunk"][0]["text_config"]["qk_rope_head_dim"] == HEAD_DIM  # shrink alone turns it on
    assert ladder["repaired"][1] == ["text_config.qk_rope_head_dim"]
    assert ladder["repaired"][0]["text_config"]["qk_rope_head_dim"] == 0


def test_unset_defaults_are_filled_and_a_causal_lm_is_a_decoder() -> None:
    reformer = {
        "model_type": "reformer",
        "hidden_size": 256,
        "num_attention_heads": 2,
        "num_hidden_layers": 6,
        "head_dim": None,
        "is_decoder": False,
    }
    ladder = _ladder(reformer)
    assert ladder["repaired"][1] == ["head_dim", "is_decoder"] and ladder["repaired"][0]["head_dim"] == 16
    config, repaired = ladder["layers-only"]
    assert repaired == ["head_dim", "is_decoder"] and (config["head_dim"], config["is_decoder"]) == (128, True)
    assert _ladder(reformer, causal_lm=False)["layers-only"][1] == ["head_dim"]
    assert reformer["head_dim"] is None  # the default itself is never changed: it is the last candidate
