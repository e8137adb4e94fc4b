"""Shared test helpers: tiny model directories and YAML files written into tmp dirs."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# No test may reach the Hugging Face Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Keep the compile cache out of the user's cache directory (tests that study it set their own).
os.environ["LORA_COMPILER_CACHE_DIR"] = tempfile.mkdtemp(prefix="lora-compiler-test-cache-")

REPO = Path(__file__).resolve().parent.parent


def _suite_profile() -> str:
    """The suite judges with the Axolotl release whose libraries it runs on (tests about another release pin it),
    so a run on Axolotl 0.19's stack is not a run of 0.21's semantics on the wrong libraries."""
    from lora_compiler.profiles import NEWEST, of_stack

    return (of_stack() or NEWEST).version


os.environ.setdefault("LORA_COMPILER_AXOLOTL", _suite_profile())


def _major_minor(dist: str) -> tuple[int, int]:
    from importlib.metadata import version

    return tuple(int(x) for x in re.findall(r"\d+", version(dist))[:2])  # type: ignore[return-value]


# Expectations written for transformers 5 layouts (fused MoE experts, gpt_neox lm_head, ...) and PEFT 0.20
# behaviour; on the older supported stack (transformers 4.57, peft 0.17) such tests are skipped, not failed.
MODERN_STACK = _major_minor("transformers") >= (5, 0) and _major_minor("peft") >= (0, 20)
needs_modern_stack = pytest.mark.skipif(not MODERN_STACK, reason="expects transformers 5 layouts and peft >= 0.20")

# The minimal dataset an Axolotl config needs: without `datasets` (or `pretraining_dataset`) Axolotl refuses the
# config at start-up (axolotl-no-datasets), so a test about something else gives its config this one.
DATASETS: list[dict[str, str]] = [{"path": "mhenrichsen/alpaca_2k_test", "type": "alpaca"}]
DATASETS_YAML = "datasets:\n  - path: mhenrichsen/alpaca_2k_test\n    type: alpaca\n"

TINY: dict[str, dict[str, Any]] = {
    "llama": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=128,
    ),
    "mixtral": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=128,
        num_local_experts=4,
        num_experts_per_tok=2,
    ),
    "gpt_neox": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, vocab_size=128),
    "falcon": dict(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        vocab_size=128,
        new_decoder_architecture=False,
        multi_query=True,
    ),
    "gpt2": dict(n_embd=64, n_layer=2, n_head=4, vocab_size=128, n_positions=64),
    "phi3": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=128,
        pad_token_id=0,
    ),
    "gemma3": dict(
        text_config=dict(
            model_type="gemma3_text",
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            vocab_size=300,
            sliding_window=32,
        ),
        vision_config=dict(
            model_type="siglip_vision_model",
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=56,
            patch_size=14,
        ),
        mm_tokens_per_image=4,
        image_token_index=299,
        boi_token_index=297,
        eoi_token_index=298,
    ),
}


@pytest.fixture
def model_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write a tiny config.json of a real architecture; returns the directory (a local base_model)."""

    def make(model_type: str, **overrides: Any) -> Path:
        from transformers import AutoConfig

        config = AutoConfig.for_model(model_type, **{**TINY[model_type], **overrides})
        out = tmp_path / f"tiny-{model_type}"
        config.save_pretrained(out)
        return out

    return make


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(text: str, name: str = "train.yml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
