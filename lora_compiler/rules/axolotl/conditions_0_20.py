"""Start-up checks that Axolotl 0.20 added (FSDP1's removal, target-parameter inits, staged NF4, MixLoRA).

Each function is one validator's condition in YAML keys, returning (Axolotl's message, the key it
points at) or None; rules/startup.py registers them and the profile says which releases run them.
The conditions read the raw YAML with the defaults Axolotl's pydantic models would fill in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .conditions import listed

Values = Mapping[str, Any]
MIGRATION = "docs/multi-gpu.qmd#sec-migrate-fsdp1-fsdp2"
# validation.py FSDP1_ONLY_REJECTED_KEYS: fsdp_config keys accelerate rejects under FSDP2 -> replacement
FSDP1_ONLY_REJECTED = {"sharding_strategy": "reshard_after_forward", "forward_prefetch": None}
# validation.py FSDP1_ONLY_IGNORED_KEYS: fsdp_config keys accelerate silently discards under FSDP2
FSDP1_ONLY_IGNORED = (
    "sync_module_states",
    "backward_prefetch",
    "backward_prefetch_policy",
    "limit_all_gathers",
    "use_orig_params",
)
# peft.py VALUE_INDEPENDENT_LORA_INIT
VALUE_INDEPENDENT_INIT = (None, True, False, "gaussian")
MIXLORA_FFN = ("gate_proj", "up_proj", "down_proj")  # integrations/mixlora/constants.py MIXLORA_FFN_MODULE_NAMES
MIXLORA_DEFAULT_EXPERTS, MIXLORA_DEFAULT_TOP_K = 8, 2


def unprefixed(key: Any) -> Any:
    """An fsdp_config key as Axolotl reads it: check_fsdp_config_kwargs_prefix strips `fsdp_` (not fsdp_version's)."""
    return key[5:] if isinstance(key, str) and key.startswith("fsdp_") and key != "fsdp_version" else key


def _fsdp_config(v: Values) -> dict[str, Any]:
    """fsdp_config with the `fsdp_` prefix stripped."""
    block = v.get("fsdp_config")
    return {unprefixed(k): x for k, x in block.items()} if isinstance(block, dict) else {}


def fsdp1_removed(v: Values) -> tuple[str, Any] | None:
    """check_fsdp_version: FSDP1 is gone; its list, its version and its options are refused."""
    if v.get("fsdp"):
        return (
            "The top-level `fsdp` list is no longer supported, it configured FSDP1 sharding strategies. Use "
            f"`fsdp_config` instead, see {MIGRATION} for the migration guide.",
            "fsdp",
        )
    block: dict[str, Any] = v["fsdp_config"] if isinstance(v.get("fsdp_config"), dict) else {}
    for key, version in (
        ("fsdp_version", v.get("fsdp_version")),
        (("fsdp_config", "fsdp_version"), block.get("fsdp_version")),
        (("fsdp_config", "version"), block.get("version")),
    ):
        if version is not None and str(version) != "2":
            return (
                f"fsdp_version: {version} is no longer supported, FSDP1 has been removed from Axolotl. Use "
                f"fsdp_version: 2 and see {MIGRATION} for the migration guide.",
                key,
            )
    for key in block:
        name = unprefixed(key)
        if name in FSDP1_ONLY_REJECTED:
            instead = FSDP1_ONLY_REJECTED[name]
            hint = f"Use `{instead}` instead" if instead else "It has no FSDP2 equivalent, please remove it"
            return (
                f"fsdp_config.{name} is an FSDP1-only option and FSDP1 has been removed from Axolotl. {hint}. "
                f"See {MIGRATION} for the migration guide.",
                ("fsdp_config", key),
            )
    return None


def _value_dependent_init(v: Values) -> bool:
    peft = v.get("peft")
    loftq = isinstance(peft, dict) and bool(peft.get("loftq_config"))
    return v.get("peft_init_lora_weights") not in VALUE_INDEPENDENT_INIT or loftq


def _init_key(v: Values) -> Any:
    return (
        "peft_init_lora_weights"
        if v.get("peft_init_lora_weights") not in VALUE_INDEPENDENT_INIT
        else ("peft", "loftq_config")
    )


def target_parameters_init(v: Values) -> tuple[str, Any] | None:
    """validate_lora_target_parameters_init: fused expert parameters have no base_layer.weight to read."""
    if v.get("lora_target_parameters") and _value_dependent_init(v):
        return (
            "peft_init_lora_weights must be the default or gaussian when lora_target_parameters is set: pissa, "
            "olora, loftq, corda, orthogonal and lora_ga read base_layer.weight, which fused expert parameters "
            "do not have, so PEFT fails when building the adapter; eva and mica are not supported for target "
            "parameters.",
            _init_key(v),
        )
    return None


def _fsdp1_version(v: Values) -> Any:
    """0.19's FSDP version after check_fsdp_version_in_fsdp_config (which runs before the other checks): the
    top-level key, else fsdp_config's version or fsdp_version, else 1 for any fsdp_config."""
    block: dict[str, Any] = v["fsdp_config"] if isinstance(v.get("fsdp_config"), dict) else {}
    return v.get("fsdp_version") or block.get("version") or block.get("fsdp_version") or (1 if block else None)


def fsdp1_deprecated(v: Values) -> tuple[str, Any] | None:
    """0.19's check_fsdp_version: an fsdp_config block on FSDP1 still trains, with a deprecation warning."""
    if isinstance(v.get("fsdp_config"), dict) and v["fsdp_config"] and str(_fsdp1_version(v)) != "2":
        return (
            "FSDP1 is deprecated and will be removed in an upcoming release of Axolotl (transformers plans to in "
            "v5.20). We recommend migrating to fsdp_version: 2 for better performance and compatibility. See "
            "https://docs.axolotl.ai/docs/multi-gpu.html#sec-fsdp for details on migrating your config.",
            "fsdp_version" if "fsdp_version" in v else "fsdp_config",
        )
    return None


def fsdp1_ignored(v: Values) -> tuple[str, Any] | None:
    """0.20+ check_fsdp_version: an FSDP1-only key accelerate would discard is dropped, with a warning."""
    block = v.get("fsdp_config")
    for key in block if isinstance(block, dict) else ():
        if unprefixed(key) in FSDP1_ONLY_IGNORED:
            return (
                f"fsdp_config.{unprefixed(key)} is an FSDP1-only option and is ignored under FSDP2. Dropping it, "
                f"see {MIGRATION}.",
                ("fsdp_config", key),
            )
    return None


def ram_efficient_4bit_fsdp2(v: Values) -> tuple[str, Any] | None:
    """0.19's check_fsdp2_cpu_ram_efficient_loading_w_4bit: FSDP2 with cpu_ram_efficient_loading and
    load_in_4bit is refused outright."""
    block = v.get("fsdp_config")
    if (
        isinstance(block, dict)
        and str(_fsdp1_version(v)) == "2"
        and _fsdp_config(v).get("cpu_ram_efficient_loading")
        and v.get("load_in_4bit")
    ):
        return (
            "FSDP2 does not support `cpu_ram_efficient_loading` with load_in_4bit; the rank-0-only bitsandbytes "
            "quantization deadlocks the state dict scatter. Please set `fsdp_config.cpu_ram_efficient_loading` "
            "to false.",
            "fsdp_config",
        )
    return None


def _sharded(v: Values, fsdp: dict[str, Any]) -> bool:
    """qlora_sharded_model_loading, resolved automatically since 0.20 when the YAML leaves it out."""
    sharded = v.get("qlora_sharded_model_loading")
    if sharded is None:
        return bool(
            fsdp and v.get("adapter") == "qlora" and v.get("load_in_4bit") and fsdp.get("cpu_ram_efficient_loading")
        )
    return bool(sharded)


def _staged(v: Values) -> bool:
    """check_staged_nf4's gate: the torchao backend, or sharded 4-bit loading."""
    return v.get("nf4_backend") == "torchao" or bool(_sharded(v, _fsdp_config(v)) and v.get("load_in_4bit"))


def _tensor_parallel_loading(v: Values) -> Values:
    """check_tensor_parallel_cpu_ram_efficient_loading runs first: with tensor_parallel_size > 1 it turns
    cpu_ram_efficient_loading off unless staged NF4 is asked for explicitly (torchao, or a written
    qlora_sharded_model_loading with 4-bit), so the staged-NF4 checks never see it on."""
    tp = v.get("tensor_parallel_size")
    explicit = v.get("nf4_backend") == "torchao" or (v.get("qlora_sharded_model_loading") and v.get("load_in_4bit"))
    if not isinstance(tp, int) or tp <= 1 or explicit or not _fsdp_config(v).get("cpu_ram_efficient_loading"):
        return v
    return {**v, "fsdp_config": {**_fsdp_config(v), "cpu_ram_efficient_loading": False}}


def staged_nf4(v: Values, expert: bool = False) -> tuple[str, Any] | None:
    """0.20+: check_fsdp2_cpu_ram_efficient_loading_w_4bit, check_bnb_blocksize, then check_staged_nf4 with
    STAGED_NF4_CONSTRAINTS (all after-validators of one mixin, in that order). 0.20 (`expert`) also refuses
    expert parallelism, whose size exists only when the expert_parallel plugin is listed."""
    v = _tensor_parallel_loading(v)
    fsdp, block = _fsdp_config(v), isinstance(v.get("fsdp_config"), dict)
    efficient, sharded = bool(fsdp.get("cpu_ram_efficient_loading")), _sharded(v, fsdp)
    if block and efficient and v.get("load_in_4bit") and not sharded:
        return (
            "FSDP2 does not support `cpu_ram_efficient_loading` with load_in_4bit; the rank-0-only bitsandbytes "
            "quantization deadlocks the state dict scatter. Set `qlora_sharded_model_loading: true` for "
            "CPU-staged loading, or set `fsdp_config.cpu_ram_efficient_loading` to false.",
            "qlora_sharded_model_loading" if "qlora_sharded_model_loading" in v else "fsdp_config",
        )
    bnb: dict[str, Any] = v["bnb_config_kwargs"] if isinstance(v.get("bnb_config_kwargs"), dict) else {}
    if v.get("load_in_4bit") and v.get("nf4_backend") != "torchao" and bnb.get("blocksize", 64) != 64:
        return (
            "bitsandbytes 4-bit loading always quantizes with blocksize 64; remove `bnb_config_kwargs.blocksize` "
            "or set it to 64.",
            ("bnb_config_kwargs", "blocksize"),
        )
    torchao = v.get("nf4_backend") == "torchao"
    if not _staged(v) or (not torchao and (not block or not efficient)):
        return None  # not staged (staged_no_effect warns when qlora_sharded_model_loading has no effect)
    ep = (v.get("expert_parallel_size") or 1) if expert and listed(v, "expert_parallel") else 1
    checks: list[tuple[bool, str, Any]] = [
        (
            not v.get("load_in_4bit") or v.get("adapter") != "qlora" or bool(v.get("load_in_8bit")),
            "CPU-staged NF4 requires adapter: qlora and load_in_4bit: true",
            "adapter",
        ),
        (
            block and (not efficient or not sharded),
            "CPU-staged NF4 requires FSDP2, cpu_ram_efficient_loading and qlora_sharded_model_loading",
            "fsdp_config",
        ),
        (
            bool(v.get("deepspeed"))
            or (v.get("tensor_parallel_size") or 1) > 1
            or (isinstance(ep, int) and ep > 1)
            or (v.get("context_parallel_size") or 1) > 1,
            "CPU-staged NF4 does not support DeepSpeed, tensor, expert or context parallelism"
            if expert
            else "CPU-staged NF4 does not support DeepSpeed, tensor or context parallelism",
            next(
                (k for k in ("deepspeed", "tensor_parallel_size", "expert_parallel_size") if v.get(k) and v[k] != 1),
                "context_parallel_size",
            ),
        ),
        (
            (v.get("dp_replicate_size") or 1) > 1,
            "CPU-staged NF4 requires a one-dimensional sharding mesh; dp_replicate_size must be 1",
            "dp_replicate_size",
        ),
        (
            bnb.get("bnb_4bit_quant_type", "nf4") != "nf4",
            "CPU-staged NF4 requires bnb_4bit_quant_type: nf4",
            "bnb_config_kwargs",
        ),
        (
            torchao and (bnb.get("blocksize", 64) != 64 or not bnb.get("bnb_4bit_use_double_quant", True)),
            "torchao NF4 requires blocksize 64 and double quantization",
            "bnb_config_kwargs",
        ),
        (
            bool(v.get("peft_use_dora") or v.get("lora_modules_to_save")),
            "CPU-staged NF4 currently requires LoRA without DoRA or modules_to_save",
            "peft_use_dora" if v.get("peft_use_dora") else "lora_modules_to_save",
        ),
        (
            _value_dependent_init(v),
            "CPU-staged NF4 does not support a value-dependent LoRA init: pissa, olora and loftq residualize the "
            "base weight, and a packed base cannot take the residual write-back; corda and eva are not wired for "
            "staged loading. olora works on the non-staged bitsandbytes loader "
            "(fsdp_config.cpu_ram_efficient_loading: false); pissa and loftq need an unquantized base.",
            _init_key(v),
        ),
    ]
    return next(((message, key) for violated, message, key in checks if violated), None)


def staged_no_effect(v: Values) -> tuple[str, Any] | None:
    """0.20+ check_staged_nf4: qlora_sharded_model_loading: true without the FSDP2 CPU-staged loader is
    switched off, with a warning (every rank then loads and quantizes the whole model)."""
    if v.get("nf4_backend") == "torchao" or not (v.get("qlora_sharded_model_loading") and v.get("load_in_4bit")):
        return None
    if not isinstance(v.get("fsdp_config"), dict):
        return (
            "`qlora_sharded_model_loading: true` has no effect without an `fsdp_config`; every rank will load "
            "and quantize the full model.",
            "qlora_sharded_model_loading",
        )
    if not _fsdp_config(v).get("cpu_ram_efficient_loading"):
        return (
            "`qlora_sharded_model_loading: true` has no effect without `fsdp_config.cpu_ram_efficient_loading: "
            "true`; every rank will load and quantize the full model. Enable cpu_ram_efficient_loading for "
            "CPU-staged NF4 loading.",
            "qlora_sharded_model_loading",
        )
    return None


def mixlora(v: Values) -> tuple[str, Any] | None:
    """The mixlora adapter's own checks, in Axolotl's order: validate_mixlora (lora_r, lora_alpha),
    check_fused_lora, then load_adapter's target check at load time. (validate_mixlora_top_k, which runs
    whatever the adapter, is mixlora_top_k below; lora_fp32_gradients is another validator's; check_fused_lora's
    flash_attn_fuse_qkv branch reads a key no schema declares, so it never fires.)"""
    if v.get("adapter") != "mixlora" or not listed(v, "mixlora"):
        return None  # without the plugin validate_adapter refuses the adapter first
    targets = v.get("lora_target_modules") or []
    overlap = sorted(set(MIXLORA_FFN) & set([targets] if isinstance(targets, str) else targets))
    checks: list[tuple[Any, str, Any]] = [
        (not v.get("lora_r"), "lora_r is required when using the mixlora adapter", "adapter"),
        (not v.get("lora_alpha"), "lora_alpha is required when using the mixlora adapter", "adapter"),
        (v.get("flash_attn_fuse_mlp"), "Fused modules are not supported with LoRA/QLoRA", "flash_attn_fuse_mlp"),
        (
            v.get("rl") is not None,
            "MixLoRA is not compatible with RL training (DPO/KTO/GRPO). Use adapter: lora or qlora for RL fine-tuning.",
            "rl",
        ),
        (
            v.get("lora_target_linear"),
            "MixLoRA is incompatible with lora_target_linear=true because FFN "
            "gate_proj/up_proj/down_proj are patched by MixLoRA. Set explicit attention-only lora_target_modules "
            "instead.",
            "lora_target_linear",
        ),
        (
            overlap,
            "MixLoRA cannot be combined with LoRA targets on FFN modules. Remove overlapping "
            f"lora_target_modules entries: {overlap}",
            "lora_target_modules",
        ),
    ]
    return next(((message, key) for violated, message, key in checks if violated), None)


def mixlora_top_k(v: Values) -> tuple[str, Any] | None:
    """MixLoraConfig.validate_mixlora_top_k: part of every config's schema since 0.20, whatever the adapter."""
    experts: Any = v.get("mixlora_num_experts")
    top_k: Any = v.get("mixlora_top_k")
    experts = MIXLORA_DEFAULT_EXPERTS if experts is None else experts
    top_k = MIXLORA_DEFAULT_TOP_K if top_k is None else top_k
    ints = all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in (experts, top_k))
    if ints and top_k > experts:
        return f"mixlora_top_k ({top_k}) must be <= mixlora_num_experts ({experts})", "mixlora_top_k"
    return None


def _expert_parallel(v: Values, built_in: bool) -> tuple[str, Any] | None:
    """expert_parallel/args.py validate_expert_parallel_topology: runs where the plugin's args are merged (0.21:
    a built-in plugin; 0.20: only when `plugins:` lists it), on the validated config (fsdp_config, even empty,
    is a block)."""
    size = v.get("expert_parallel_size") or 1
    if not isinstance(size, int) or size <= 1 or not (built_in or listed(v, "expert_parallel")):
        return None
    block = v.get("fsdp_config") if isinstance(v.get("fsdp_config"), dict) else None
    fsdp = _fsdp_config(v)
    if block is None:  # any fsdp_version but 2 was refused before (fsdp1_removed)
        return (
            f"expert_parallel_size ({size}) > 1 requires FSDP2: set fsdp_version: 2 and an fsdp_config block. "
            "Under DDP the expert LoRA sync, gradient clipping, gradient-accumulation scaling and checkpoint "
            "save are all wrong for sharded experts.",
            "expert_parallel_size",
        )
    for key in ("state_dict_type", "final_state_dict_type"):
        value = fsdp.get(key)
        if key == "state_dict_type" and value is None:
            return (
                f"expert_parallel_size ({size}) > 1 requires fsdp_config.state_dict_type: FULL_STATE_DICT. "
                "accelerate defaults FSDP2 to SHARDED_STATE_DICT, whose checkpoints keep only EP group 0's "
                "experts (every group's expert shard has the same name, shape and offset, so DCP deduplicates "
                "them).",
                "fsdp_config",
            )
        if value is not None and value != "FULL_STATE_DICT":
            return (
                f"expert_parallel_size ({size}) > 1 requires fsdp_config.{key}: FULL_STATE_DICT, got {value!r}. "
                f"{value} checkpoints keep only EP group 0's experts; the full state dict gathers every EP "
                "group's experts before rank 0 writes.",
                ("fsdp_config", next(k for k in block if unprefixed(k) == key)),
            )
    return _expert_parallel_mesh(v, size) if not built_in else _expert_parallel_optimizer(v, size)


def _expert_parallel_mesh(v: Values, size: int) -> tuple[str, Any] | None:
    """0.20's last check, reject_replicate_without_shard_axis."""
    replicate = v.get("dp_replicate_size") or 1
    if replicate > 1 and (v.get("dp_shard_size") or 1) <= 1 and (v.get("context_parallel_size") or 1) <= 1:
        return (
            f"expert_parallel_size ({size}) with dp_replicate_size ({replicate}) needs a shard axis inside each "
            "replica: set dp_shard_size > 1 or context_parallel_size > 1. A (dp_replicate, ep) mesh gives the "
            "experts no group to reduce over, so replicas would drift apart.",
            "dp_replicate_size",
        )
    return None


def _expert_parallel_optimizer(v: Values, size: int) -> tuple[str, Any] | None:
    """0.21's last check: quantized optimizer states that EP checkpoints cannot keep."""
    if v.get("optimizer") in ("adamw_torch_4bit", "ao_adamw_4bit", "ao_adamw_fp8"):
        return (
            f"expert_parallel_size ({size}) > 1 does not support optimizer: {v.get('optimizer')}. EP full "
            "checkpoints keep only torchao 8-bit optimizer state quantized; 4-bit and FP8 state would resume "
            "dequantized at several times the memory. Use adamw_torch_8bit or an unquantized optimizer.",
            "optimizer",
        )
    return None


def expert_parallel_builtin(v: Values) -> tuple[str, Any] | None:
    return _expert_parallel(v, built_in=True)


def expert_parallel_plugin(v: Values) -> tuple[str, Any] | None:
    return _expert_parallel(v, built_in=False)
