"""Axolotl's attention backends (utils/schemas/enums.py), shared by every rule that asks which one a config runs.

normalize_attn_implementation (schemas/config.py, mode="before") turns a legacy flag into attn_implementation
before any mode="after" validator runs, so those validators see the backend `chosen` restates, not the flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Values = Mapping[str, Any]

# LEGACY_ATTN_FLAG_TO_IMPL (the same in every release), in the priority order the normalizer gives the flags
LEGACY_ATTN = {
    "xformers_attention": "xformers",
    "sage_attention": "sage",
    "flex_attention": "flex_attention",
    "flash_attention": "flash_attention_2",
    "sdp_attention": "sdpa",
    "eager_attention": "eager",
}
# CANONICAL_ATTN_IMPLS of 0.19 and 0.20 (0.21 adds varlen); hub-kernel paths with a "/" are accepted besides
CANONICAL_ATTN = frozenset(
    {"eager", "sdpa", "flash_attention_2", "flash_attention_3", "flash_attention_4", "flash_attention_torch"}
    | {"flex_attention", "xformers", "sage", "fp8"}
)
# SHORT_FORM_ALIAS_TO_CANONICAL: refused with the canonical name as the fix
SHORT_ATTN = {"flash": "flash_attention_2", "flex": "flex_attention", "sdp": "sdpa"}
# ATTN_IMPLS_SUPPORTING_PACKING: the varlen-capable backends
PACKING_ATTN = frozenset(
    {"flash_attention_2", "flash_attention_3", "flash_attention_4", "flash_attention_torch", "flex_attention"}
    | {"xformers", "sage", "kernels-community/flash-attn2", "kernels-community/flash-attn3"}
    | {"kernels-community/sage-attention"}
)
# ATTN_IMPLS_USING_FLASH_LIB
FLASH_LIB_ATTN = frozenset(
    {"flash_attention_2", "flash_attention_3", "kernels-community/flash-attn2", "kernels-community/flash-attn3"}
)


def legacy_flags(v: Values) -> list[str]:
    """The legacy flags the YAML sets, in the normalizer's priority order."""
    return [flag for flag in LEGACY_ATTN if v.get(flag)]


def chosen(v: Values) -> tuple[Any, str | None]:
    """attn_implementation after normalize_attn_implementation, and the YAML key that chose it: the key itself,
    else the first legacy flag set, else flash_attention_2 for gemma4_hybrid_attn_impl; (None, None) for none."""
    if v.get("attn_implementation"):
        return v["attn_implementation"], "attn_implementation"
    flags = legacy_flags(v)
    if flags:
        return LEGACY_ATTN[flags[0]], flags[0]
    if v.get("gemma4_hybrid_attn_impl"):
        return "flash_attention_2", "gemma4_hybrid_attn_impl"
    return None, None


def base(attn: str) -> str:
    """attn_impl_base: a hub-kernel path without its `@revision` or `:kernel` suffix."""
    return attn.split(":", 1)[0].split("@", 1)[0].strip()
