"""Which LoraConfig choices a trainer has keys for: one table of the choices, one refusal for the missing ones.

A choice that changes what is trained (rank or alpha patterns, DoRA, extra trained tensors, an
initialisation other than PEFT's default, ...) and that a trainer cannot pass on has no faithful form:
the export is refused with a finding at the YAML key that made the choice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .core import Draft, Subject

# LoraConfig field -> whether the compiled config uses it (a value other than PEFT's default)
CHOICES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "rank_pattern": lambda c: bool(c.get("rank_pattern")),
    "alpha_pattern": lambda c: bool(c.get("alpha_pattern")),
    "use_dora": lambda c: bool(c.get("use_dora")),
    "use_rslora": lambda c: bool(c.get("use_rslora")),
    "modules_to_save": lambda c: bool(c.get("modules_to_save")),
    "trainable_token_indices": lambda c: bool(c.get("trainable_token_indices")),
    "target_parameters": lambda c: bool(c.get("target_parameters")),
    "layer_replication": lambda c: bool(c.get("layer_replication")),
    "init_lora_weights": lambda c: c.get("init_lora_weights", True) is not True,
    "ensure_weight_tying": lambda c: bool(c.get("ensure_weight_tying")),
    "lora_bias": lambda c: bool(c.get("lora_bias")),
}

_WHY = {
    "rank_pattern": "per-module ranks",
    "alpha_pattern": "per-module alphas",
    "use_dora": "DoRA",
    "use_rslora": "rank-stabilised scaling",
    "modules_to_save": "fully trained module copies",
    "trainable_token_indices": "trainable token rows",
    "target_parameters": "LoRA on parameters (MoE experts)",
    "layer_replication": "layer replication",
    "init_lora_weights": "this initialisation",
    "ensure_weight_tying": "tied adapter weights",
    "lora_bias": "a trained LoRA bias",
}


def used(config: dict[str, Any]) -> list[str]:
    return [name for name, test in CHOICES.items() if test(config)]


def refuse_missing(subject: Subject, draft: Draft, title: str, carried: set[str] | frozenset[str], hint: str) -> None:
    """One export-unexpressible finding per choice the compile uses and `title` has no key for, and one for
    Axolotl's post-load freezing (unfrozen_parameters, freeze_mm_modules), which no trainer's LoRA keys say."""
    if subject.report.freezing:
        key = "unfrozen_parameters" if subject.spec.unfrozen_parameters else "freeze_mm_modules"
        draft.refuse(
            subject,
            f"{title} has no key for Axolotl's post-load freezing ({key})",
            "it decides which LoRA and base parameters train after PEFT ran",
            key,
            "drop the key, or export --to peft and freeze the same parameters in your training code",
        )
    for name in used(subject.config):
        if name not in carried:
            value = subject.config[name]
            draft.refuse(
                subject,
                f"{title} has no key for {name} ({_WHY[name]}: {_short(value)})",
                "the trainer would train without it",
                name,
                hint,
            )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def precision(spec: Any) -> str | None:
    """The dtype Axolotl trains in, by its bf16/fp16 keys (bf16: auto taken as bf16, the GPU Axolotl picks it on)."""
    if spec.bf16:
        return "bfloat16"
    if spec.fp16:
        return "float16"
    return None
