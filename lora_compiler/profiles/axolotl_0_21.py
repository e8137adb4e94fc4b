"""Axolotl 0.21.0: a tied head's LoRA becomes views of the embedding's (utils/lora_tying.py); expert parallelism
is built in; the `lora_fp32_gradients` key."""

from __future__ import annotations

from dataclasses import replace

from . import axolotl_0_20
from .profile import keys_file

PROFILE = replace(
    axolotl_0_20.PROFILE,
    version="0.21.0",
    transformers="5.20.1",
    peft="0.21.2",
    keys=keys_file("0.21.0"),
    ties_lora_output_embeddings=True,
    lora_fp32_gradients=True,
)
