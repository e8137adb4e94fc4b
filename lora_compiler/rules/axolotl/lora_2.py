"""Axolotl's start-up validators on how a LoRA/QLoRA run is distributed and loaded: FSDP (and FSDP1's
removal), DeepSpeed, CPU-staged NF4 loading, expert parallelism, and EBFT's compile mode.

Same form as lora.py (which holds the adapter's own validators); the conditions are in conditions.py and
conditions_0_20.py.
"""

from __future__ import annotations

from ...results.findings import Severity
from . import conditions as condition
from . import conditions_0_20 as release
from .validator import Validator, register
from .validator import when as _when

EP = ["axolotl.integrations.expert_parallel.ExpertParallelPlugin"]
FSDP2 = {"fsdp_version": 2, "fsdp_config": {"reshard_after_forward": True}}
STAGED = {
    "adapter": "qlora",
    "load_in_4bit": True,
    "fsdp_version": 2,
    "fsdp_config": {"cpu_ram_efficient_loading": True},
}

VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-fsdp-deepspeed",
        "deepspeed with FSDP (0.19: the fsdp list; 0.20+: fsdp_config).",
        "utils/schemas/validation.py:SystemValidationMixin.check_fsdp_deepspeed",
        _when(lambda v: v.get("deepspeed") and v.get("fsdp"), "deepspeed and fsdp cannot be used together.", "fsdp"),
        fix="Choose one of deepspeed and FSDP.",
        until="0.20.0",
        refused={"deepspeed": {"zero_optimization": {"stage": 2}}, "fsdp": ["full_shard"]},
        accepted={"deepspeed": {"zero_optimization": {"stage": 2}}},
    ),
    Validator(
        "axolotl-fsdp-deepspeed",
        "deepspeed with FSDP (0.19: the fsdp list; 0.20+: fsdp_config).",
        "utils/schemas/validation.py:SystemValidationMixin.check_fsdp_deepspeed",
        _when(
            lambda v: v.get("deepspeed") and v.get("fsdp_config"),
            "deepspeed and fsdp cannot be used together.",
            "fsdp_config",
        ),
        fix="Choose one of deepspeed and FSDP.",
        since="0.20.0",
        refused={"deepspeed": {"zero_optimization": {"stage": 2}}, **FSDP2},
        accepted={"deepspeed": {"zero_optimization": {"stage": 2}}},
    ),
    Validator(
        "axolotl-fsdp1-deprecated",
        "fsdp_config on FSDP1 (fsdp_version unset or not 2).",
        "utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp_version, "
        "utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp_version_in_fsdp_config",
        release.fsdp1_deprecated,
        fix="Set fsdp_version: 2 and move to FSDP2's options (reshard_after_forward for sharding_strategy).",
        level=Severity.WARNING,
        until="0.20.0",
        refused={"fsdp_config": {"reshard_after_forward": True}},
        accepted=FSDP2,
    ),
    Validator(
        "axolotl-fsdp1-removed",
        "FSDP1 settings: the fsdp list, fsdp_version other than 2, sharding_strategy.",
        "utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp_version, utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp_version_in_fsdp_config",
        release.fsdp1_removed,
        fix="Move to FSDP2: fsdp_config with fsdp_version: 2 and its reshard_after_forward.",
        since="0.20.0",
        refused={"fsdp_version": 1, "fsdp_config": {"reshard_after_forward": True}},
        accepted=FSDP2,
    ),
    Validator(
        "axolotl-fsdp1-ignored-key",
        "An FSDP1-only fsdp_config key FSDP2 ignores (sync_module_states, backward_prefetch, ...).",
        "utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp_version",
        release.fsdp1_ignored,
        fix="Remove the key: FSDP2 has no such option and Axolotl drops it.",
        level=Severity.WARNING,
        since="0.20.0",
        refused={"fsdp_version": 2, "fsdp_config": {"reshard_after_forward": True, "sync_module_states": True}},
        accepted=FSDP2,
    ),
    Validator(
        "axolotl-staged-nf4",
        "4-bit loading with FSDP2's cpu_ram_efficient_loading, or CPU-staged NF4 with a setting it does not support.",
        "utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp2_cpu_ram_efficient_loading_w_4bit",
        release.ram_efficient_4bit_fsdp2,
        fix="Turn cpu_ram_efficient_loading off for 4-bit FSDP2 runs, or drop the setting the message names.",
        until="0.20.0",
        refused=STAGED,
        accepted={**STAGED, "fsdp_config": {"cpu_ram_efficient_loading": False}},
    ),
    Validator(
        "axolotl-staged-nf4",
        "4-bit loading with FSDP2's cpu_ram_efficient_loading, or CPU-staged NF4 with a setting it does not support.",
        "utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp2_cpu_ram_efficient_loading_w_4bit, utils/schemas/validation.py:OptimizationValidationMixin.check_bnb_blocksize, utils/schemas/validation.py:OptimizationValidationMixin.check_staged_nf4",
        lambda v: release.staged_nf4(v, expert=True),
        fix="Turn cpu_ram_efficient_loading off for 4-bit FSDP2 runs, or drop the setting the message names.",
        since="0.20.0",
        until="0.21.0",
        refused={**STAGED, "qlora_sharded_model_loading": False},
        accepted=STAGED,
    ),
    Validator(
        "axolotl-staged-nf4",
        "4-bit loading with FSDP2's cpu_ram_efficient_loading, or CPU-staged NF4 with a setting it does not support.",
        "utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp2_cpu_ram_efficient_loading_w_4bit, utils/schemas/validation.py:OptimizationValidationMixin.check_bnb_blocksize, utils/schemas/validation.py:OptimizationValidationMixin.check_staged_nf4",
        release.staged_nf4,
        fix="Turn cpu_ram_efficient_loading off for 4-bit FSDP2 runs, or drop the setting the message names.",
        since="0.21.0",
        refused={**STAGED, "lora_modules_to_save": ["lm_head"]},
        accepted=STAGED,
    ),
    Validator(
        "axolotl-staged-nf4-no-effect",
        "qlora_sharded_model_loading: true without FSDP's cpu_ram_efficient_loading.",
        "utils/schemas/validation.py:OptimizationValidationMixin.check_staged_nf4",
        release.staged_no_effect,
        fix="Add fsdp_config with cpu_ram_efficient_loading: true for CPU-staged loading, or drop qlora_sharded_model_loading.",
        level=Severity.WARNING,
        since="0.20.0",
        refused={"adapter": "qlora", "load_in_4bit": True, "qlora_sharded_model_loading": True},
        accepted={"adapter": "qlora", "load_in_4bit": True},
    ),
    Validator(
        "axolotl-ebft-torch-compile",
        "EBFT strided mode with torch_compile and gradient checkpointing.",
        "utils/schemas/validation.py:EBFTValidationMixin.check_ebft_torch_compile",
        condition.ebft_torch_compile,
        fix="Turn torch_compile or gradient checkpointing off for EBFT's strided mode.",
        refused={"rl": "ebft", "ebft": {"mode": "strided"}, "torch_compile": True, "gradient_checkpointing": True},
        accepted={"rl": "ebft", "ebft": {"mode": "strided"}, "gradient_checkpointing": True},
    ),
    Validator(
        "axolotl-ebft-torch-compile-recompiles",
        "EBFT strided mode with torch_compile.",
        "utils/schemas/validation.py:EBFTValidationMixin.check_ebft_torch_compile",
        condition.ebft_recompiles,
        fix="Drop torch_compile: flex_attention compiles itself.",
        level=Severity.WARNING,
        refused={"rl": "ebft", "ebft": {"mode": "strided"}, "torch_compile": True},
        accepted={"rl": "ebft", "ebft": {"mode": "strided"}},
    ),
    Validator(
        "axolotl-expert-parallel",
        "expert_parallel_size > 1 without FSDP2 and full state dicts.",
        "integrations/expert_parallel/args.py:validate_expert_parallel_topology",
        release.expert_parallel_plugin,
        fix="Use FSDP2 with full state dicts when expert_parallel_size is above 1.",
        since="0.20.0",
        until="0.21.0",
        refused={"plugins": EP, "expert_parallel_size": 2},
        accepted={"plugins": EP, "expert_parallel_size": 1},
    ),
    Validator(
        "axolotl-expert-parallel",
        "expert_parallel_size > 1 without FSDP2 and full state dicts.",
        "integrations/expert_parallel/args.py:validate_expert_parallel_topology",
        release.expert_parallel_builtin,
        fix="Use FSDP2 with full state dicts when expert_parallel_size is above 1.",
        since="0.21.0",
        refused={"expert_parallel_size": 2},
        accepted={"expert_parallel_size": 1},
    ),
)

register(VALIDATORS)
