"""Axolotl's optimizer validators (OptimizationValidationMixin's optimizer checks), checked from the YAML alone,
and the helpers optimization_2.py and optimization_3.py share.

Before-validators read the raw YAML; after-validators read pydantic's values, so their conditions fill in
the field defaults (optimizer: adamw_torch_fused). 0.19 also refused FSDP1 for several optimizers, reading
fsdp_version as its check_fsdp_version_in_fsdp_config (which runs first) leaves it: `fsdp_version_0_19`.
A validator whose condition or message changed between releases has one form per release range.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ...results.findings import Severity
from .conditions_0_20 import unprefixed
from .validator import OLDEST, Check, Found, Validator, register
from .validator import when as _when

Values = Mapping[str, Any]
OPTIMIZER_DEFAULT = "adamw_torch_fused"  # training.py: optimizer's default
MIXIN = "utils/schemas/validation.py:OptimizationValidationMixin."


def block(v: Values, key: str = "fsdp_config") -> dict[str, Any]:
    """A mapping-valued key as written, or {} (a wrong type is the type rule's)."""
    value = v.get(key)
    return value if isinstance(value, dict) else {}


def option(v: Values, name: str) -> tuple[Any, Any]:
    """An fsdp_config option as Axolotl reads it (its `fsdp_` prefix stripped) and the key path it is written at."""
    found: tuple[Any, Any] = (None, "fsdp_config" if "fsdp_config" in v else "fsdp")
    for key, value in block(v).items():
        if unprefixed(key) == name:
            found = (value, ("fsdp_config", key))
    return found


def fsdp_version_0_19(v: Values) -> Any:
    """fsdp_version after 0.19's check_fsdp_version_in_fsdp_config: the top-level one, else fsdp_config's version
    or fsdp_version, else 1 whenever fsdp_config is set (an unversioned fsdp_config meant FSDP1)."""
    config = block(v)
    if not config:
        return v.get("fsdp_version")
    return v.get("fsdp_version") or config.get("version") or config.get("fsdp_version") or 1


def resolved_0_19(v: Values) -> Any:
    """0.19's _resolve_fsdp_version, which the optimizer checks call after that normalisation."""
    version = fsdp_version_0_19(v)
    return 1 if version is None else version


def version_key(v: Values) -> Any:
    """Where the config writes its FSDP version (else the FSDP block itself)."""
    if v.get("fsdp_version"):
        return "fsdp_version"
    config = block(v)
    for key in ("version", "fsdp_version"):
        if config.get(key):
            return ("fsdp_config", key)
    return next((k for k in ("fsdp_version", "fsdp_config", "fsdp") if k in v), "fsdp_config")


def fsdp1_0_19(v: Values) -> bool:
    """0.19: FSDP is configured (the fsdp list or fsdp_config) at a version other than 2."""
    return bool(v.get("fsdp") or v.get("fsdp_config")) and str(resolved_0_19(v)) != "2"


def size(v: Values, *keys: str) -> float | None:
    """`(v[k1] or v[k2] or 1)` as Axolotl compares it with 1; None when it is not a number."""
    value = next((v.get(k) for k in keys if v.get(k)), None) or 1
    return value if isinstance(value, (int, float)) else None


def above_one(v: Values, *keys: str) -> bool:
    value = size(v, *keys)
    return value is not None and value > 1


def optimizer(v: Values) -> Any:
    """The optimizer after defaults (an explicit null stays None)."""
    return v["optimizer"] if "optimizer" in v else OPTIMIZER_DEFAULT


def past(refusals: Check, cond: Callable[[Values], Any], message: str, key: Any) -> Check:
    """A warning or rewrite that Axolotl reaches only when none of the same validator's refusals fired."""
    return _when(lambda v: cond(v) and not refusals(v), message, key)


def form(
    check: Check, refused: Mapping[str, Any], accepted: Mapping[str, Any], since: str = OLDEST, until: str | None = None
) -> dict[str, Any]:
    """One release range's form of a validator: its check, examples and releases."""
    return {"check": check, "refused": refused, "accepted": accepted, "since": since, "until": until}


def variants(first: Validator, *forms: dict[str, Any]) -> tuple[Validator, ...]:
    """A validator's forms: the first declared in full, the later ones changing only its check, examples and
    releases."""
    return (first, *(replace(first, **f) for f in forms))


def _adamw_params(v: Values) -> Found | None:
    given = next((k for k in ("adam_beta1", "adam_beta2", "adam_epsilon") if v.get(k)), None)
    if given and (not optimizer(v) or "adamw" not in str(optimizer(v)).lower()):
        return "adamw hyperparameters found, but no adamw optimizer set", given
    return None


def muon(names: tuple[str, ...], fsdp1: bool) -> Check:
    """check_muon_deepspeed_fsdp: Muon refuses DeepSpeed (and, in 0.19, FSDP1)."""

    def check(v: Values) -> Found | None:
        if v.get("optimizer") not in names:
            return None
        if v.get("deepspeed"):
            return "Muon optimizer is currently incompatible with DeepSpeed", "optimizer"
        if fsdp1 and fsdp1_0_19(v):
            return (
                "Muon optimizer is only compatible with FSDP2. Set fsdp_version: 2 to use Muon with FSDP.",
                version_key(v),
            )
        return None

    return check


POLORA_UNTRAINED = (
    "lora_modules_to_save",
    "unfrozen_parameters",
    "peft_use_dora",
    "peft_trainable_token_indices",
    "lisa_step_interval",
    "reward_model",
    "process_reward_model",
)
POLORA_IGNORED_LRS = ("loraplus_lr_ratio", "lr_groups", "embedding_lr", "embedding_lr_scale")


def polora(fsdp1: bool) -> Check:
    """check_polora's refusals, in Axolotl's order (0.19 also refused FSDP1)."""

    def check(v: Values) -> Found | None:
        if v.get("optimizer") != "polora":
            return None
        if v.get("adapter") not in ("lora", "qlora"):
            return (
                "polora only updates LoRA (A, B) factors and requires adapter: lora or qlora.",
                "adapter" if "adapter" in v else "optimizer",
            )
        if v.get("deepspeed") or above_one(v, "tensor_parallel_size"):
            return (
                "polora is not compatible with DeepSpeed or tensor parallelism. Use single-GPU, DDP, or FSDP2.",
                "deepspeed" if v.get("deepspeed") else "tensor_parallel_size",
            )
        if fsdp1 and fsdp1_0_19(v):
            return "polora requires FSDP2. Set fsdp_version: 2 to use polora with FSDP.", version_key(v)
        untrained = [k for k in POLORA_UNTRAINED if v.get(k)]
        if untrained:
            return (
                f"polora has no fallback optimizer, so the parameters added by {untrained} would never be trained. "
                "Remove them or pick a different optimizer.",
                untrained[0],
            )
        ignored = [k for k in POLORA_IGNORED_LRS if v.get(k)]
        if ignored:
            return (
                f"polora sets its own per-factor step size, so {ignored} would be silently ignored. Remove them or "
                "pick a different optimizer.",
                ignored[0],
            )
        if v.get("relora_steps"):
            return (
                "relora resets optimizer state through Optimizer.state, which polora does not use, so its momentum "
                "would survive every merge.",
                "relora_steps",
            )
        return None

    return check


def qgalore(fsdp1: bool) -> Check:
    """check_qgalore's refusals (0.19 also required FSDP2 with use_orig_params)."""

    def check(v: Values) -> Found | None:
        if v.get("optimizer") != "q_galore_adamw8bit":
            return None
        if v.get("adapter"):
            return (
                "q_galore_adamw8bit operates on full-precision parameters and is incompatible with "
                f"adapter='{v.get('adapter')}'. Remove the adapter setting or pick a different optimizer.",
                "adapter",
            )
        if v.get("deepspeed"):
            instead = "Use DDP or FSDP2 with use_orig_params=True." if fsdp1 else "Use DDP or FSDP2."
            return f"q_galore_adamw8bit is not yet validated with DeepSpeed. {instead}", "deepspeed"
        if fsdp1 and (v.get("fsdp") or v.get("fsdp_config")):
            if str(resolved_0_19(v)) != "2":
                return "q_galore_adamw8bit requires FSDP2. Set fsdp_version: 2.", version_key(v)
            value, key = option(v, "use_orig_params")
            if value is not True:
                return (
                    "q_galore_adamw8bit requires fsdp_config.use_orig_params=True so that per-parameter projection "
                    "state survives FSDP sharding.",
                    key,
                )
        return None

    return check


def flash(fsdp1: bool) -> Check:
    """check_flashoptim_deepspeed_fsdp: flash_* optimizers refuse DeepSpeed (and, in 0.19, FSDP1)."""

    def check(v: Values) -> Found | None:
        name = v.get("optimizer") or ""
        if not str(name).startswith("flash_"):
            return None
        if v.get("deepspeed"):
            return (
                f"{name} optimizer is incompatible with DeepSpeed. Flash optimizers only support DDP and FSDP2.",
                "optimizer",
            )
        if fsdp1 and fsdp1_0_19(v):
            return (
                f"{name} optimizer is only compatible with FSDP2. Set fsdp_version: 2 to use flash optimizers with FSDP.",
                version_key(v),
            )
        return None

    return check


NO_ADAPTER = {"adapter": None, "lora_r": None, "lora_alpha": None, "lora_target_linear": None, "bf16": True}
FSDP1_0_19 = {"fsdp_config": {"fsdp_version": 1, "offload_params": False}}
FSDP2 = {"fsdp_config": {"fsdp_version": 2, "offload_params": False}}
DEEPSPEED = {"deepspeed": "deepspeed_configs/zero2.json"}
# tensor parallelism refuses a model with tied embeddings (normalize_config), as the base example's Llama-3.2-1B
UNTIED = {"base_model": "meta-llama/Llama-3.1-8B"}
MUON_FIX = "Train Muon with DDP or FSDP2 (fsdp_version: 2), or pick another optimizer for DeepSpeed."
POLORA_FIX = (
    "Use polora with adapter lora or qlora, without DeepSpeed, tensor parallelism, modules_to_save, DoRA, per-group "
    "learning rates or ReLoRA; or pick another optimizer."
)


def _past_refusals(fsdp1: bool, since: str, until: str | None) -> tuple[Validator, ...]:
    """The warnings and the default polora's and q_galore's validators reach past their refusals (0.19's refusals
    include FSDP1)."""
    polora_refusals, qgalore_refusals = polora(fsdp1), qgalore(fsdp1)
    qgalore_examples = {"optimizer": "q_galore_adamw8bit", **NO_ADAPTER}
    return (
        Validator(
            "axolotl-polora-weight-decay",
            "weight_decay with the polora optimizer, which has no weight decay term.",
            MIXIN + "check_polora",
            past(
                polora_refusals,
                lambda v: v.get("optimizer") == "polora" and v.get("weight_decay"),
                "polora has no weight decay term; weight_decay is ignored.",
                "weight_decay",
            ),
            "Drop weight_decay (polora ignores it), or pick an optimizer with weight decay.",
            level=Severity.WARNING,
            since=since,
            until=until,
            refused={"optimizer": "polora", "weight_decay": 0.01},
            accepted={"optimizer": "polora", "weight_decay": 0.0},
        ),
        Validator(
            "axolotl-qgalore-precision",
            "q_galore_adamw8bit without bf16/fp16, which negates its memory savings.",
            MIXIN + "check_qgalore",
            past(
                qgalore_refusals,
                lambda v: (
                    v.get("optimizer") == "q_galore_adamw8bit"
                    and not (v.get("bf16") or v.get("bfloat16") or v.get("fp16"))
                ),
                "q_galore_adamw8bit benefits from mixed-precision (bf16/fp16). Running in fp32 will negate most "
                "of the memory savings.",
                "optimizer",
            ),
            "Train in bf16 (or fp16) with q_galore_adamw8bit.",
            level=Severity.WARNING,
            since=since,
            until=until,
            refused={**qgalore_examples, "bf16": None},
            accepted=qgalore_examples,
        ),
        Validator(
            "axolotl-qgalore-target-modules",
            "q_galore_adamw8bit without optim_target_modules: Axolotl projects the attn and mlp modules.",
            MIXIN + "check_qgalore",
            past(
                qgalore_refusals,
                lambda v: v.get("optimizer") == "q_galore_adamw8bit" and v.get("optim_target_modules") is None,
                "q_galore_adamw8bit without optim_target_modules: Axolotl sets optim_target_modules: ['attn', "
                "'mlp'], so Q-GaLore projects the 2-D weights whose names contain attn or mlp",
                "optimizer",
            ),
            "Write optim_target_modules explicitly (the name parts of the weights Q-GaLore should project).",
            level=Severity.INFO,
            since=since,
            until=until,
            refused=qgalore_examples,
            accepted={**qgalore_examples, "optim_target_modules": ["attn", "mlp"]},
        ),
    )


VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-adamw-params",
        "adam_beta1/adam_beta2/adam_epsilon with an optimizer that is not AdamW.",
        MIXIN + "check_adamw_optimizer_params",
        _adamw_params,
        "Drop the adam_* keys, or use an AdamW optimizer (they only tune AdamW).",
        level=Severity.WARNING,
        refused={"optimizer": "lion_8bit", "adam_beta2": 0.95},
        accepted={"optimizer": "paged_adamw_8bit", "adam_beta2": 0.95},
    ),
    *variants(
        Validator(
            "axolotl-muon-distributed",
            "The Muon optimizer with DeepSpeed (0.19: or FSDP1).",
            MIXIN + "check_muon_deepspeed_fsdp",
            muon(("muon",), True),
            MUON_FIX,
            until="0.20.0",
            refused={"optimizer": "muon", **FSDP1_0_19},
            accepted={"optimizer": "muon", **FSDP2},
        ),
        form(
            muon(("muon",), False),
            {"optimizer": "muon", **DEEPSPEED},
            {"optimizer": "muon_8bit", **DEEPSPEED},
            "0.20.0",
            "0.21.0",
        ),
        form(
            muon(("muon", "muon_8bit"), False),
            {"optimizer": "muon_8bit", **DEEPSPEED},
            {"optimizer": "muon_8bit", **FSDP2},
            "0.21.0",
        ),
    ),
    *variants(
        Validator(
            "axolotl-polora",
            "The polora optimizer without LoRA, with DeepSpeed/TP, or with settings it would ignore.",
            MIXIN + "check_polora",
            polora(True),
            POLORA_FIX,
            until="0.20.0",
            refused={"optimizer": "polora", **FSDP1_0_19},
            accepted={"optimizer": "polora", **FSDP2},
        ),
        form(
            polora(False),
            {"optimizer": "polora", "peft_use_dora": True},
            {"optimizer": "polora", "peft_use_dora": False},
            "0.20.0",
        ),
    ),
    *variants(
        Validator(
            "axolotl-qgalore",
            "The q_galore_adamw8bit optimizer with an adapter or DeepSpeed (0.19: or without FSDP2's use_orig_params).",
            MIXIN + "check_qgalore",
            qgalore(True),
            "Use q_galore_adamw8bit for full fine-tuning (no adapter) under DDP or FSDP2; or pick another optimizer.",
            until="0.20.0",
            refused={"optimizer": "q_galore_adamw8bit", **NO_ADAPTER, **FSDP2},
            accepted={
                "optimizer": "q_galore_adamw8bit",
                **NO_ADAPTER,
                "fsdp_config": {"fsdp_version": 2, "use_orig_params": True},
            },
        ),
        form(
            qgalore(False),
            {"optimizer": "q_galore_adamw8bit", **NO_ADAPTER, **DEEPSPEED},
            {"optimizer": "q_galore_adamw8bit", **NO_ADAPTER},
            "0.20.0",
        ),
    ),
    *variants(
        Validator(
            "axolotl-flash-optimizer",
            "A flash_* optimizer with DeepSpeed (0.19: or FSDP1).",
            MIXIN + "check_flashoptim_deepspeed_fsdp",
            flash(True),
            "Train flash optimizers with DDP or FSDP2 (fsdp_version: 2), or pick another optimizer for DeepSpeed.",
            until="0.20.0",
            refused={"optimizer": "flash_adamw", **FSDP1_0_19},
            accepted={"optimizer": "flash_adamw", **FSDP2},
        ),
        form(flash(False), {"optimizer": "flash_adamw", **DEEPSPEED}, {"optimizer": "flash_adamw", **FSDP2}, "0.20.0"),
    ),
    *_past_refusals(True, OLDEST, "0.20.0"),
    *_past_refusals(False, "0.20.0", None),
)

register(VALIDATORS)
