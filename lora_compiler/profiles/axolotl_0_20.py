"""Axolotl 0.20.0 (docs/axolotl-releases.md): FSDP1 removed, gpt_neox's head is lm_head, target-parameter inits
checked, mixlora and CPU-staged NF4 added, expert-parallel layouts checked when the plugin is listed."""

from __future__ import annotations

from dataclasses import replace

from . import axolotl_0_19
from .profile import OUTPUT_LAYERS, keys_file

PROFILE = replace(
    axolotl_0_19.PROFILE,
    version="0.20.0",
    transformers="5.17.0",
    peft="0.21.0",
    upcasts_unconverted_embeddings=True,
    own_stack=False,
    keys=keys_file("0.20.0"),
    output_layers={**OUTPUT_LAYERS, "gpt_neox": ("embed_in", "lm_head")},
    adapters=("lora", "qlora", "mixlora", "llama-adapter"),
)
