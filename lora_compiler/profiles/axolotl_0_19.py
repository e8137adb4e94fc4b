"""Axolotl 0.19.0: FSDP1 still accepted, gpt_neox's output layer is embed_out, no MixLoRA, no tied-head LoRA."""

from __future__ import annotations

from .profile import OUTPUT_LAYERS, Profile, keys_file

PROFILE = Profile(
    version="0.19.0",
    transformers="5.16.1",
    peft="0.20.0",
    torch="2.13.0",
    keys=keys_file("0.19.0"),
    output_layers={**OUTPUT_LAYERS, "gpt_neox": ("embed_in", "embed_out")},
    adapters=("lora", "qlora", "llama-adapter"),
    ties_lora_output_embeddings=False,
    upcasts_unconverted_embeddings=False,
    own_stack=True,
)
