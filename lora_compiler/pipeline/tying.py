"""Tied LoRA output embeddings (Axolotl 0.21's utils/lora_tying.py, called at the end of load_lora).

With peft_ensure_weight_tying on a model that ties its input and output embeddings, PEFT builds the
head's LoRA as new Parameters over views of the embedding's LoRA, so it counts them twice. Axolotl 0.21
replaces the head's lora_A/lora_B by parameterless views of the embedding adapter: one set of weights,
whose gradient sums both uses, counted once. Releases without it (profile.ties_lora_output_embeddings)
train and count what PEFT built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..model_facts import output_layer_name, ties_embeddings
from ..profiles import Profile


def tied_head_params(model: Any, modules: Sequence[Any], ensure_weight_tying: bool | None, profile: Profile) -> int:
    """The head's LoRA parameters that Axolotl turns into views of the embedding adapter (0: nothing is tied)."""
    if not (profile.ties_lora_output_embeddings and ensure_weight_tying and ties_embeddings(model.config)):
        return 0
    try:
        embedding = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        return 0
    embedding_name = next((n for n, m in model.named_modules() if m is embedding), None)
    head = output_layer_name(model)
    wrapped = {m.name: m for m in modules if m.kind == "module"}
    if embedding_name not in wrapped or head not in wrapped:
        return 0  # Axolotl leaves the head untied when the embedding carries no LoRA
    return int(wrapped[head].params)
