"""Axolotl's start-up validators of preference and RL training (rl:, trl:), from the YAML alone.

Each entry mirrors one validator of RLValidationMixin or GRPOVllmValidationMixin
(`axolotl/utils/schemas/validation.py`). RLValidationMixin's run on the raw YAML (mode="before");
GRPOVllmValidationMixin's and check_dpo_use_liger_kernel see pydantic's values (trl.use_vllm defaults
to false, trl.vllm_mode to none). Where Axolotl reads the GPU count, lint judges the single-GPU run.
"""

from __future__ import annotations

from math import gcd
from typing import Any, TypeGuard

from ...results.findings import Severity
from .validator import Check, Found, Validator, Values, out_of_scope, register, when

RL = "utils/schemas/validation.py:RLValidationMixin."
VLLM = "utils/schemas/validation.py:GRPOVllmValidationMixin."
DPO = {"rl": "dpo", "datasets": [{"path": "Intel/orca_dpo_pairs", "type": "chatml.intel"}]}
KTO = {"rl": "kto", "datasets": [{"path": "argilla/ultrafeedback-binarized-preferences", "type": "llama3.ultra"}]}
GRPO = {"rl": "grpo", "datasets": [{"path": "openai/gsm8k", "name": "main", "type": "rewards.gsm8k"}]}


def _trl(v: Values) -> dict[str, Any]:
    block = v.get("trl")
    return block if isinstance(block, dict) else {}


def _int(x: Any) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


def kto(v: Values) -> Found | None:
    if v.get("rl") != "kto":
        return None
    for key in ("sample_packing", "eval_sample_packing"):
        if v.get(key):
            return "sample_packing is not supported with kto", key
    if v.get("remove_unused_columns") is not False:
        return "Set `remove_unused_columns: False` when using kto", "remove_unused_columns"
    return None


def context_parallel(v: Values, synced: bool) -> tuple[Any, Any]:
    """(the context-parallel degree Axolotl's RL checks read, the key that sets it). From 0.20 the built-in
    context_parallel plugin first copies context_parallel.size or sequence_parallel_degree into
    context_parallel_size; 0.19 reads context_parallel_size alone."""
    block = v.get("context_parallel")
    if synced and isinstance(block, dict) and block.get("size") is not None:
        return block["size"], ("context_parallel", "size")
    if v.get("context_parallel_size") is None and synced and v.get("sequence_parallel_degree") is not None:
        return v["sequence_parallel_degree"], "sequence_parallel_degree"
    return v.get("context_parallel_size", 1), "context_parallel_size"


def grpo_liger(synced: bool) -> Check:
    def check(v: Values) -> Found | None:
        size, key = context_parallel(v, synced)
        if v.get("rl") == "grpo" and _trl(v).get("use_liger_loss") and _int(size) and size > 1:
            return "GRPO + SP + Liger not currently supported", key
        return None

    return check


def dpo_losses(v: Values) -> Found | None:
    """check_dpo's refusals: loss weights need loss types of the same length, and both need rl: dpo."""
    kinds, weights, rl = v.get("dpo_loss_type"), v.get("dpo_loss_weights"), v.get("rl")
    if rl == "dpo":
        if weights is not None and kinds is None:
            return "`dpo_loss_weights` requires `dpo_loss_type` to be set", "dpo_loss_weights"
        if isinstance(kinds, list) and isinstance(weights, list) and len(kinds) != len(weights):
            return (
                "`dpo_loss_type` and `dpo_loss_weights` must be the same length, but got "
                f"{len(kinds)} losses and {len(weights)} weights",
                "dpo_loss_weights",
            )
    elif kinds is not None or weights is not None:
        return (
            f"`dpo_loss_type` and `dpo_loss_weights` are for DPO only,but got {rl=}, dpo_loss_type={kinds!r} and "
            f"dpo_loss_weights={weights!r}",
            "dpo_loss_type" if kinds is not None else "dpo_loss_weights",
        )
    return None


def _first_loss(v: Values) -> Any:
    kinds = v.get("dpo_loss_type")
    return kinds[0] if isinstance(kinds, list) and kinds else None


def dpo_liger_ipo(v: Values) -> bool:
    return bool(v.get("dpo_use_liger_kernel")) and (v.get("rl") == "ipo" or _first_loss(v) == "ipo")


def dpo_liger_losses(v: Values) -> Found | None:
    kinds = v.get("dpo_loss_type")
    if v.get("dpo_use_liger_kernel") and not dpo_liger_ipo(v) and isinstance(kinds, list) and len(kinds) > 1:
        return (
            f"`dpo_use_liger_kernel` uses only the first entry of `dpo_loss_type` ({kinds[0]!r}); remaining entries "
            "are ignored on the liger loss path.",
            "dpo_loss_type",
        )
    return None


def grpo_batch(scaled: bool) -> Check:
    """check_grpo_batch_size_divisibility on one GPU; `scaled` is 0.21's wording of the fix."""

    def check(v: Values) -> Found | None:
        trl = _trl(v)
        count = trl.get("num_generations")
        if v.get("rl") != "grpo" or not _int(count):
            return None
        if count < 2:
            return (
                f"GRPO requires `trl.num_generations >= 2` (got {count}). With num_generations=1, every group has "
                "zero advantage and the policy never updates.",
                ("trl", "num_generations"),
            )
        explicit, mb, ga = (
            trl.get("generation_batch_size"),
            v.get("micro_batch_size") or 1,
            v.get("gradient_accumulation_steps") or 1,
        )
        if explicit is not None:
            if not _int(explicit) or explicit % count == 0:
                return None
            batch, source, hint = explicit, "trl.generation_batch_size", ""
        else:
            if not (_int(mb) and _int(ga)) or (mb * ga) % count == 0:
                return None
            fix = count // gcd(count, mb)
            then = "the generation batch size" if scaled else "micro_batch_size * GA ="
            batch, source = mb * ga, f"micro_batch_size ({mb}) * gradient_accumulation_steps ({ga})"
            hint = (
                f" Smallest fix: set `gradient_accumulation_steps: {fix}` (so {then} {mb * fix} is a multiple of "
                f"{count})."
            )
        return (
            f"GRPO: generation batch size must be divisible by `trl.num_generations`. Got effective_gbs={batch} "
            f"(from {source}) and num_generations={count}.{hint}",
            ("trl", "generation_batch_size") if explicit is not None else "gradient_accumulation_steps",
        )

    return check


def _colocate(v: Values) -> bool:
    trl = _trl(v)
    return bool(trl.get("use_vllm")) and trl.get("vllm_mode") == "colocate"


def colocate(v: Values) -> Found | None:
    """check_vllm_colocate_compat's refusals, in its order."""
    if not _colocate(v):
        return None
    trl = _trl(v)
    size, key = context_parallel(v, synced=True)
    if _int(size) and size > 1:
        return (
            "`vllm_mode: colocate` is not supported with `context_parallel_size > 1`. Use `vllm_mode: server` with a "
            "dedicated vLLM GPU.",
            key,
        )
    if trl.get("vllm_lora_sync"):
        return (
            "`vllm_lora_sync: true` requires `vllm_mode: server` (adapters are pushed over HTTP to the vLLM server). "
            "In colocate mode, remove `vllm_lora_sync`; weights are merged and loaded into the colocated engine "
            "directly.",
            ("trl", "vllm_lora_sync"),
        )
    if (trl.get("async_prefetch") or trl.get("use_data_producer")) and v.get("adapter"):
        return (
            "`vllm_mode: colocate` with an adapter is not supported by the async GRPO trainer (`async_prefetch` / "
            "`use_data_producer`): its LoRA weight sync only targets a vLLM server. Remove those options or use "
            "`vllm_mode: server`.",
            ("trl", "async_prefetch" if trl.get("async_prefetch") else "use_data_producer"),
        )
    return None


def colocate_max_len(v: Values) -> bool:
    vllm = v.get("vllm")
    return _colocate(v) and not colocate(v) and not (isinstance(vllm, dict) and vllm.get("max_model_len"))


LIGER = {"trl": {"use_liger_loss": True, "num_generations": 2}, "gradient_accumulation_steps": 2}
VLLM_TRL = {"use_vllm": True, "vllm_mode": "colocate", "num_generations": 2}
COLOCATE = {**GRPO, "gradient_accumulation_steps": 2, "vllm": {"max_model_len": 1024}}
VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-sample-packing-rl",
        "sample_packing with rl (preference/RL training).",
        RL + "check_sample_packing_w_rl",
        when(
            lambda v: v.get("sample_packing") and v.get("rl"),
            "`sample_packing: true` does not work with RLHF training",
            "sample_packing",
        ),
        fix="Set sample_packing: false for rl training.",
        refused={**DPO, "sample_packing": True},
        accepted={**DPO, "sample_packing": False},
    ),
    Validator(
        "axolotl-kto-config",
        "rl: kto with sample packing, or without remove_unused_columns: false.",
        RL + "check_kto_config",
        kto,
        fix="For KTO set remove_unused_columns: false and turn sample_packing and eval_sample_packing off.",
        refused={**KTO},
        accepted={**KTO, "remove_unused_columns": False},
    ),
    *(
        Validator(
            "axolotl-grpo-liger-context-parallel",
            "GRPO with trl.use_liger_loss and a context-parallel degree above 1.",
            RL + entry,
            grpo_liger(synced),
            fix="Turn trl.use_liger_loss off, or train without context parallelism.",
            since=since,
            until=until,
            refused={**GRPO, **LIGER, "context_parallel_size": 2},
            accepted={**GRPO, **LIGER},
        )
        for entry, synced, since, until in (
            ("check_grpo_liger_sequence_parallel", False, "0.19.0", "0.20.0"),
            ("check_grpo_liger_sequence_parallel", True, "0.20.0", "0.21.0"),
            ("check_grpo_liger_context_parallel", True, "0.21.0", None),
        )
    ),
    Validator(
        "axolotl-gdpo-aggregation",
        "rl: gdpo with trl.multi_objective_aggregation: sum_then_normalize (that is GRPO's).",
        RL + "check_gdpo",
        when(
            lambda v: v.get("rl") == "gdpo" and _trl(v).get("multi_objective_aggregation") == "sum_then_normalize",
            "`multi_objective_aggregation` value set as `sum_then_normalize` => GRPO, but GDPO was selected",
            ("trl", "multi_objective_aggregation"),
        ),
        fix="Use multi_objective_aggregation: normalize_then_sum with GDPO, or rl: grpo.",
        refused={**GRPO, "rl": "gdpo", "trl": {"multi_objective_aggregation": "sum_then_normalize"}},
        accepted={**GRPO, "rl": "gdpo", "trl": {"multi_objective_aggregation": "normalize_then_sum"}},
    ),
    Validator(
        "axolotl-rl-ipo-deprecated",
        "rl: ipo, deprecated for rl: dpo with dpo_loss_type: [ipo].",
        RL + "check_dpo",
        when(
            lambda v: v.get("rl") == "ipo",
            "rl: ipo will soon be deprecated. Use `rl: dpo` with `dpo_loss_type: ['ipo']` instead.",
            "rl",
        ),
        fix="Write rl: dpo with dpo_loss_type: [ipo].",
        level=Severity.WARNING,
        refused={**DPO, "rl": "ipo"},
        accepted={**DPO, "dpo_loss_type": ["ipo"]},
    ),
    Validator(
        "axolotl-dpo-loss-weights",
        "dpo_loss_type/dpo_loss_weights outside rl: dpo, or weights without types of the same length.",
        RL + "check_dpo",
        dpo_losses,
        fix="Use dpo_loss_type (and dpo_loss_weights, one per loss) only with rl: dpo.",
        refused={**DPO, "dpo_loss_type": ["sigmoid", "sft"], "dpo_loss_weights": [1.0]},
        accepted={**DPO, "dpo_loss_type": ["sigmoid", "sft"], "dpo_loss_weights": [1.0, 0.5]},
    ),
    Validator(
        "axolotl-dpo-liger-ipo",
        "dpo_use_liger_kernel with the ipo loss.",
        RL + "check_dpo_use_liger_kernel",
        when(
            dpo_liger_ipo,
            "`dpo_use_liger_kernel` does not support the `ipo` loss type (liger-kernel's fused DPO loss cannot "
            "length-normalize the squared margin). Disable the liger kernel or use another loss.",
            "dpo_use_liger_kernel",
        ),
        fix="Turn dpo_use_liger_kernel off for the ipo loss, or choose another loss.",
        until="0.21.0",
        refused={**DPO, "dpo_use_liger_kernel": True, "dpo_loss_type": ["ipo"]},
        accepted={**DPO, "dpo_use_liger_kernel": True, "dpo_loss_type": ["sigmoid"]},
    ),
    Validator(
        "axolotl-dpo-liger-first-loss",
        "dpo_use_liger_kernel with several dpo_loss_type entries: only the first is used.",
        RL + "check_dpo_use_liger_kernel",
        dpo_liger_losses,
        fix="Keep one loss in dpo_loss_type with the liger kernel, or turn dpo_use_liger_kernel off.",
        level=Severity.WARNING,
        until="0.21.0",
        refused={**DPO, "dpo_use_liger_kernel": True, "dpo_loss_type": ["sigmoid", "sft"]},
        accepted={**DPO, "dpo_use_liger_kernel": True, "dpo_loss_type": ["sigmoid"]},
    ),
    Validator(
        "axolotl-grpo-generation-batch",
        "GRPO's trl.num_generations below 2, or not dividing the generation batch of a one-GPU run.",
        RL + "check_grpo_batch_size_divisibility",
        grpo_batch(scaled=False),
        fix="Make the generation batch (micro_batch_size * gradient_accumulation_steps, or "
        "trl.generation_batch_size) a multiple of trl.num_generations, which must be at least 2.",
        until="0.21.0",
        refused={**GRPO, "trl": {"num_generations": 4}, "gradient_accumulation_steps": 2},
        accepted={**GRPO, "trl": {"num_generations": 4}, "gradient_accumulation_steps": 4},
    ),
    Validator(
        "axolotl-grpo-generation-batch",
        "GRPO's trl.num_generations below 2, or not dividing the generation batch of a one-GPU run.",
        RL + "check_grpo_batch_size_divisibility",
        grpo_batch(scaled=True),
        fix="Make the generation batch (micro_batch_size * gradient_accumulation_steps, or "
        "trl.generation_batch_size) a multiple of trl.num_generations, which must be at least 2.",
        since="0.21.0",
        refused={**GRPO, "trl": {"num_generations": 4}, "gradient_accumulation_steps": 2},
        accepted={**GRPO, "trl": {"num_generations": 4}, "gradient_accumulation_steps": 4},
    ),
    Validator(
        "axolotl-vllm-mode-default",
        "trl.use_vllm without trl.vllm_mode, which Axolotl sets to server.",
        VLLM + "check_vllm_mode_set",
        when(
            lambda v: _trl(v).get("use_vllm") and not _trl(v).get("vllm_mode"),
            "vllm_mode must be set to either `server` or `colocate` when using vllm, using default value `server`",
            ("trl", "use_vllm"),
        ),
        fix="Set trl.vllm_mode: server (a separate vLLM server) or colocate (vLLM on the training GPU).",
        level=Severity.WARNING,
        refused={**GRPO, "trl": {"use_vllm": True, "num_generations": 2}, "gradient_accumulation_steps": 2},
        accepted={
            **GRPO,
            "trl": {"use_vllm": True, "vllm_mode": "server", "num_generations": 2},
            "gradient_accumulation_steps": 2,
        },
    ),
    Validator(
        "axolotl-vllm-colocate",
        "trl.vllm_mode: colocate with context parallelism, vllm_lora_sync, or an async trainer with an adapter.",
        VLLM + "check_vllm_colocate_compat",
        colocate,
        fix="Use trl.vllm_mode: server, or drop the option the message names.",
        since="0.21.0",
        refused={**COLOCATE, "trl": {**VLLM_TRL, "vllm_lora_sync": True}},
        accepted={**COLOCATE, "trl": {**VLLM_TRL, "vllm_lora_sync": False}},
    ),
    Validator(
        "axolotl-vllm-colocate-max-model-len",
        "trl.vllm_mode: colocate without vllm.max_model_len.",
        VLLM + "check_vllm_colocate_compat",
        when(
            colocate_max_len,
            "Set `vllm.max_model_len` (longest prompt + max_completion_length) for `vllm_mode: colocate`; otherwise "
            "vLLM reserves KV cache for the model's full context and may fail to start on the shared GPU.",
            ("trl", "vllm_mode"),
        ),
        fix="Set vllm.max_model_len to the longest prompt plus max_completion_length.",
        level=Severity.WARNING,
        since="0.21.0",
        refused={**COLOCATE, "trl": VLLM_TRL, "vllm": None},
        accepted={**COLOCATE, "trl": VLLM_TRL},
    ),
)

register(VALIDATORS)
out_of_scope({RL + "check_rl_config_gradient_checkpointing": "gpu"})  # refuses only when the run has more than 1 GPU
