"""AxolotlInputConfig's own start-up validators about attention (axolotl/utils/schemas/config.py), checked from the
YAML alone; config_input_2.py holds the others.

The mode="after" ones see the config after the mode="before" validators ran: a legacy attention flag
(`sage_attention: true`) has become attn_implementation (backends.chosen), and sample packing or a reward model
has filled in pad_to_sequence_len (`padded`, used here and in config_input_2.py).
"""

from __future__ import annotations

from typing import Any

from ...results.findings import Severity
from .backends import CANONICAL_ATTN, SHORT_ATTN, chosen
from .validator import Found, Validator, Values, register, when

CONFIG = "utils/schemas/config.py:AxolotlInputConfig."


def padded(v: Values) -> Any:
    """pad_to_sequence_len after hint_sample_packing_padding and hint_reward_model_pad fill it in."""
    pad = v.get("pad_to_sequence_len")
    return True if pad is None and (v.get("sample_packing") or v.get("reward_model")) else pad


def large_head(v: Values) -> Found | None:
    value = v.get("large_head_attention")
    valid = ["auto", "sdpa", "triton_flash"]
    if value is not None and str(value).lower() not in valid:
        return f"large_head_attention must be one of {valid}, got {value!r}", "large_head_attention"
    return None


def attn_name(canonical: frozenset[str]) -> Any:
    """validate_attn_implementation: a canonical name or a hub-kernel path; short forms are refused by name."""

    def check(v: Values) -> Found | None:
        value = v.get("attn_implementation")
        if value is None:
            return None
        if not isinstance(value, str):
            return f"attn_implementation must be a string, got {type(value).__name__}", "attn_implementation"
        if value in canonical or "/" in value:
            return None
        if value in SHORT_ATTN:
            return (
                f"attn_implementation={value!r} is not accepted. Use the canonical name {SHORT_ATTN[value]!r} instead.",
                "attn_implementation",
            )
        return (
            f"attn_implementation={value!r} is not a recognized backend. Expected one of: {sorted(canonical)}, or "
            "a hub-kernel path containing '/'.",
            "attn_implementation",
        )

    return check


def flash_attention_torch(transformers: str) -> Any:
    """The preflight asks the installed transformers; the release pins one that does not register the backend."""
    return when(
        lambda v: chosen(v)[0] == "flash_attention_torch",
        "attn_implementation=flash_attention_torch requires a transformers release that registers torch's varlen "
        "attention backend (https://github.com/huggingface/transformers/pull/45153). Installed transformers is "
        f"{transformers}.",
        "attn_implementation",
    )


SAGE = {"attn_implementation": "sage"}
VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-large-head-attention",
        "A large_head_attention other than auto, sdpa or triton_flash.",
        CONFIG + "validate_large_head_attention",
        large_head,
        fix="Set large_head_attention to auto, sdpa or triton_flash.",
        refused={"large_head_attention": "triton"},
        accepted={"large_head_attention": "Triton_Flash"},
    ),
    Validator(
        "axolotl-attn-implementation",
        "An attn_implementation that is not a backend Axolotl knows or a hub-kernel path.",
        CONFIG + "validate_attn_implementation",
        attn_name(CANONICAL_ATTN),
        fix="Use a canonical backend name (flash_attention_2, sdpa, flex_attention, ...) or a hub path with '/'.",
        until="0.21.0",
        refused={"attn_implementation": "flash"},
        accepted={"attn_implementation": "kernels-community/flash-attn3"},
    ),
    Validator(
        "axolotl-attn-implementation",
        "An attn_implementation that is not a backend Axolotl knows or a hub-kernel path.",
        CONFIG + "validate_attn_implementation",
        attn_name(CANONICAL_ATTN | {"varlen"}),
        fix="Use a canonical backend name (flash_attention_2, sdpa, flex_attention, ...) or a hub path with '/'.",
        since="0.21.0",
        refused={"attn_implementation": "flash"},
        accepted={"attn_implementation": "kernels-community/flash-attn3"},
    ),
    Validator(
        "axolotl-sage-without-padding",
        "SageAttention without sample packing or pad_to_sequence_len.",
        CONFIG + "check_sageattn_wo_sample_packing",
        when(
            lambda v: chosen(v)[0] == "sage" and not v.get("sample_packing") and not padded(v),
            "We recommend turning on `pad_to_sequence_len` for SageAttention without packing. The loss has been "
            "observed to explode otherwise.",
            lambda v: chosen(v)[1],
        ),
        fix="Set pad_to_sequence_len: true (or sample_packing: true) with SageAttention.",
        level=Severity.WARNING,
        refused=SAGE,
        accepted={**SAGE, "pad_to_sequence_len": True},
    ),
    Validator(
        "axolotl-sage-full-finetune",
        "SageAttention in a full fine-tune.",
        CONFIG + "check_sageattn_fft",
        when(
            lambda v: chosen(v)[0] == "sage" and not v.get("adapter"),
            "SageAttention full finetuning has been observed to drop loss to 0. Monitor the loss, or switch to "
            "LoRA/QLoRA or another attention method.",
            lambda v: chosen(v)[1],
        ),
        fix="Train an adapter (lora, qlora) with SageAttention, or choose another attention backend.",
        level=Severity.WARNING,
        refused={**SAGE, "pad_to_sequence_len": True, "adapter": None},
        accepted={**SAGE, "pad_to_sequence_len": True},
    ),
    *(
        Validator(
            "axolotl-flash-attention-torch",
            "attn_implementation flash_attention_torch, which the release's transformers does not register.",
            CONFIG + "check_flash_attention_torch_preflight",
            flash_attention_torch(transformers),
            fix="Choose another backend (flash_attention_2, sdpa, ...) with this release.",
            since=since,
            until=until,
            refused={"attn_implementation": "flash_attention_torch"},
            accepted={"attn_implementation": "flash_attention_2"},
        )
        for since, until, transformers in (
            ("0.19.0", "0.20.0", "5.16.1"),
            ("0.20.0", "0.21.0", "5.17.0"),
            ("0.21.0", None, "5.20.1"),
        )
    ),
)

register(VALIDATORS)
