"""lora-compiler: what an Axolotl LoRA config will do, decided on a meta-device skeleton."""

from __future__ import annotations

from typing import Any

from .version import __version__

__all__ = ["LoraCompilerError", "compile_config", "load_lora", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must not import torch, transformers or peft.
    if name == "compile_config":
        from .api import compile_config

        return compile_config
    if name == "load_lora":
        from .api import load_lora

        return load_lora
    if name == "LoraCompilerError":  # what load_lora raises, with the findings that say why
        from .features.runtime import LoraCompilerError

        return LoraCompilerError
    raise AttributeError(name)
