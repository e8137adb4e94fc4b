"""What Axolotl does to raw values before pydantic checks their types, restated for axolotl-field-type.

REWRITES: every model validator of mode before whose source writes into the data (the type table lists them per
model as "rewrites"), each mirrored by a function on a View of the raw mapping (moves, renames and overwrites,
remembering where a moved value came from so a finding points at the key the YAML wrote), or declared without
effect on types with the reason. FIELD_VALIDATORS: field validators of mode before restated as the value they
hand on to the type check; a field whose validator is not here is left unchecked. tests/unit/rules/
test_axolotl_types.py requires every rewrite of every release's table here, and lists the unchecked fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .backends import LEGACY_ATTN
from .types_2 import Path, Problem

REFUSED = object()  # a value handed on that no type accepts (the validator raised)


@dataclass
class View:
    """A raw mapping as the schema will see it after the rewrites, and where each moved value came from."""

    data: dict[Any, Any]
    version: str
    origin: dict[Path, Path] = field(default_factory=dict)
    refused: list[Problem] = field(default_factory=list)

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def put(self, path: Path, value: Any, source: Path | None = None) -> None:
        """Set data at path (copying the mappings on the way, which belong to the YAML); source: where it came from."""
        block = self.data
        for part in path[:-1]:
            block[part] = dict(block[part]) if isinstance(block.get(part), dict) else {}
            block = block[part]
        block[path[-1]] = value
        self.origin[path] = source or path

    def move(self, key: str, path: Path) -> None:
        self.put(path, self.data.pop(key), (key,))

    def drop(self, key: str) -> None:
        self.data.pop(key, None)

    def origin_of(self, problem: Problem, base: Path = ()) -> Problem:
        rel = problem.path[len(base) :]
        for n in range(len(rel), 0, -1):
            if rel[:n] in self.origin:
                return replace(problem, path=base + self.origin[rel[:n]] + rel[n:])
        return problem


def _version(view: View) -> tuple[int, ...]:
    return tuple(int(p) for p in view.version.split("."))


# --- mirrors of the model validators that move or overwrite values (condition restated from the YAML keys) ---


def _dataset_processes(v: View) -> None:
    if v.get("dataset_processes") is not None:
        if v.get("dataset_num_proc") is None:
            v.move("dataset_processes", ("dataset_num_proc",))
        else:
            v.drop("dataset_processes")


def _compared(v: View, key: str, bound: int) -> bool:
    """A raw value a validator compares with a number before any type check: anything but a number (a string
    such as "1", which the type check would have converted) stops the run with a TypeError."""
    if isinstance(v.get(key), (int, float)):
        return True
    v.refused.append(Problem((key,), f"a number (Axolotl compares it with {bound} before the type check)"))
    return False


def _gc_steps(v: View) -> None:
    steps = v.get("gc_steps")
    if steps is None or v.get("torch_empty_cache_steps") is not None or v.get("gc_collect_steps") is not None:
        return
    if not _compared(v, "gc_steps", 0):
        return
    if steps > 0:
        v.put(("torch_empty_cache_steps",), steps, ("gc_steps",))
    v.put(("gc_collect_steps",), steps, ("gc_steps",))


def _attention_flags(v: View) -> None:
    chosen = v.get("attn_implementation")
    flags = [f for f in LEGACY_ATTN if v.get(f)]
    if v.get("gemma4_hybrid_attn_impl") and not chosen and not flags:
        v.put(("attn_implementation",), "flash_attention_2")
    elif not chosen and flags:
        v.put(("attn_implementation",), LEGACY_ATTN[flags[0]])
    for flag in LEGACY_ATTN:  # always dropped: the legacy flags are never validated
        v.drop(flag)


def _wandb_run(v: View) -> None:
    if v.get("wandb_run_id") and not v.get("wandb_name"):
        v.put(("wandb_name",), v.get("wandb_run_id"), ("wandb_run_id",))


def _jinja(v: View) -> None:
    if v.get("chat_template_jinja") and not v.get("chat_template"):
        v.put(("chat_template",), "jinja")


def _dataset_chat_template(v: View) -> None:
    if v.get("type") == "chat_template" and not v.get("chat_template"):
        v.put(("chat_template",), "tokenizer_default")
    _jinja(v)


def _legacy_message_fields(v: View) -> None:
    mappings = v.get("message_property_mappings")
    if mappings is not None and not isinstance(mappings, dict):
        return  # a list or a string: Axolotl fails on it, and the type check says why
    v.put(("message_property_mappings",), dict(mappings or {}))
    for legacy, prop in (("message_field_role", "role"), ("message_field_content", "content")):
        if legacy in v.data:
            value = v.data.pop(legacy)
            v.put(("message_property_mappings", prop), value or prop, (legacy,))
        elif prop not in v.data["message_property_mappings"]:
            v.put(("message_property_mappings", prop), prop)


def _bench_test_datasets(v: View) -> None:
    if v.get("do_bench_eval") and not v.get("test_datasets") and not v.get("val_set_size"):
        v.put(("test_datasets",), [{"path": "axolotl-ai-co/empty-test-ds"}])


def _fsdp_prefix(v: View) -> None:
    block = v.get("fsdp_config")
    if not block or not isinstance(block, dict):
        return
    prefixed = [k for k in block if isinstance(k, str) and k.startswith("fsdp_") and k != "fsdp_version"]
    if prefixed:
        v.put(("fsdp_config",), {})
        for key, value in block.items():
            name = key.replace("fsdp_", "") if key in prefixed else key
            v.put(("fsdp_config", name), value, ("fsdp_config", key))


def _fsdp_version(v: View) -> None:
    block = v.get("fsdp_config") or {}
    if not isinstance(block, dict):
        return
    top = v.get("fsdp_version")
    if not top and block and block.get("version"):
        v.put(("fsdp_config",), {k: x for k, x in block.items() if k != "version"})
        v.put(("fsdp_version",), block["version"], ("fsdp_config", "version"))
        v.put(("fsdp_config", "fsdp_version"), block["version"], ("fsdp_config", "version"))
    elif not top and block and block.get("fsdp_version"):
        v.put(("fsdp_version",), block["fsdp_version"], ("fsdp_config", "fsdp_version"))
    if top and block and not block.get("fsdp_version"):
        v.put(("fsdp_config", "fsdp_version"), top, ("fsdp_version",))
    if block and not v.get("fsdp_version"):
        default = 1 if _version(v) < (0, 20) else 2
        v.put(("fsdp_version",), default)
        v.put(("fsdp_config", "fsdp_version"), default)


def _tensor_parallel(v: View) -> None:
    """Compares tensor_parallel_size with 1 (then rewrites a deepspeed path it could open to another path)."""
    if v.get("tensor_parallel_size") is not None:
        _compared(v, "tensor_parallel_size", 1)


def _pretraining_accelerator(v: View) -> None:
    if v.get("pretraining_dataset") and not v.get("accelerator_config"):
        v.put(("accelerator_config",), {"split_batches": False, "dispatch_batches": False})


def _copy_if(source: str, target: str, truthy: bool) -> Callable[[View], None]:
    """`target` takes `source`'s value (source truthy, or not None) when target is unset (falsy, or None)."""

    def mirror(v: View) -> None:
        given = v.get(source)
        if (given if truthy else given is not None) and not (v.get(target) if truthy else v.get(target) is not None):
            v.put((target,), given, (source,))

    return mirror


def _move_if(source: str, target: str) -> Callable[[View], None]:
    """`source` moves to `target` (source truthy, target falsy; both set is refused by the validator itself)."""

    def mirror(v: View) -> None:
        if v.get(source) and not v.get(target):
            v.move(source, (target,))

    return mirror


def _reward_model_type(v: View) -> None:
    if (v.get("reward_model") or v.get("process_reward_model")) and not (v.get("type_of_model") or v.get("model_type")):
        v.put(("model_type",), "AutoModelForSequenceClassification")


def _context_parallel(v: View) -> None:
    block = v.get("context_parallel") or {}
    if not isinstance(block, dict):
        return
    size = block.get("size")
    source: Path = ("context_parallel", "size")
    if size is None:
        key = "context_parallel_size" if v.get("context_parallel_size") is not None else "sequence_parallel_degree"
        size, source = v.get(key), (key,)
    if size is not None:
        v.put(("context_parallel_size",), size, source)
        v.put(("context_parallel",), {**block, "size": size})
        v.origin[("context_parallel", "size")] = source


def _expert_backend(v: View) -> None:
    backend = v.get("expert_backend")
    chosen = str(backend).lower() if backend is not None else None
    for name, flag in (("scattermoe", "use_scattermoe"), ("sonicmoe", "use_sonicmoe")):
        if chosen == name:
            v.put((flag,), True)


def _experts_implementation(v: View) -> None:
    _expert_backend(v)
    v.drop("experts_implementation")  # unknown names (any type) become "eager": never refused by type


def _nvfp4(v: View) -> None:
    _expert_backend(v)
    if _version(v) < (0, 20):
        return
    if v.get("nvfp4_merge_aware") is False and v.get("nvfp4_merge_aware_start_step") is not None:
        v.put(("nvfp4_merge_aware_start_step",), None)
    elif v.get("nvfp4_merge_aware") and v.get("adapter") not in ("lora", "multilora"):
        v.put(("nvfp4_merge_aware",), False)
        v.put(("nvfp4_merge_aware_start_step",), None)


def _mlp_kernel(v: View) -> None:
    _expert_backend(v)
    if v.get("use_scattermoe") is True or v.get("use_sonicmoe") is True:
        if v.get("lora_mlp_kernel") is True and v.get("use_dsv4_kernels") is True:
            v.put(("lora_mlp_kernel",), False)
        v.put(("mlp_kernel",), False)


def _swiglu(v: View) -> None:
    if v.get("liger_swiglu") is not None:
        v.move("liger_swiglu", ("liger_glu_activation",))


def _mora_type(v: View) -> None:
    if "mora_type" in v.data:
        given = v.data["mora_type"]
        if given == 1 or given == 6:
            v.put(("mora_type",), "sharing" if given == 1 else "rope")


NO_EFFECT = "fills a key only where it is null or absent"
SAME_TYPE = "writes a value of the field's own type"
REWRITES: dict[str, Callable[[View], None] | str] = {
    "integrations/context_parallel/args.py:ContextParallelArgs.sync_context_parallel_size": _context_parallel,
    "integrations/kernels/args.py:KernelsArgs.check_experts_implementation": _experts_implementation,
    "integrations/kernels/args.py:KernelsArgs.check_mutually_exclusive": _expert_backend,
    "integrations/kernels/args.py:KernelsArgs.check_nvfp4_merge_aware": _nvfp4,
    "integrations/kernels/args.py:KernelsArgs.check_use_kernels": NO_EFFECT,
    "integrations/kernels/args.py:KernelsArgs.disable_mlp_kernel": _mlp_kernel,
    "integrations/kernels/args.py:KernelsArgs.normalize_expert_backend": _expert_backend,
    "integrations/liger/args.py:LigerArgs.check_deprecated_swiglu": _swiglu,
    "integrations/mora/args.py:MoraConfig.normalize_mora_type": _mora_type,
    "utils/schemas/config.py:AxolotlConfigWCapabilities.check_auto_enable_lora_kernels": NO_EFFECT,
    "utils/schemas/config.py:AxolotlConfigWCapabilities.check_torch_compile_auto": SAME_TYPE,
    "utils/schemas/config.py:AxolotlConfigWCapabilities.default_dataloader_opts": NO_EFFECT,
    "utils/schemas/config.py:AxolotlConfigWCapabilities.default_dataset_num_proc": _dataset_processes,
    "utils/schemas/config.py:AxolotlConfigWCapabilities.migrate_gc_steps": _gc_steps,
    "utils/schemas/config.py:AxolotlInputConfig.normalize_attn_implementation": _attention_flags,
    "utils/schemas/datasets.py:SFTDataset.check_chat_template_config": _dataset_chat_template,
    "utils/schemas/datasets.py:SFTDataset.handle_legacy_message_fields": _legacy_message_fields,
    "utils/schemas/diffusion.py:DiffusionLMConfig._default_generate_samples": NO_EFFECT,
    "utils/schemas/integrations.py:WandbConfig.check_wandb_run": _wandb_run,
    "utils/schemas/peft.py:LoraConfig.validate_lora_dropout": NO_EFFECT,
    "utils/schemas/validation.py:ChatTemplateValidationMixin.check_chat_template_config": _jinja,
    "utils/schemas/validation.py:DatasetValidationMixin.check_eval_packing": NO_EFFECT,
    "utils/schemas/validation.py:DatasetValidationMixin.check_mm_prepare": NO_EFFECT,
    "utils/schemas/validation.py:DatasetValidationMixin.check_test_datasets_bench": _bench_test_datasets,
    "utils/schemas/validation.py:OptimizationValidationMixin.check_deepcompile": "rewrites a deepspeed path it could "
    "open to another path",
    "utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp_config_kwargs_prefix": _fsdp_prefix,
    "utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp_version": "drops FSDP1 keys FSDPConfig does "
    "not declare",
    "utils/schemas/validation.py:OptimizationValidationMixin.check_fsdp_version_in_fsdp_config": _fsdp_version,
    "utils/schemas/validation.py:OptimizationValidationMixin.check_qgalore": NO_EFFECT,
    "utils/schemas/validation.py:OptimizationValidationMixin.check_tensor_parallel_size_update_ds_json": (
        _tensor_parallel
    ),
    "utils/schemas/validation.py:PretrainingValidationMixin.check_pretraining_split_batches_accelerate": (
        _pretraining_accelerator
    ),
    "utils/schemas/validation.py:TrainingValidationMixin.check_eval_strategy": _copy_if(
        "evaluation_strategy", "eval_strategy", truthy=False
    ),
    "utils/schemas/validation.py:TrainingValidationMixin.check_multipack_buffer_size": _move_if(
        "pretrain_multipack_buffer_size", "streaming_multipack_buffer_size"
    ),
    "utils/schemas/validation.py:TrainingValidationMixin.check_neftune": _move_if(
        "noisy_embedding_alpha", "neftune_noise_alpha"
    ),
    "utils/schemas/validation.py:TrainingValidationMixin.check_tokenizer_use_mistral_common": NO_EFFECT,
    "utils/schemas/validation.py:TrainingValidationMixin.hint_reward_model_pad": NO_EFFECT,
    "utils/schemas/validation.py:TrainingValidationMixin.hint_sample_packing_padding": NO_EFFECT,
    "utils/schemas/validation.py:TrainingValidationMixin.set_reward_model_defaults": _reward_model_type,
}


# --- field validators of mode before: the value each hands on to the type check ---


def _resize(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return value.lower() if value.lower() in ("bilinear", "bicubic", "lanczos") else REFUSED


FIELD_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    # only raise (sharegpt dataset types; a non-string attention name, TypeError): the value goes on unchanged
    "utils/schemas/validation.py:DatasetValidationMixin.deprecate_sharegpt_datasets": lambda value: value,
    "utils/schemas/config.py:AxolotlInputConfig.validate_attn_implementation": lambda value: value,
    # str(value).lower(), then the type check
    "utils/schemas/config.py:AxolotlInputConfig.validate_large_head_attention": (
        lambda value: None if value is None else str(value).lower()
    ),
    "utils/schemas/multimodal.py:MultiModalConfig.convert_image_resize_algorithm": _resize,
}
