"""Which part of a multimodal model a module belongs to, by its path (language model, vision, audio)."""

from __future__ import annotations

TOWER_PARTS = ("vision_tower", "vision_model", "visual", "vision_encoder", "image_encoder", "audio_tower",
               "audio_model", "audio_encoder", "multi_modal_projector", "mm_projector")


def tower_of(name: str) -> str | None:
    """The vision/audio component a module belongs to, or None for the language model."""
    return next((p for p in name.split(".") if p in TOWER_PARTS), None)
