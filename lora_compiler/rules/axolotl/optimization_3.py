"""Axolotl's FSDP and parallelism validators (OptimizationValidationMixin's FSDP checks,
DistributedValidationMixin, fsdp.py), checked from the YAML alone.

fsdp_config options are read as Axolotl reads them, with the deprecated `fsdp_` prefix stripped (`option`).
After-validators see fsdp_config as a pydantic model, so an empty `fsdp_config: {}` counts as set there while
before-validators treat it as unset. 0.19 read fsdp_version as its check_fsdp_version_in_fsdp_config left it
(unversioned meant FSDP1); 0.20 removed FSDP1, and the checks that looked at the version went with it.
"""

from __future__ import annotations

from ...results.findings import Severity
from .optimization import (
    MIXIN,
    UNTIED,
    Values,
    above_one,
    block,
    form,
    fsdp_version_0_19,
    optimizer,
    option,
    variants,
)
from .validator import Check, Found, Validator, out_of_scope, register

DISTRIBUTED = "utils/schemas/validation.py:DistributedValidationMixin."
PREFERENCE_RL = ("dpo", "kto", "orpo", "ipo")
BNB_ADAMW_8BIT = ("adamw_8bit", "adamw_bnb_8bit")


def pin_memory(fsdp1: bool) -> Check:
    """check_fsdp2_cpu_offload_pin_memory: turning pinned memory off needs offload_params (0.19: and FSDP2)."""

    def check(v: Values) -> Found | None:
        pinned, key = option(v, "cpu_offload_pin_memory")
        if not block(v) or pinned is not False:
            return None
        if fsdp1 and str(fsdp_version_0_19(v)) != "2":
            return "FSDP1 does not support disabling cpu_offload_pin_memory, please set `fsdp_version` to 2", key
        if not option(v, "offload_params")[0]:
            return "disabling cpu_offload_pin_memory requires enabling offload_params", key
        return None

    return check


def quantized_rl(fsdp1: bool) -> Check:
    """check_fsdp2_base_model_quant_rl: FSDP2 cannot shard a 4/8-bit base model for DPO, KTO, ORPO or IPO (0.19
    compared fsdp_version with 2; 0.20+ only has FSDP2, so any fsdp_config counts)."""

    def check(v: Values) -> Found | None:
        rl = v.get("rl")
        if rl not in PREFERENCE_RL or not (v.get("load_in_8bit") or v.get("load_in_4bit")):
            return None
        if not (fsdp_version_0_19(v) == 2 if fsdp1 else v.get("fsdp_config")):
            return None
        instead = "Please use DeepSpeed or set `fsdp_version` to 1." if fsdp1 else "Please use DeepSpeed instead."
        return (
            f"FSDP2 does not support load_in_8bit or load_in_4bit with {rl}. {instead}",
            "load_in_4bit" if v.get("load_in_4bit") else "load_in_8bit",
        )

    return check


def _prefix(v: Values) -> Found | None:
    key = next((k for k in block(v) if isinstance(k, str) and k.startswith("fsdp_") and k != "fsdp_version"), None)
    if key is None:
        return None
    return (
        "Configuring FSDP fields with the `fsdp_` prefix is deprecated. Please omit the `fsdp_` prefix from the any "
        "fields in `fsdp_config`.",
        ("fsdp_config", key),
    )


def _offload_8bit(v: Values) -> Found | None:
    """0.19's check_fsdp_offload_w_8bit_optimizer: FSDP1's CPU offload with an 8-bit optimizer."""
    name = optimizer(v)
    if not isinstance(v.get("fsdp_config"), dict) or not name or "8bit" not in str(name):
        return None
    if option(v, "offload_params")[0] and str(fsdp_version_0_19(v)) != "2":
        return f"FSDP Offload not compatible with {name}", "optimizer"
    return None


def bnb_8bit(fsdp1: bool) -> Check:
    """check_fsdp2_w_8bit_optimizer: bitsandbytes' 8-bit AdamW under FSDP2 (any fsdp_config since 0.20)."""

    def check(v: Values) -> Found | None:
        if not isinstance(v.get("fsdp_config"), dict) or v.get("optimizer") not in BNB_ADAMW_8BIT:
            return None
        if fsdp1 and str(fsdp_version_0_19(v)) != "2":
            return None
        return f"FSDP2 not compatible with {v.get('optimizer')}, use `adamw_torch_8bit` instead", "optimizer"

    return check


def _tensor_parallel_ram_efficient(v: Values) -> Found | None:
    """check_tensor_parallel_cpu_ram_efficient_loading (0.20+), which runs before qlora_sharded_model_loading is
    filled in, so only an explicit one (or the torchao backend) counts as staged NF4."""
    staged = v.get("nf4_backend") == "torchao" or (v.get("qlora_sharded_model_loading") and v.get("load_in_4bit"))
    efficient, key = option(v, "cpu_ram_efficient_loading")
    if above_one(v, "tensor_parallel_size") and not staged and isinstance(v.get("fsdp_config"), dict) and efficient:
        return (
            "fsdp_config.cpu_ram_efficient_loading is disabled with tensor_parallel_size > 1; each rank loads its own "
            "tensor-parallel shard directly",
            key,
        )
    return None


def tensor_expert_parallel(built_in: bool) -> Check:
    """check_tensor_parallel_expert_parallel (0.20+). expert_parallel_size is a schema key from 0.21; in 0.20 it
    exists only when `plugins:` lists the expert_parallel plugin (else pydantic drops it)."""

    def check(v: Values) -> Found | None:
        plugins = v.get("plugins")
        listed = isinstance(plugins, list) and any(
            str(p).startswith("axolotl.integrations.expert_parallel") for p in plugins
        )
        if (built_in or listed) and above_one(v, "tensor_parallel_size") and above_one(v, "expert_parallel_size"):
            return (
                "tensor_parallel_size > 1 cannot be combined with expert_parallel_size > 1; shard the experts with "
                "expert_parallel_size and the rest with dp_shard_size",
                "expert_parallel_size",
            )
        return None

    return check


def _size_based_wrap(v: Values) -> Found | None:
    policy, key = option(v, "auto_wrap_policy")
    if policy == "SIZE_BASED_WRAP" and option(v, "min_num_params")[0] is None:
        return "fsdp_config.min_num_params is required when auto_wrap_policy is SIZE_BASED_WRAP", key
    return None


FSDP2 = {"fsdp_version": 2}
QLORA = {"adapter": "qlora", "load_in_4bit": True}
DPO = {"rl": "dpo", **QLORA}
EP = {
    **UNTIED,
    "plugins": ["axolotl.integrations.expert_parallel.ExpertParallelPlugin"],
    "tensor_parallel_size": 2,
    "fsdp_config": {**FSDP2, "state_dict_type": "FULL_STATE_DICT"},
}

VALIDATORS: tuple[Validator, ...] = (
    *variants(
        Validator(
            "axolotl-fsdp-pin-memory",
            "fsdp_config.cpu_offload_pin_memory: false without offload_params (0.19: or under FSDP1).",
            MIXIN + "check_fsdp2_cpu_offload_pin_memory",
            pin_memory(True),
            "Set fsdp_config.offload_params: true (under fsdp_version: 2) when turning cpu_offload_pin_memory off, or "
            "drop cpu_offload_pin_memory.",
            until="0.20.0",
            refused={"fsdp_config": {"cpu_offload_pin_memory": False, "offload_params": True}},
            accepted={"fsdp_config": {**FSDP2, "cpu_offload_pin_memory": False, "offload_params": True}},
        ),
        form(
            pin_memory(False),
            {"fsdp_config": {"cpu_offload_pin_memory": False}},
            {"fsdp_config": {"cpu_offload_pin_memory": False, "offload_params": True}},
            "0.20.0",
        ),
    ),
    *variants(
        Validator(
            "axolotl-fsdp2-quantized-rl",
            "FSDP2 with load_in_4bit/load_in_8bit under DPO, KTO, ORPO or IPO.",
            MIXIN + "check_fsdp2_base_model_quant_rl",
            quantized_rl(True),
            "Use DeepSpeed for quantized DPO/KTO/ORPO/IPO, or drop load_in_4bit/load_in_8bit.",
            until="0.20.0",
            refused={**DPO, **FSDP2},
            accepted={**DPO, "fsdp_config": {"fsdp_version": 1}},
        ),
        form(quantized_rl(False), {**DPO, "fsdp_config": {**FSDP2}}, DPO, "0.20.0"),
    ),
    Validator(
        "axolotl-fsdp-prefix",
        "fsdp_config keys written with the deprecated fsdp_ prefix.",
        MIXIN + "check_fsdp_config_kwargs_prefix",
        _prefix,
        "Write fsdp_config keys without the fsdp_ prefix (offload_params, not fsdp_offload_params).",
        level=Severity.WARNING,
        refused={"fsdp_config": {**FSDP2, "fsdp_offload_params": False}},
        accepted={"fsdp_config": {**FSDP2, "offload_params": False}},
    ),
    Validator(
        "axolotl-fsdp1-offload-8bit",
        "FSDP1's offload_params with an 8-bit optimizer.",
        MIXIN + "check_fsdp_offload_w_8bit_optimizer",
        _offload_8bit,
        "Use fsdp_version: 2, or an optimizer that is not 8-bit, with offload_params.",
        until="0.20.0",
        refused={"optimizer": "adamw_torch_8bit", "fsdp_config": {"offload_params": True}},
        accepted={"optimizer": "adamw_torch_8bit", "fsdp_config": {**FSDP2, "offload_params": True}},
    ),
    *variants(
        Validator(
            "axolotl-fsdp2-bnb-optimizer",
            "FSDP2 with bitsandbytes' 8-bit AdamW (adamw_8bit, adamw_bnb_8bit).",
            MIXIN + "check_fsdp2_w_8bit_optimizer",
            bnb_8bit(True),
            "Use optimizer: adamw_torch_8bit under FSDP2.",
            until="0.20.0",
            refused={"optimizer": "adamw_bnb_8bit", "fsdp_config": {**FSDP2}},
            accepted={"optimizer": "adamw_torch_8bit", "fsdp_config": {**FSDP2}},
        ),
        form(
            bnb_8bit(False),
            {"optimizer": "adamw_8bit", "fsdp_config": {}},
            {"optimizer": "adamw_torch_8bit", "fsdp_config": {}},
            "0.20.0",
        ),
    ),
    Validator(
        "axolotl-tensor-parallel-ram-efficient",
        "tensor_parallel_size > 1 with fsdp_config.cpu_ram_efficient_loading: Axolotl turns it off.",
        DISTRIBUTED + "check_tensor_parallel_cpu_ram_efficient_loading",
        _tensor_parallel_ram_efficient,
        "Drop fsdp_config.cpu_ram_efficient_loading with tensor parallelism: each rank loads its own shard.",
        level=Severity.WARNING,
        since="0.20.0",
        refused={**UNTIED, "tensor_parallel_size": 2, "fsdp_config": {"cpu_ram_efficient_loading": True}},
        accepted={**UNTIED, "tensor_parallel_size": 2, "fsdp_config": {"cpu_ram_efficient_loading": False}},
    ),
    *variants(
        Validator(
            "axolotl-tensor-expert-parallel",
            "tensor_parallel_size > 1 with expert_parallel_size > 1.",
            DISTRIBUTED + "check_tensor_parallel_expert_parallel",
            tensor_expert_parallel(False),
            "Shard the experts with expert_parallel_size and the rest with dp_shard_size, without tensor parallelism.",
            since="0.20.0",
            until="0.21.0",
            refused={**EP, "expert_parallel_size": 2},
            accepted={**EP, "expert_parallel_size": 1},
        ),
        form(
            tensor_expert_parallel(True), {**EP, "expert_parallel_size": 2}, {**EP, "expert_parallel_size": 1}, "0.21.0"
        ),
    ),
    Validator(
        "axolotl-fsdp-size-wrap",
        "fsdp_config.auto_wrap_policy: SIZE_BASED_WRAP without min_num_params.",
        "utils/schemas/fsdp.py:FSDPConfig.validate_size_based_wrap",
        _size_based_wrap,
        "Set fsdp_config.min_num_params (the smallest module to wrap), or use TRANSFORMER_BASED_WRAP.",
        refused={"fsdp_config": {**FSDP2, "auto_wrap_policy": "SIZE_BASED_WRAP"}},
        accepted={"fsdp_config": {**FSDP2, "auto_wrap_policy": "SIZE_BASED_WRAP", "min_num_params": 100000000}},
    ),
)

register(VALIDATORS)

out_of_scope(
    {
        # rewrites the DeepSpeed JSON file the config names (adds autotp_size)
        MIXIN + "check_tensor_parallel_size_update_ds_json": "environment",
        # `axolotl train` turns datasets into dataset models before validation, so this never sees a mapping
        "utils/schemas/validation.py:EBFTValidationMixin.check_ebft_strided_dataset_split": "no-effect",
        # 0.19's ValidationMixin leaves DistributedValidationMixin out, so its check never runs (0.20+: mirrored)
        DISTRIBUTED + "check_tensor_parallel_optimizer": "no-effect",
    }
)
