"""The validators of the diffusion, diffusion_decision and CoreWeave plugins, checked while each is listed.

0.21 turned the diffusion plugin into a shim whose register() (run by prepare_plugins, on the raw YAML,
before validation) translates the legacy `diffusion` block into the core `diffusion_lm`; the decision and
CoreWeave plugins check their settings in register() as well as in their pydantic blocks (after-validators,
so the nested blocks' field defaults are restated here).
"""

from __future__ import annotations

import math
from typing import Any

from ...results.findings import Severity
from .plugins import gated, number, whole
from .validator import Found, Validator, Values, register

# utils/schemas/diffusion.py DiffusionConfig defaults (the legacy block's fields), then DiffusionLMConfig's own
DIFFUSION = {
    "noise_schedule": "linear",
    "min_mask_ratio": 0.1,
    "max_mask_ratio": 0.9,
    "num_diffusion_steps": 128,
    "eps": 1e-3,
    "importance_weighting": True,
    "mask_token_id": None,
    "mask_token_str": None,
    "generate_samples": True,
    "generation_interval": 100,
    "num_generation_samples": 3,
    "generation_steps": 128,
    "generation_temperature": 0.0,
    "generation_max_length": 100,
}
DIFFUSION_LM = {
    "from_causal_lm": False,
    "canvas_width": None,
    "t_eps": None,
    "time_weighting": None,
    "objective_reduction": None,
    "cart_p": None,
    "token_reweighting": False,
    "alpha": 0.25,
    "gamma": 2.0,
    "rhine_weight_clip": None,
    "treat_eos_as_one": None,
    "eos_tail": None,
    "overflow_policy": "error",
    "allow_native_vocab_resize": False,
    "self_conditioning": None,
    "unroll": None,
    "encoder_ar_weight": None,
}
ROLLOUT_SAMPLING = (("top_k", (None, 0, -1)), ("min_p", (None, 0)), ("repetition_penalty", (None, 1)))
COREWEAVE_REQUIRED = ("deployment_id", "bucket", "path_prefix", "gateway_url", "model")
COREWEAVE_FIELDS = (
    *COREWEAVE_REQUIRED,
    *("api_url", "api_token_env", "s3_endpoint_url", "s3_profile", "timeout", "poll_interval", "max_deltas"),
    *("max_shard_size", "rollouts", "async_publish"),
)


def _block(v: Values, key: str) -> dict[str, Any]:
    value = v.get(key)
    return value if isinstance(value, dict) else {}


def mask_ratios(block: dict[str, Any]) -> Found | None:
    low, high = block.get("min_mask_ratio", 0.1), block.get("max_mask_ratio", 0.9)
    if number(low) and number(high) and low > high:
        return "min_mask_ratio must be ≤ max_mask_ratio", ("diffusion", "min_mask_ratio")
    return None


def _legacy_applies(v: Values) -> bool:
    return v.get("diffusion") is not None or v.get("diffusion_lm") is None


def _fractional_warmup(v: Values) -> bool:
    warmup = v.get("warmup_steps")
    return isinstance(warmup, float) and 0 < warmup < 1


def _conflicts(legacy: dict[str, Any], canonical: dict[str, Any]) -> bool:
    """The translated legacy block differs from diffusion_lm (DiffusionLMConfig dumps, defaults filled)."""
    if canonical.get("from_causal_lm") is not True:
        return True
    for key, default in DIFFUSION.items():
        if legacy.get(key, default) != canonical.get(key, default):
            return True
    return any(
        canonical.get(key, default) != default for key, default in DIFFUSION_LM.items() if key != "from_causal_lm"
    )


def diffusion_0_21(v: Values) -> Found | None:
    """DiffusionPlugin.register (0.21): the legacy block's translation into diffusion_lm, which it refuses."""
    legacy, canonical = v.get("diffusion"), v.get("diffusion_lm")
    if _legacy_applies(v) and _fractional_warmup(v):
        ratio = v.get("warmup_ratio")
        if ratio is not None and ratio != v["warmup_steps"]:
            message = "Legacy diffusion fractional warmup_steps conflicts with an explicit warmup_ratio. Use only warmup_ratio."
            return message, "warmup_steps"
    if legacy is None and isinstance(canonical, dict):
        if not canonical.get("from_causal_lm"):
            return (
                "The legacy diffusion plugin supports only `diffusion_lm.from_causal_lm: true`; remove the plugin for "
                "native diffusion_lm configuration.",
                "diffusion_lm",
            )
        return None
    if legacy is not None and not isinstance(legacy, dict):
        return None
    found = mask_ratios(legacy or {})
    if found:
        return found
    if isinstance(canonical, dict) and _conflicts(legacy or {}, canonical):
        return (
            "Configure only one of `diffusion` and `diffusion_lm`; the legacy diffusion plugin cannot translate "
            "conflicting blocks.",
            "diffusion_lm",
        )
    return None


def diffusion_warned(v: Values) -> Found | None:
    """DiffusionPlugin.register's warnings (0.21), when it did not refuse: what it rewrote, then the deprecation."""
    if diffusion_0_21(v) or not _legacy_applies(v):
        return None
    if v.get("save_strategy") == "best" and v.get("metric_for_best_model") is None:
        message = "Legacy diffusion configuration normalization: save_strategy: best now uses metric_for_best_model: eval_loss"
        return message, "save_strategy"
    if _fractional_warmup(v):
        message = f"Legacy diffusion configuration normalization: fractional warmup_steps: {v['warmup_steps']} now uses warmup_ratio"
        return message, "warmup_steps"
    return "`diffusion` is deprecated; use `diffusion_lm` instead.", "diffusion" if "diffusion" in v else "plugins"


def _finite_positive(values: Any) -> bool:
    return all(bool(k) and number(x) and math.isfinite(x) and x > 0 for k, x in values.items())


def _mixture(m: dict[str, Any]) -> str | None:
    weights, temperature, cap = m.get("weights"), m.get("temperature"), m.get("max_examples_per_source")
    if weights is not None and temperature is not None:
        return "mixture specifies explicit weights or temperature, not both"
    if number(temperature) and not math.isfinite(temperature):
        return "mixture temperature must be finite"
    for name, values in (("weights", weights or {}), ("loss_weight", m.get("loss_weight") or {})):
        if isinstance(values, dict) and not all(values):
            return f"mixture {name} source names must be nonempty"
        if isinstance(values, dict) and not _finite_positive(values):
            return f"mixture {name} values must be finite and positive"
    if isinstance(cap, int) and not isinstance(cap, bool) and cap < 1:
        return "mixture max_examples_per_source must be positive"
    if isinstance(cap, dict) and not all(
        k and isinstance(x, int) and not isinstance(x, bool) and x >= 1 for k, x in cap.items()
    ):
        return "mixture max_examples_per_source requires nonempty names and positive caps"
    if m.get("premixed"):
        clash = [k for k in ("weights", "temperature", "max_examples_per_source") if m.get(k) is not None]
        clash += ["per_batch_stratified"] if m.get("per_batch_stratified", True) else []
        if clash:
            return "mixture premixed=true cannot be combined with " + ", ".join(clash)
    return None


def _labels(labels: dict[str, Any]) -> str | None:
    brier = labels.get("brier_weight", 0.1)
    if number(brier) and not math.isfinite(brier):
        return "labels brier_weight must be finite"
    if labels.get("hard_label_smoothing") and labels.get("full_ce_weighting", "ce") == "dft":
        return "hard_label_smoothing requires full_ce_weighting=ce"
    return None


def _latent(latent: dict[str, Any]) -> str | None:
    mode, slots, ids = latent.get("mode", "none"), latent.get("num_slots", 0), latent.get("token_ids") or []
    policy, sample = latent.get("free_update_policy"), latent.get("sample_num_slots")
    checks = (
        (any(number(i) and i < 0 for i in ids), "latent token_ids must be nonnegative"),
        (mode == "none" and bool(slots or ids), "latent mode=none requires num_slots=0 and no token_ids"),
        (bool(sample) and mode == "none", "sample_num_slots requires a non-none latent mode"),
        (bool(sample) and number(slots) and slots < 1, "sample_num_slots requires num_slots to be positive"),
        (mode == "free" and policy != "argmax", "latent mode=free requires free_update_policy=argmax"),
        (mode != "free" and policy is not None, "free_update_policy is valid only for latent mode=free"),
    )
    return next((message for violated, message in checks if violated), None)


def _decision_block(d: dict[str, Any]) -> Found | None:
    for key, check in (("mixture", _mixture), ("labels", _labels), ("latent", _latent)):
        problem = check(d[key]) if isinstance(d.get(key), dict) else None
        if problem:
            return problem, ("diffusion_decision", key)
    if isinstance(d.get("carry"), dict) and d["carry"].get("enabled"):
        return "decision carry is not wired for training", ("diffusion_decision", "carry", "enabled")
    fraction, image = d.get("read_fraction", 1.0), d.get("max_image_size", 1400)
    if number(fraction) and not math.isfinite(fraction):
        return "read_fraction must be finite", ("diffusion_decision", "read_fraction")
    if number(fraction) and not 0.0 <= fraction <= 1.0:
        return "read_fraction must be in [0, 1]", ("diffusion_decision", "read_fraction")
    if number(image) and image % 28:
        return "max_image_size must be a multiple of 28", ("diffusion_decision", "max_image_size")
    if any(number(i) and i < 0 for i in d.get("canvas_prefix_ids") or []):
        return "canvas_prefix_ids must be nonnegative", ("diffusion_decision", "canvas_prefix_ids")
    return None


def _positive_int(x: Any) -> bool:
    return whole(x) and x > 0


def decision(v: Values) -> Found | None:
    """DiffusionDecisionPlugin.register (0.21): the block's own validators, then what the plugin requires."""
    block = v.get("diffusion_decision")
    if not isinstance(block, dict):
        return None
    found = _decision_block(block)
    if found:
        return found
    if v.get("diffusion_lm") is None:
        return "diffusion_decision requires native diffusion_lm settings", "diffusion_decision"
    if isinstance(v["diffusion_lm"], dict) and v["diffusion_lm"].get("from_causal_lm"):
        return "diffusion_decision does not support diffusion_lm.from_causal_lm", ("diffusion_lm", "from_causal_lm")
    flattening, micro, length = v.get("batch_flattening"), v.get("micro_batch_size"), v.get("sequence_len")
    if v.get("sample_packing"):
        if not (_positive_int(length) and _positive_int(micro)):
            message = "diffusion_decision sample_packing requires positive sequence_len and micro_batch_size"
            return message, "sample_packing"
        return None
    if flattening is False and isinstance(micro, int) and micro > 1:
        return (
            "diffusion_decision fixed logical batches require batch_flattening: true when micro_batch_size is greater "
            "than one",
            "batch_flattening",
        )
    if flattening is True and not (_positive_int(length) and _positive_int(micro)):
        return (
            "diffusion_decision fixed logical batches require positive logical length, physical budget, and micro "
            "batch size",
            "batch_flattening",
        )
    return None


def coreweave(v: Values) -> Found | None:
    """CoreWeavePlugin.register (0.21, on the raw YAML): publishing and rollout requirements, in its order."""
    block = v.get("coreweave")
    if not block:
        return "CoreWeavePlugin requires a coreweave configuration", "plugins"
    if v.get("adapter") not in (None, "lora") or v.get("load_in_4bit") or v.get("load_in_8bit"):
        return "CoreWeave publishing requires full model weights or unquantized BF16 LoRA", "adapter"
    if not isinstance(block, dict):
        return None
    missing = [k for k in COREWEAVE_REQUIRED if k not in block]
    if missing:
        return f"coreweave.{missing[0]}: Field required", "coreweave"
    extra = [k for k in block if k not in COREWEAVE_FIELDS]
    if extra:
        return f"coreweave.{extra[0]}: Extra inputs are not permitted", ("coreweave", extra[0])
    rollouts = bool(block.get("rollouts"))
    if v.get("adapter") == "lora":
        if not v.get("base_model") or not v.get("bf16"):
            return "CoreWeave LoRA publishing requires base_model and bf16: true", "bf16"
        if rollouts:
            return "CoreWeave LoRA publishing supports checkpoint saves only", ("coreweave", "rollouts")
        if v.get("save_safetensors") is False or v.get("trust_remote_code"):
            message = "CoreWeave LoRA publishing requires safetensors and a built-in model architecture"
            return message, "save_safetensors" if v.get("save_safetensors") is False else "trust_remote_code"
    return _rollouts(v) if rollouts else None


def _rollouts(v: Values) -> Found | None:
    trl = _block(v, "trl")
    cp = v.get("context_parallel_size") or 1
    temperature = trl.get("temperature")
    checks: list[tuple[bool, str, Any]] = [
        (v.get("rl") != "grpo", "CoreWeave rollouts currently require rl: grpo", "rl"),
        (
            (number(cp) and cp > 1) or bool(trl.get("async_prefetch") or trl.get("use_data_producer")),
            "CoreWeave rollouts require synchronous GRPO without context parallelism",
            "trl",
        ),
        (bool(trl.get("use_vllm")), "Set trl.use_vllm: false when using CoreWeave rollouts", ("trl", "use_vllm")),
        (
            number(temperature) and temperature <= 0,
            "CoreWeave rollouts require a positive temperature",
            ("trl", "temperature"),
        ),
        (
            bool(v.get("is_multimodal") or v.get("nemo_gym_enabled")),
            "CoreWeave rollouts require text-only GRPO without another rollout plugin",
            "is_multimodal" if v.get("is_multimodal") else "nemo_gym_enabled",
        ),
        (
            any(trl.get(k) not in allowed for k, allowed in ROLLOUT_SAMPLING),
            "CoreWeave rollouts support temperature and top_p sampling",
            "trl",
        ),
    ]
    return next(((message, key) for violated, message, key in checks if violated), None)


_DIFF = {"plugins": ["axolotl.integrations.diffusion.DiffusionPlugin"]}
_DEC = {
    # a native diffusion checkpoint: normalize_config refuses diffusion_lm on a causal model type (llama)
    "base_model": "GSAI-ML/LLaDA-8B-Instruct",
    "plugins": ["axolotl.integrations.diffusion_decision.DiffusionDecisionPlugin"],
    "diffusion_lm": {"canvas_width": 256},
}
_CW = {
    "plugins": ["axolotl.integrations.coreweave.CoreWeavePlugin"],
    "bf16": True,
    "coreweave": {"deployment_id": "d", "bucket": "b", "path_prefix": "p", "gateway_url": "https://g", "model": "m"},
}
DIFFUSION_SOURCE = "integrations/diffusion/plugin.py:DiffusionPlugin.register"

VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-diffusion-mask-ratios",
        "The legacy diffusion block with min_mask_ratio above max_mask_ratio.",
        "integrations/diffusion/args.py:DiffusionConfig._validate_mask_ratios",
        gated("diffusion", lambda v: mask_ratios(_block(v, "diffusion"))),
        fix="Keep diffusion.min_mask_ratio at or below diffusion.max_mask_ratio.",
        until="0.21.0",
        refused={**_DIFF, "diffusion": {"min_mask_ratio": 0.95}},
        accepted={**_DIFF, "diffusion": {"min_mask_ratio": 0.5}},
    ),
    Validator(
        "axolotl-diffusion-legacy",
        "The deprecated diffusion plugin: its legacy block, or one that conflicts with diffusion_lm.",
        DIFFUSION_SOURCE,
        gated("diffusion", diffusion_0_21),
        fix="Move the settings to diffusion_lm with from_causal_lm: true and drop the diffusion block (keep the "
        "plugin only for from_causal_lm).",
        since="0.21.0",
        refused={**_DIFF, "diffusion_lm": {"canvas_width": 128}},
        accepted={**_DIFF, "diffusion_lm": {"from_causal_lm": True}},
    ),
    Validator(
        "axolotl-diffusion-legacy",
        "The deprecated diffusion plugin: its legacy block, or one that conflicts with diffusion_lm.",
        DIFFUSION_SOURCE,
        gated("diffusion", diffusion_warned),
        fix="Move the settings to diffusion_lm with from_causal_lm: true and drop the diffusion block.",
        level=Severity.WARNING,
        since="0.21.0",
        refused={**_DIFF, "diffusion": {"max_mask_ratio": 0.8}},
        accepted={**_DIFF, "diffusion_lm": {"from_causal_lm": True}},
    ),
    Validator(
        "axolotl-diffusion-decision",
        "A diffusion_decision block its plugin refuses.",
        "integrations/diffusion_decision/plugin.py:DiffusionDecisionPlugin.register, "
        "integrations/diffusion_decision/args.py:DecisionMixtureConfig.validate_weights, "
        "integrations/diffusion_decision/args.py:DecisionLabelsConfig.validate_brier_weight, "
        "integrations/diffusion_decision/args.py:DecisionLatentConfig.validate_slots, "
        "integrations/diffusion_decision/args.py:DecisionCarryConfig.reject_enabled, "
        "integrations/diffusion_decision/args.py:DiffusionDecisionConfig.validate_read_fraction",
        gated("diffusion_decision", decision),
        fix="Change the setting the message names; diffusion_decision needs native diffusion_lm settings.",
        since="0.21.0",
        refused={**_DEC, "diffusion_decision": {"mixture": {"premixed": True}}},
        accepted={**_DEC, "diffusion_decision": {"mixture": {"premixed": True, "per_batch_stratified": False}}},
    ),
    Validator(
        "axolotl-coreweave",
        "CoreWeave publishing without its block, with a quantized or non-LoRA adapter, or rollouts it cannot run.",
        "integrations/coreweave/plugin.py:CoreWeavePlugin.register",
        gated("coreweave", coreweave),
        fix="Add a complete coreweave block, train bf16 LoRA (or the full model), and meet the rollout requirements "
        "the message names.",
        since="0.21.0",
        refused={**_CW, "bf16": None},
        accepted=_CW,
    ),
)

register(VALIDATORS)
