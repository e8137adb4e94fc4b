"""Shrink a real model config.json to a tiny model of the same architecture.

The compiler reports what PEFT wraps on a meta-device skeleton; tests check that against PEFT
applied to a *real* model. A real 8B model does not fit a CI runner, but a tiny model of the same
family has the same module names, classes and layer kinds (dense/MoE, sliding/full attention),
which is all that decides what LoRA wraps. Pure dict work (no torch import, so it is cheap to use
anywhere), and rules go by key name rather than by family, so a new family using the usual key
spellings shrinks without an entry here.

The architecture survey starts from transformers' default configs instead: survey_configs.py
chooses their layers and repairs them around this shrink.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..model_facts import EXPERT_COUNT_KEYS

Config = dict[str, Any]

# Every spelling of one size across families (GPT-2's n_embd, Falcon's num_kv_heads, ...).
LAYERS = ("num_hidden_layers", "n_layer", "n_layers", "num_layers", "encoder_layers", "decoder_layers")
HIDDEN = ("hidden_size", "n_embd", "d_model")
HEADS = ("num_attention_heads", "n_head", "n_heads", "num_heads", "encoder_attention_heads", "decoder_attention_heads")
KV_HEADS = ("num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num")
INTERMEDIATE = (
    "n_inner",
    "ffn_dim",
    "ffn_hidden_size",
    "encoder_ffn_dim",
    "decoder_ffn_dim",
)  # + "*intermediate_size*"
EXPERTS = EXPERT_COUNT_KEYS
TOP_K = ("num_experts_per_tok", "experts_per_token", "moe_topk")
# "Every p-th layer is special" periods: kept <= the layer count so the special kind still occurs.
PERIODS = ("decoder_sparse_step", "sliding_window_pattern", "moe_layer_freq", "interleave_moe_layer_step")
TOKEN_SUFFIXES = ("token_id", "token_ids", "token_index")
# A tiny random model cannot be fp8/mxfp4-quantized on CPU, and quantization changes no module name.
DROP = ("quantization_config",)

HIDDEN_SIZE, NUM_HEADS, KV_GQA, HEAD_DIM, INTERMEDIATE_SIZE, VOCAB = 64, 4, 2, 16, 128, 256
NUM_EXPERTS, TOPK, MLA_RANK, NUM_GROUPS = 4, 2, 32, 2
# Vision: 16px images of 4px patches give 4x4 patches, pooled 2x2 into mm_tokens_per_image = 4.
PATCH, TOKENS_PER_SIDE, POOL = 4, 2, 2
MAX_KINDS = 8  # layer kinds kept per config, at most
PER_LAYER_OVERRIDES = ("per_layer_config",)  # {"05": {...}}: settings of single layers, not a sub-model
TRAILING_LAYERS = ("num_kv_shared_layers",)  # the last n layers are of another kind (Gemma 3n)
# Mamba-2 heads: heads * head_dim must equal expand * hidden_size, and shrink scales only the latter.
MAMBA_HEADS = (("num_heads", "head_dim", "expand"), ("mamba_n_heads", "mamba_d_head", "mamba_expand"))
# Sizes that transformers' default config of some families leaves None although the model needs them.
FILL_NONE: dict[str, Callable[[Config], Any]] = {
    "head_dim": lambda c: (first_count(c, HIDDEN) or 0) // (first_count(c, HEADS) or 1),
    "num_key_value_heads": lambda c: first_count(c, HEADS),
    "moe_intermediate_size": lambda c: c.get("intermediate_size"),
    "n_routed_experts": lambda c: NUM_EXPERTS,
    "num_experts_per_tok": lambda c: TOPK,
    "n_shared_experts": lambda c: 1,
    "vocabulary_map": lambda c: {},  # Chameleon/Emu3: tokenizer data, names no module
}


def shrink_config(config: Config, layers: int = 2) -> Config:
    """A tiny config of `config`'s architecture: `layers` layers, small widths, vocab 256.

    model_type, architectures and every switch (biases, tying, sliding windows, MoE layout) are
    kept, because they decide which modules exist. With `layers` >= 2, a model that mixes dense
    and MoE layers (or sliding and full attention, by period) keeps at least one of each.
    """
    return _shrink(config, layers, role="")


def _shrink(cfg: Config, layers: int, role: str) -> Config:
    old_layers = _first(cfg, LAYERS)
    old_heads = _first(cfg, HEADS)
    out: Config = {}
    for key, value in cfg.items():
        if key in DROP:
            continue
        if key.endswith("_config") and isinstance(value, dict):
            out[key] = _shrink(value, layers, role=key)
        else:
            out[key] = _shrink_value(key, copy.deepcopy(value), cfg, layers, old_layers, old_heads)
    if isinstance(cfg.get("sliding_window"), int) and "layer_types" not in cfg and "sliding_window_pattern" not in cfg:
        # Gemma 3's text config omits its pattern and transformers defaults it to one full-attention
        # layer in 6: two layers would both be sliding. Families without the key ignore it.
        out["sliding_window_pattern"] = layers
    if role:
        _fill_missing(out, layers, text=role.startswith("text"))
    if isinstance(out.get("n_group"), int):
        out["n_group"] = min(out["n_group"], NUM_GROUPS)
        if isinstance(out.get("topk_group"), int):
            out["topk_group"] = min(out["topk_group"], out["n_group"])
    return out


def _shrink_value(key: str, value: Any, cfg: Config, layers: int, old_layers: int | None, old_heads: int | None) -> Any:
    """One key's tiny value; anything not recognised is kept as is (it is a switch, not a size)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if key in LAYERS:
            return layers
        if key in HIDDEN:
            return HIDDEN_SIZE
        if key in HEADS:
            return NUM_HEADS
        if key in KV_HEADS:  # keep MHA as MHA, MQA as MQA, anything else GQA
            return NUM_HEADS if old_heads is not None and value >= old_heads else min(value, KV_GQA)
        if key.endswith("head_dim") or key == "query_pre_attn_scalar":
            return HEAD_DIM
        if "intermediate_size" in key or key in INTERMEDIATE:
            return INTERMEDIATE_SIZE
        if key.endswith("vocab_size"):
            return VOCAB
        if key in EXPERTS:
            return min(value, NUM_EXPERTS) if value > 0 else value
        if key in TOP_K:
            return min(value, TOPK)
        if key.endswith("_lora_rank"):  # MLA's q/kv compression ranks
            return MLA_RANK
        if key.endswith(TOKEN_SUFFIXES):  # token ids index the vocabulary (padding_idx must fit)
            return value % VOCAB
        if key in PERIODS:
            return min(value, layers) if value > 1 else value
        if key.startswith("first_k_"):  # first k layers dense: leave at least one MoE layer
            return min(value, max(layers - 1, 0)) if value > 0 else value
        if key.endswith("_layers") and not key.startswith("num_"):  # max_window_layers and similar
            return min(value, layers)
        if key == "image_size":
            return PATCH * TOKENS_PER_SIDE * POOL
        if key == "patch_size":
            return PATCH
        if key == "mm_tokens_per_image":
            return TOKENS_PER_SIDE * TOKENS_PER_SIDE
        return value
    if isinstance(value, list):
        if key.endswith(TOKEN_SUFFIXES) and all(isinstance(v, int) for v in value):
            return [v % VOCAB for v in value]
        if key.endswith("_layers") and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return _layer_subset(value, old_layers, layers)
        if old_layers is not None and len(value) == old_layers:  # per-layer list: layer_types & co.
            return _per_layer(value, layers)
        return value
    if isinstance(value, dict) and key in ("rope_scaling", "rope_parameters"):
        return _shrink_rope(value, cfg)
    return value


def _per_layer(value: list[Any], layers: int) -> list[Any]:
    """The first `layers` entries of a per-layer list, with the last ones swapped for kinds the cut
    would lose (gemma-3-270m's layer_types: five sliding layers before the first full one)."""
    kept = value[:layers]
    if not all(isinstance(v, str) for v in value):
        return kept
    missing = [kind for kind in dict.fromkeys(value) if kind not in kept]
    if missing and len(missing) < layers:
        kept = kept[: layers - len(missing)] + missing
    return kept


def _layer_subset(indices: list[int], old_layers: int | None, layers: int) -> list[int]:
    """A list of layer indices (mlp_only_layers): truncated, but still a proper, non-empty subset
    of the layers if it was one, so a model mixing two layer kinds keeps both."""
    kept = [i for i in indices if 0 <= i < layers]
    mixed = old_layers is not None and 0 < len({i for i in indices if 0 <= i < old_layers}) < old_layers
    if mixed and layers >= 2:
        if not kept:
            kept = [0]
        if len(kept) >= layers:
            kept = kept[: layers - 1]
    return kept


def _shrink_rope(rope: Config, cfg: Config) -> Config:
    """Rope lists are sized by the rotary half-dimension, which shrinks with head_dim: per-frequency
    factors (Phi-3 longrope) have one entry per frequency, M-RoPE sections sum to it."""
    partial = float(
        cfg.get("partial_rotary_factor") or cfg.get("rotary_pct") or rope.get("partial_rotary_factor") or 1.0
    )
    hidden, heads = _first(cfg, HIDDEN), _first(cfg, HEADS)
    old_dim = (
        cfg.get("head_dim") if isinstance(cfg.get("head_dim"), int) else (hidden // heads if hidden and heads else None)
    )
    old_half = int((old_dim or 0) * partial) // 2
    half = max(int(HEAD_DIM * partial) // 2, 1)
    out = dict(rope)
    for key, value in rope.items():
        if old_half <= 0 or not (isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value)):
            continue
        if len(value) == old_half:
            out[key] = value[:half]
        elif all(isinstance(v, int) for v in value) and sum(value) == old_half:
            sections = [max(v * half // old_half, 1) for v in value]
            sections[-1] += half - sum(sections)
            out[key] = sections
    return out


def _fill_missing(cfg: Config, layers: int, text: bool) -> None:
    """Sub-configs often omit sizes, and transformers then fills in the *full* model's defaults
    (Gemma 3's text_config has no vocab_size: 262k rows); so a nested config gets them explicitly.
    Only nested ones: a top-level config names its sizes, and some families (Falcon's head_dim)
    refuse keys they compute themselves."""
    wanted: list[tuple[tuple[str, ...], int]] = [
        (LAYERS, layers),
        (HIDDEN, HIDDEN_SIZE),
        (HEADS, NUM_HEADS),
        (("intermediate_size",) + INTERMEDIATE, INTERMEDIATE_SIZE),
    ]
    if text:
        wanted += [(("vocab_size",), VOCAB), (KV_HEADS, KV_GQA), (("head_dim",), HEAD_DIM)]
    for group, value in wanted:
        if not any(k in cfg for k in group):
            cfg[group[0]] = value


def _first(cfg: Config, keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = cfg.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


# --- transformers' default configs (the survey): every layer kind, and repairs -------------------


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def first_count(cfg: Config, keys: tuple[str, ...]) -> int | None:
    """The first of `keys` set to a positive int (a count to range over or divide by; _first takes any int)."""
    return next((cfg[k] for k in keys if is_count(cfg.get(k))), None)
