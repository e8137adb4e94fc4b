"""The validators of Axolotl's smaller plugins (Liger, Cut Cross Entropy, SwanLab, NeMo Gym, Spectrum, LLM
Compressor), each checked only while its plugin is registered (plugins.py).

`before` validators read the raw YAML; `after` ones see the plugin's field defaults, restated here.
"""

from __future__ import annotations

from ...results.findings import Severity
from .plugins import gated, whole
from .validator import Found, Validator, Values, register, when

SWANLAB_MODES = ("cloud", "local", "offline", "disabled")
LOGGERS = (("use_wandb", "WandB"), ("use_mlflow", "MLflow"))


def cce_chunk(v: Values) -> Found | None:
    """CutCrossEntropyArgs.check_c_grad_chunk_size (after; accum_c_fp32 defaults to false)."""
    chunk = v.get("cut_cross_entropy_c_grad_chunk_size")
    if chunk is None or chunk == 0 or not (whole(chunk) or chunk == "auto"):
        return None
    if chunk != "auto" and (chunk < 0 or chunk % 128):
        message = "`cut_cross_entropy_c_grad_chunk_size` must be 'auto' or a positive multiple of 128."
        return message, "cut_cross_entropy_c_grad_chunk_size"
    if not v.get("cut_cross_entropy_accum_c_fp32"):
        message = "`cut_cross_entropy_c_grad_chunk_size` requires `cut_cross_entropy_accum_c_fp32: true`."
        return message, "cut_cross_entropy_c_grad_chunk_size"
    return None


def swanlab(v: Values) -> Found | None:
    """SwanLabPlugin.register (prepare_plugins, raw YAML), then SwanLabConfig's field and after validators."""
    mode, project = v.get("swanlab_mode"), v.get("swanlab_project")
    if v.get("use_swanlab"):
        if not project:
            return "SwanLab enabled but 'swanlab_project' is not set.", "use_swanlab"
        if mode and mode not in SWANLAB_MODES:
            return f"Invalid swanlab_mode: '{mode}'. Valid options: {', '.join(SWANLAB_MODES)}", "swanlab_mode"
    if mode is not None and mode not in SWANLAB_MODES:
        return f"Invalid swanlab_mode: '{mode}'. Valid options: {', '.join(SWANLAB_MODES)}", "swanlab_mode"
    if isinstance(project, str) and not project.strip():
        return "swanlab_project cannot be an empty string.", "swanlab_project"
    if v.get("use_swanlab", True) is True and not project:
        return (
            "SwanLab enabled (use_swanlab: true) but 'swanlab_project' is not set.",
            "use_swanlab" if "use_swanlab" in v else "plugins",
        )
    return None


def loggers(v: Values) -> Found | None:
    """SwanLabPlugin.register's multi-logger warning (raw use_swanlab, read before the auto-enable)."""
    if not v.get("use_swanlab"):
        return None
    active = [name for key, name in LOGGERS if v.get(key)]
    active += ["Comet"] if v.get("comet_api_key") or v.get("comet_project_name") else []
    if not active:
        return None
    return f"Multiple logging tools enabled: {', '.join([*active, 'SwanLab'])}", "use_swanlab"


def nemo_gym(v: Values) -> Found | None:
    """NemoGymArgs.check_nemo_gym_config (before: the raw nemo_gym_enabled, not its default)."""
    if not v.get("nemo_gym_enabled"):
        return None
    if not v.get("nemo_gym_config_paths") and v.get("nemo_gym_auto_start", True):
        return (
            "nemo_gym_config_paths is required when nemo_gym_enabled=True and nemo_gym_auto_start is not False.",
            "nemo_gym_enabled",
        )
    if not v.get("nemo_gym_datasets"):
        return (
            "nemo_gym_datasets is required when nemo_gym_enabled=True. Provide at least one dataset with 'path' "
            "and 'server_name'.",
            "nemo_gym_enabled",
        )
    return None


def spectrum_fsdp(v: Values) -> Found | None:
    """0.19's SpectrumArgs.check_fsdp_use_orig_params (the fsdp list with use_orig_params off)."""
    block = v.get("fsdp_config")
    if v.get("fsdp") and isinstance(block, dict) and block and not block.get("use_orig_params"):
        if any(isinstance(p, str) and "SpectrumPlugin" in p for p in v.get("plugins") or []):
            message = "FSDP + SpectrumPlugin cannot be used together when `use_orig_params=False` is set"
            return message, "fsdp_config"
    return None


def llm_compressor(v: Values) -> Found | None:
    """LLMCompressorArgs: `llmcompressor` and its `recipe` are required fields (no default to fall back on)."""
    block = v.get("llmcompressor")
    if block is None:
        return "llmcompressor: Field required", "plugins"
    if isinstance(block, dict) and "recipe" not in block:
        return "llmcompressor.recipe: Field required", "llmcompressor"
    return None


LIGER = "integrations/liger/args.py:LigerArgs."
CCE = "integrations/cut_cross_entropy/args.py:CutCrossEntropyArgs."
_LIGER = {"plugins": ["axolotl.integrations.liger.LigerPlugin"]}
_CCE = {"plugins": ["axolotl.integrations.cut_cross_entropy.CutCrossEntropyPlugin"], "bf16": True}
_SWAN = {"plugins": ["axolotl.integrations.swanlab.SwanLabPlugin"], "swanlab_project": "p", "swanlab_mode": "local"}
_GYM = {"plugins": ["axolotl.integrations.nemo_gym.NemoGymPlugin"], "nemo_gym_enabled": True}
_FSDP = {"fsdp": ["full_shard"], "fsdp_config": {"fsdp_offload_params": False}}

VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-liger-swiglu",
        "liger_swiglu, deprecated for liger_glu_activation (refused beside it).",
        LIGER + "check_deprecated_swiglu",
        gated(
            "liger",
            when(
                lambda v: v.get("liger_swiglu") is not None and v.get("liger_glu_activation") is not None,
                "You cannot have both `liger_swiglu` and `liger_glu_activation` set.",
                "liger_swiglu",
            ),
        ),
        fix="Drop liger_swiglu and keep liger_glu_activation.",
        refused={**_LIGER, "liger_swiglu": True, "liger_glu_activation": True},
        accepted={**_LIGER, "liger_glu_activation": True},
    ),
    Validator(
        "axolotl-liger-swiglu",
        "liger_swiglu, deprecated for liger_glu_activation (refused beside it).",
        LIGER + "check_deprecated_swiglu",
        gated(
            "liger",
            when(
                lambda v: v.get("liger_swiglu") is not None and v.get("liger_glu_activation") is None,
                "The 'liger_swiglu' argument is deprecated and will be removed in a future release. Please use "
                "'liger_glu_activation' instead.",
                "liger_swiglu",
            ),
        ),
        fix="Rename liger_swiglu to liger_glu_activation.",
        level=Severity.WARNING,
        refused={**_LIGER, "liger_swiglu": True},
        accepted={"liger_swiglu": True},
    ),
    Validator(
        "axolotl-liger-tiled-mlp",
        "liger_glu_activation with tiled_mlp, without tiled_mlp_use_original_mlp.",
        LIGER + "check_tiled_mlp_conflict",
        gated(
            "liger",
            when(
                lambda v: (
                    v.get("liger_glu_activation") is True
                    and v.get("tiled_mlp") is True
                    and not v.get("tiled_mlp_use_original_mlp")
                ),
                "You cannot have both `liger_glu_activation` and `tiled_mlp` set without "
                "`tiled_mlp_use_original_mlp: true`.",
                "liger_glu_activation",
            ),
        ),
        fix="Set tiled_mlp_use_original_mlp: true, or turn one of liger_glu_activation and tiled_mlp off.",
        refused={**_LIGER, "liger_glu_activation": True, "tiled_mlp": True},
        accepted={**_LIGER, "liger_glu_activation": True, "tiled_mlp": True, "tiled_mlp_use_original_mlp": True},
    ),
    Validator(
        "axolotl-liger-tensor-parallel",
        "Liger's RMSNorm or fused linear cross entropy with tensor parallelism.",
        LIGER + "check_liger_rms_norm_tensor_parallel, " + LIGER + "check_tensor_parallel_size_liger_fused_linear_"
        "cross_entropy",
        gated(
            "liger",
            lambda v: (
                ("`liger_rms_norm` is incompatible with tensor parallelism", "liger_rms_norm")
                if v.get("liger_rms_norm") and whole(v.get("tensor_parallel_size")) and v["tensor_parallel_size"] > 1
                else ("Tensor parallelism is not compatible with liger losses.", "liger_fused_linear_cross_entropy")
                if v.get("liger_fused_linear_cross_entropy")
                and whole(v.get("tensor_parallel_size"))
                and v["tensor_parallel_size"] > 1
                else None
            ),
        ),
        fix="Turn liger_rms_norm and liger_fused_linear_cross_entropy off under tensor parallelism.",
        refused={**_LIGER, "liger_rms_norm": True, "tensor_parallel_size": 2},
        accepted={**_LIGER, "liger_rms_norm": True, "tensor_parallel_size": 1},
    ),
    Validator(
        "axolotl-liger-token-scaling",
        "liger_use_token_scaling without liger_fused_linear_cross_entropy.",
        LIGER + "check_liger_use_token_scaling_flce",
        gated(
            "liger",
            when(
                lambda v: v.get("liger_use_token_scaling") and not v.get("liger_fused_linear_cross_entropy"),
                "`liger_use_token_scaling: true` requires `liger_fused_linear_cross_entropy` enabled.",
                "liger_use_token_scaling",
            ),
        ),
        fix="Set liger_fused_linear_cross_entropy: true, or drop liger_use_token_scaling.",
        refused={**_LIGER, "liger_use_token_scaling": True},
        accepted={**_LIGER, "liger_use_token_scaling": True, "liger_fused_linear_cross_entropy": True},
    ),
    Validator(
        "axolotl-cce-half-precision",
        "Cut Cross Entropy without bf16 or fp16.",
        CCE + "check_dtype_is_half",
        gated(
            "cut_cross_entropy",
            when(
                lambda v: v.get("cut_cross_entropy") and not (v.get("bf16") or v.get("fp16")),
                "Cut Cross Entropy requires fp16/bf16 training for backward pass. Please set `bf16` or `fp16` to "
                "`True`.",
                "cut_cross_entropy",
            ),
        ),
        fix="Set bf16: true (or fp16: true), or drop cut_cross_entropy.",
        refused={**_CCE, "cut_cross_entropy": True, "bf16": None},
        accepted={**_CCE, "cut_cross_entropy": True},
    ),
    Validator(
        "axolotl-cce-chunked",
        "Cut Cross Entropy's plugin with chunked_cross_entropy.",
        CCE + "check_chunked_cross_entropy_not_set",
        gated(
            "cut_cross_entropy",
            when(
                lambda v: v.get("chunked_cross_entropy"),
                "Cut Cross Entropy does not support chunked cross entropy. Please set `chunked_cross_entropy` to "
                "`False` or disable Cut Cross Entropy.",
                "chunked_cross_entropy",
            ),
        ),
        fix="Set chunked_cross_entropy: false, or drop the Cut Cross Entropy plugin.",
        refused={**_CCE, "chunked_cross_entropy": True},
        accepted={"chunked_cross_entropy": True},
    ),
    Validator(
        "axolotl-cce-chunk-size",
        "cut_cross_entropy_c_grad_chunk_size not a multiple of 128, or without the fp32 accumulator.",
        CCE + "check_c_grad_chunk_size",
        gated("cut_cross_entropy", cce_chunk),
        fix="Use 'auto' or a positive multiple of 128, with cut_cross_entropy_accum_c_fp32: true.",
        since="0.20.0",
        refused={**_CCE, "cut_cross_entropy_c_grad_chunk_size": 100, "cut_cross_entropy_accum_c_fp32": True},
        accepted={**_CCE, "cut_cross_entropy_c_grad_chunk_size": 256, "cut_cross_entropy_accum_c_fp32": True},
    ),
    Validator(
        "axolotl-swanlab",
        "SwanLab's plugin without swanlab_project, or with an unknown swanlab_mode.",
        "integrations/swanlab/plugins.py:SwanLabPlugin.register, integrations/swanlab/args.py:SwanLabConfig."
        "validate_swanlab_mode, integrations/swanlab/args.py:SwanLabConfig.validate_swanlab_project, "
        "integrations/swanlab/args.py:SwanLabConfig.validate_swanlab_enabled_requires_project",
        gated("swanlab", swanlab),
        fix="Set swanlab_project (use_swanlab defaults to true once the plugin is listed) and a swanlab_mode of "
        "cloud, local, offline or disabled; or set use_swanlab: false.",
        refused={**_SWAN, "swanlab_project": None},
        accepted=_SWAN,
    ),
    Validator(
        "axolotl-swanlab-loggers",
        "use_swanlab beside another experiment logger.",
        "integrations/swanlab/plugins.py:SwanLabPlugin.register",
        gated("swanlab", loggers),
        fix="Keep one experiment logger for production runs.",
        level=Severity.WARNING,
        refused={**_SWAN, "use_swanlab": True, "use_wandb": True},
        accepted={**_SWAN, "use_swanlab": True},
    ),
    Validator(
        "axolotl-nemo-gym-config",
        "nemo_gym_enabled without nemo_gym_config_paths or nemo_gym_datasets.",
        "integrations/nemo_gym/args.py:NemoGymArgs.check_nemo_gym_config",
        gated("nemo_gym", nemo_gym),
        fix="Set nemo_gym_config_paths (or nemo_gym_auto_start: false) and nemo_gym_datasets.",
        refused=_GYM,
        accepted={**_GYM, "nemo_gym_enabled": False},
    ),
    Validator(
        "axolotl-spectrum-fsdp",
        "Spectrum with FSDP and use_orig_params off.",
        "integrations/spectrum/args.py:SpectrumArgs.check_fsdp_use_orig_params",
        gated("spectrum", spectrum_fsdp),
        fix="Set fsdp_config.use_orig_params: true with Spectrum.",
        until="0.20.0",
        refused={"plugins": ["axolotl.integrations.spectrum.SpectrumPlugin"], **_FSDP},
        accepted={
            "plugins": ["axolotl.integrations.spectrum.SpectrumPlugin"],
            "fsdp": ["full_shard"],
            "fsdp_config": {"use_orig_params": True},
        },
    ),
    Validator(
        "axolotl-llmcompressor-required",
        "The LLM Compressor plugin without its llmcompressor block or recipe.",
        "integrations/llm_compressor/args.py:LLMCompressorArgs.llmcompressor, "
        "integrations/llm_compressor/args.py:CompressionArgs.recipe",
        gated("llm_compressor", llm_compressor),
        fix="Add an llmcompressor block with the recipe to apply.",
        refused={"plugins": ["axolotl.integrations.llm_compressor.LLMCompressorPlugin"]},
        accepted={
            "plugins": ["axolotl.integrations.llm_compressor.LLMCompressorPlugin"],
            "llmcompressor": {"recipe": "recipe.yaml"},
        },
    ),
)

register(VALIDATORS)
