"""AxolotlConfigWCapabilities' start-up validators (axolotl/utils/schemas/config.py): the config class `axolotl
train` validates with the GPU's capabilities and the torch version.

A form with `device` judges the declared training device (--gpu, [tool.lora-compiler] gpu): its condition reads
`capabilities` as validate_config passes it (devices.Hardware.capabilities). The torch-version checks are out of
scope: every release requires a torch (2.11+, 0.20+: 2.13+) above their thresholds, so only a broken environment
meets them. check_quantize_moe_experts and check_qat_config are lora.py's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...results.findings import Severity
from . import conditions as condition
from .backends import chosen
from .validator import Found, Validator, Values, out_of_scope, register, when

WITH_GPU = "utils/schemas/config.py:AxolotlConfigWCapabilities."
SAGE_CAPABILITIES = ("sm_80", "sm_86", "sm_89", "sm_90", "sm_120")  # check_compute_capability_w_sageattn
KERNELS = ("lora_mlp_kernel", "lora_qkv_kernel", "lora_o_kernel", "lora_embedding_kernel")
QLORA = {"adapter": "qlora", "load_in_4bit": True}


def gpu(v: Values) -> Mapping[str, Any]:
    caps = v.get("capabilities")
    return caps if isinstance(caps, Mapping) else {}


def sm(v: Values) -> int | None:
    """The compute capability as a number (90 for sm_90); None without a CUDA device."""
    cc = gpu(v).get("compute_capability")
    return int(cc[3:]) if isinstance(cc, str) and cc.startswith("sm_") and cc[3:].isdigit() else None


def multi_gpu(v: Values) -> bool:
    n_gpu = gpu(v).get("n_gpu")
    return isinstance(n_gpu, int) and n_gpu > 1


def bf16_unsupported(v: Values) -> Found | None:
    """check_bf16 warns only for an explicit true (the field's default, auto, is resolved later)."""
    asked = next((k for k in ("bf16", "bfloat16") if v.get(k) is True), None)
    if asked and not gpu(v).get("bf16") and not v.get("merge_lora") and not v.get("is_preprocess"):
        return (
            "bf16 requested, but AMP is not supported on this GPU. Requires Ampere series or above. Training will "
            "fail, but other operations (such as merging) are still functional.",
            asked,
        )
    return None


def sdpa_packing_bf16(v: Values) -> Found | None:
    """bf16 defaults to "auto", which is truthy at validation: only an explicit false or null clears it."""
    bf16 = v.get("bfloat16") or (v["bf16"] if "bf16" in v else "auto")
    hopper = (sm(v) or 0) >= 90
    if v.get("sample_packing") and chosen(v)[0] == "sdpa" and bf16 and not hopper:
        return (
            "sample_packing & torch sdpa with bf16 is unsupported may results in 0.0 loss. This may work on H100s.",
            "sample_packing",
        )
    return None


def sage_capability(v: Values) -> Found | None:
    impl, key = chosen(v)
    if impl == "sage" and gpu(v).get("compute_capability") not in SAGE_CAPABILITIES:
        return (
            "SageAttention supports compute capability between sm_80 and sm_120. Please use a different attention "
            "implementation.",
            key,
        )
    return None


def fp8_attention(v: Values) -> Found | None:
    cc = gpu(v).get("compute_capability")
    if chosen(v)[0] == "fp8" and cc and (sm(v) or 0) < 90:
        return (
            f"attn_implementation=fp8 requires compute capability sm_90 or higher (Hopper+). Detected {cc!r}.",
            "attn_implementation",
        )
    return None


def multigpu_kernels(v: Values) -> Found | None:
    """0.19's check runs before the FSDP validators fill fsdp_version in, so it reads the top-level key only."""
    kernel = next((k for k in KERNELS if v.get(k)), None)
    fsdp = v.get("fsdp_config") is not None
    if kernel and fsdp and str(v.get("fsdp_version")) != "2" and multi_gpu(v):
        return "lora_mlp_kernel, lora_qkv_kernel, and lora_o_kernel are not compatible with FSDP1.", kernel
    return None


def trl_beta(v: Values) -> Found | None:
    trl = v.get("trl")
    beta = trl.get("beta") if isinstance(trl, Mapping) else None
    if v.get("beta") and beta and v["beta"] != beta:
        return "beta and trl.beta must match or one must be removed", ("trl", "beta")
    return None


def dataset_processes(v: Values) -> Found | None:
    if v.get("dataset_processes") is None:
        return None
    if v.get("dataset_num_proc") is None:
        return (
            "dataset_processes is deprecated and will be removed in a future version. Please use dataset_num_proc "
            "instead.",
            "dataset_processes",
        )
    return (
        "Both dataset_processes and dataset_num_proc are set. Using dataset_num_proc and ignoring dataset_processes.",
        "dataset_processes",
    )


def gc_steps(v: Values) -> Found | None:
    steps = v.get("gc_steps")
    if not isinstance(steps, (int, float)):
        return None
    if v.get("torch_empty_cache_steps") is None and v.get("gc_collect_steps") is None:
        return (
            f"`gc_steps` is deprecated; mapping gc_steps={int(steps)} to `torch_empty_cache_steps` and "
            "`gc_collect_steps`.",
            "gc_steps",
        )
    return "`gc_steps` ignored; `torch_empty_cache_steps` / `gc_collect_steps` take precedence.", "gc_steps"


VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-bf16-unsupported",
        "bf16: true on a device without bf16.",
        WITH_GPU + "check_bf16",
        bf16_unsupported,
        fix="Train in fp16 (fp16: true) or float32 on this device, or train on a GPU with bf16.",
        level=Severity.WARNING,
        device="cpu",
        refused={"bf16": True},
        accepted={"bf16": "auto"},
    ),
    Validator(
        "axolotl-fp8-unsupported",
        "fp8: true on a GPU without fp8 (compute capability below 9.0).",
        WITH_GPU + "check_fp8",
        when(
            lambda v: v.get("fp8") and not gpu(v).get("fp8"),
            "fp8 requested, but fp8 is not supported on this GPU",
            "fp8",
        ),
        fix="Drop fp8, or train on a Hopper GPU or newer (H100, H200).",
        device="A100-80GB",
        refused={"fp8": True},
        accepted={"fp8": False},
    ),
    Validator(
        "axolotl-ple-cpu-offload-multi-gpu",
        "ple_cpu_offload on more than one GPU.",
        WITH_GPU + "check_ple_cpu_offload_multi_gpu",
        when(
            lambda v: v.get("ple_cpu_offload") and multi_gpu(v) and condition.ple(v, fsdp_list=True) is None,
            "ple_cpu_offload has only been validated on a single GPU. Under DDP every rank keeps its own copy of "
            "the table in host RAM.",
            "ple_cpu_offload",
        ),
        fix="Train on one GPU with ple_cpu_offload, or drop it and keep the embedding table on the GPU.",
        level=Severity.WARNING,
        device="2xH100",
        refused={**QLORA, "ple_cpu_offload": True},
        accepted={**QLORA, "ple_cpu_offload": False},
    ),
    Validator(
        "axolotl-sdpa-packing-bf16",
        "Sample packing with SDPA in bf16 on a GPU older than Hopper.",
        WITH_GPU + "check_sample_packing_w_sdpa_bf16",
        sdpa_packing_bf16,
        fix="Use flash_attention_2 (or flex_attention) for packed bf16 training on this GPU, or train on a Hopper GPU.",
        level=Severity.WARNING,
        device="A100-80GB",
        refused={"sample_packing": True, "attn_implementation": "sdpa"},
        accepted={"sample_packing": True, "attn_implementation": "flash_attention_2"},
    ),
    Validator(
        "axolotl-sage-compute-capability",
        "SageAttention on a device outside sm_80 to sm_120.",
        WITH_GPU + "check_compute_capability_w_sageattn",
        sage_capability,
        fix="Choose another attention backend on this device (sdpa, flash_attention_2 where supported).",
        device="T4",
        refused={"attn_implementation": "sage", "pad_to_sequence_len": True},
        accepted={"attn_implementation": "sdpa"},
    ),
    Validator(
        "axolotl-fp8-attention-compute-capability",
        "attn_implementation: fp8 on a GPU below sm_90.",
        WITH_GPU + "check_fp8_attention_preflight",
        fp8_attention,
        fix="Choose another attention backend, or train on a Hopper GPU or newer.",
        device="A100-80GB",
        refused={"attn_implementation": "fp8"},
        accepted={"attn_implementation": "sdpa"},
    ),
    Validator(
        "axolotl-multigpu-lora-kernels-fsdp1",
        "LoRA kernels under FSDP1 on more than one GPU.",
        WITH_GPU + "check_multigpu_lora_kernels",
        multigpu_kernels,
        fix="Set fsdp_version: 2 at the top level, or turn the LoRA kernels off.",
        until="0.20.0",
        device="2xH100",
        refused={"lora_mlp_kernel": True, "fsdp_config": {"reshard_after_forward": True}},
        accepted={"lora_mlp_kernel": True, "fsdp_version": 2, "fsdp_config": {"reshard_after_forward": True}},
    ),
    Validator(
        "axolotl-lora-fp32-gradients-adapter",
        "lora_fp32_gradients without a LoRA adapter.",
        WITH_GPU + "check_lora_fp32_gradients",
        when(
            lambda v: v.get("lora_fp32_gradients") and v.get("adapter") not in ("lora", "qlora", "multilora"),
            "lora_fp32_gradients requires a LoRA adapter",
            "lora_fp32_gradients",
        ),
        fix="Drop lora_fp32_gradients, or train a lora or qlora adapter.",
        since="0.20.0",
        refused={"lora_fp32_gradients": True, "adapter": None},
        accepted={"lora_fp32_gradients": True},
    ),
    Validator(
        "axolotl-trl-beta-mismatch",
        "beta and trl.beta set to different values.",
        WITH_GPU + "check_beta_and_trl_beta_match",
        trl_beta,
        fix="Keep one of beta and trl.beta, or give both the same value.",
        refused={"beta": 0.1, "trl": {"beta": 0.2}},
        accepted={"beta": 0.1, "trl": {"beta": 0.1}},
    ),
    Validator(
        "axolotl-dataset-processes",
        "dataset_processes, which dataset_num_proc replaced.",
        WITH_GPU + "default_dataset_num_proc",
        dataset_processes,
        fix="Rename dataset_processes to dataset_num_proc.",
        level=Severity.WARNING,
        refused={"dataset_processes": 4},
        accepted={"dataset_num_proc": 4},
    ),
    Validator(
        "axolotl-gc-steps",
        "gc_steps, which torch_empty_cache_steps and gc_collect_steps replaced.",
        WITH_GPU + "migrate_gc_steps",
        gc_steps,
        fix="Replace gc_steps with torch_empty_cache_steps and gc_collect_steps.",
        level=Severity.WARNING,
        refused={"gc_steps": 10},
        accepted={"torch_empty_cache_steps": 10, "gc_collect_steps": 10},
    ),
    Validator(
        "axolotl-dedup-streaming",
        "dataset_exact_deduplication with a streamed dataset.",
        WITH_GPU + "check_deduplication_with_streaming",
        when(
            lambda v: v.get("dataset_exact_deduplication") and (v.get("streaming") or v.get("pretraining_dataset")),
            "dataset_exact_deduplication is not available for streaming datasets. ",
            "dataset_exact_deduplication",
        ),
        fix="Drop dataset_exact_deduplication, or prepare the dataset without streaming.",
        refused={"dataset_exact_deduplication": True, "streaming": True},
        accepted={"dataset_exact_deduplication": True, "streaming": False},
    ),
    Validator(
        "axolotl-dedup-skip-prepare",
        "dataset_exact_deduplication with skip_prepare_dataset.",
        WITH_GPU + "check_deduplication_with_skip_prepare",
        when(
            lambda v: v.get("dataset_exact_deduplication") and v.get("skip_prepare_dataset"),
            "dataset_exact_deduplication=True has no effect when skip_prepare_dataset=True. Deduplication runs as "
            "part of the prepare pipeline, which is skipped. Either set skip_prepare_dataset: false or disable "
            "dataset_exact_deduplication.",
            "dataset_exact_deduplication",
        ),
        fix="Set skip_prepare_dataset: false, or drop dataset_exact_deduplication.",
        refused={"dataset_exact_deduplication": True, "skip_prepare_dataset": True},
        accepted={"dataset_exact_deduplication": True, "skip_prepare_dataset": False},
    ),
)

register(VALIDATORS)

out_of_scope(
    {
        # tf32: auto becomes the GPU's tf32 support, which is what auto asks for; nothing refused or warned
        WITH_GPU + "check_tf32": "no-effect",
        # sets the dataloader's workers, pinning and prefetch: how batches arrive, not what is trained
        WITH_GPU + "default_dataloader_opts": "no-effect",
        # turns unset lora_*_kernel flags on, with a warning on every LoRA config that leaves them unset: the
        # kernels compute the same LoRA, and a finding on every config would say nothing about this one
        WITH_GPU + "check_auto_enable_lora_kernels": "no-effect",
        # the torch version: every release requires a torch above these thresholds
        WITH_GPU + "check_adopt_torch_version": "environment",
        WITH_GPU + "check_flex_torch_version": "environment",
        WITH_GPU + "check_torch_compile_auto": "environment",
        WITH_GPU + "check_min_torch_version": "environment",
        WITH_GPU + "check_fsdp_torch_version": "environment",
    }
)
