"""What Axolotl's start-up does to a config outside the pydantic schema, before data or weights are touched.

`axolotl train` loads the listed plugins, validates the YAML (utils/config validate_config), then
normalize_config derives the batch arithmetic, the dtype and the checkpoint intervals from the *validated*
config (pydantic's defaults filled in), and load_cfg exports the trackers' settings. The raises and rewrites
the YAML alone decides are mirrored here; the parts that need the model's config.json, the GPU, the network
or the environment are named in the out_of_scope comments below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...results.findings import Severity
from .deprecated import INVALID, coerced
from .validator import OLDEST, Check, Found, Validator, Values, out_of_scope, register, release_key

CONFIG = "utils/config/__init__.py:"


def _number(v: Values, key: str, tp: type, default: Any = None) -> Any:
    """The validated value of a scalar key (its schema default when absent), or None when pydantic refuses it."""
    if key not in v:
        return default
    value = coerced(v[key], tp)
    return None if value is INVALID else value


def batch_size(v: Values) -> Found | None:
    """normalize_config derives gradient_accumulation_steps from batch_size only when the validated config
    has none, but the schema's default fills in 1: batch_size then only sets the step count."""
    total, micro = _number(v, "batch_size", int), _number(v, "micro_batch_size", int)
    if not total or not micro:
        return None  # check_batch_size_fields refuses a lone batch_size
    if "gradient_accumulation_steps" not in v:
        if total == micro:
            return None
        return (
            f"gradient_accumulation_steps keeps its default 1, so each step trains micro_batch_size ({micro}) "
            f"samples per GPU while the number of steps comes from batch_size ({total}): the run covers about "
            f"{micro}/{total} of the data it was planned for",
            "batch_size",
        )
    if _number(v, "gradient_accumulation_steps", int) or total % micro == 0:
        return None  # check_gas_bsz refuses both set
    steps = total // micro
    return (
        f"gradient_accumulation_steps becomes batch_size // micro_batch_size = {steps}, so each step trains "
        f"{steps * micro} samples per GPU, not batch_size ({total})",
        "batch_size",
    )


def _per_epoch(key: str, what: str, outcome: str, applies: Callable[[Values], bool] = lambda v: True) -> Check:
    """normalize_config turns saves_per_epoch / evals_per_epoch into a fraction of the run's steps; below one
    per run it warns and drops them."""

    def check(v: Values) -> Found | None:
        per_epoch, epochs = _number(v, key, int), _number(v, "num_epochs", float, 1.0)
        if not per_epoch or not epochs or not applies(v):
            return None
        steps = 1.0 / (per_epoch * epochs)
        if steps <= 1:
            return None
        return (f"Invalid value for {what} ({steps}) from {key} and/or num_epochs. {outcome}", key)

    return check


def _evaluates(v: Values) -> bool:
    return bool(_number(v, "val_set_size", float, 0.0) or v.get("test_datasets"))


def mixlora_reentrant(v: Values) -> Found | None:
    kwargs = v.get("gradient_checkpointing_kwargs")
    if (
        v.get("adapter") == "mixlora"
        and v.get("gradient_checkpointing")
        and isinstance(kwargs, Mapping)
        and "use_reentrant" in kwargs
        and kwargs["use_reentrant"] is not False
    ):
        return (
            "MixLoRA sets gradient_checkpointing_kwargs.use_reentrant to false: reentrant checkpointing recomputes "
            "the forward pass without the autograd graph and would drop MixLoRA's auxiliary loss",
            ("gradient_checkpointing_kwargs", "use_reentrant"),
        )
    return None


def bf16_and_fp16(v: Values) -> Found | None:
    if coerced(v.get("bf16"), bool) is True and coerced(v.get("fp16"), bool) is True:
        return ("bf16 and fp16 are both set: resolve_dtype keeps bf16 and turns fp16 off", "fp16")
    return None


def _diffusion_lm(v: Values) -> Mapping[str, Any] | None:
    block = v.get("diffusion_lm")
    return block if isinstance(block, Mapping) else None


def _native_diffusion(v: Values) -> bool:
    """model_support.is_native_diffusion: a diffusion_lm block without from_causal_lm (default false)."""
    block = _diffusion_lm(v)
    return block is not None and not coerced(block.get("from_causal_lm", False), bool)


DIFFUSION_PLUGINS = frozenset(
    {"axolotl.integrations.diffusion.DiffusionPlugin", "axolotl.integrations.diffusion.plugin.DiffusionPlugin"}
)


def diffusion_without_plugin(v: Values) -> Found | None:
    block = _diffusion_lm(v)
    if block is None or _native_diffusion(v):
        return None  # a native diffusion target is judged against the model's support profile (out of scope)
    plugins = v.get("plugins")
    listed = {p.replace(":", ".", 1) for p in plugins if isinstance(p, str)} if isinstance(plugins, list) else set()
    if listed & DIFFUSION_PLUGINS:
        return None
    return (
        "`diffusion_lm.from_causal_lm: true` requires `plugins: [axolotl.integrations.diffusion.DiffusionPlugin]`; "
        "without it training would silently fall back to causal SFT.",
        ("diffusion_lm", "from_causal_lm"),
    )


def varlen(v: Values) -> Found | None:
    if v.get("attn_implementation") != "varlen" or _native_diffusion(v):
        return None  # native diffusion: whether the model declares diffusion_varlen needs its config.json
    return (
        "attn_implementation: varlen is supported only for native full-sequence diffusion models that declare "
        "diffusion_varlen.",
        "attn_implementation",
    )


COMET = "utils/comet_.py:setup_comet_env_vars"
# setup_comet_env_vars' names for comet_experiment_config keys (the same in 0.19-0.21); it skips any other.
COMET_SETTINGS = frozenset(
    """auto_histogram_activation_logging auto_histogram_epoch_rate auto_histogram_gradient_logging
    auto_histogram_tensorboard_logging auto_histogram_weight_logging auto_log_co2 auto_metric_logging
    auto_metric_step_rate auto_output_logging auto_param_logging comet_disabled display_summary_level
    distributed_node_identifier log_code log_env_cpu log_env_details log_env_disk log_env_gpu log_env_host
    log_env_network log_git_metadata log_git_patch log_graph name offline_directory parse_args tags""".split()
)


def comet_setting(v: Values) -> Found | None:
    block = v.get("comet_experiment_config")
    if not isinstance(block, Mapping):
        return None
    for key, value in block.items():
        if key not in COMET_SETTINGS and value is not None and value != "":
            return f"Unknown Comet Experiment Config name {key}, ignoring it", ("comet_experiment_config", key)
    return None


# The plugin packages Axolotl ships under axolotl.integrations (its wheel's folders and modules there), by the
# first release that ships each.
_SHIPPED_SINCE = {
    **dict.fromkeys(
        "base config cut_cross_entropy densemixer diffusion expert_parallel grokfast hatchery kd kernels liger "
        "llm_compressor lm_eval mora nemo_gym spectrum swanlab".split(),
        OLDEST,
    ),
    **dict.fromkeys("baseten context_parallel fla_sm120_shim mixlora modal nebius".split(), "0.20.0"),
    **dict.fromkeys("coreweave diffusion_decision".split(), "0.21.0"),
}


def shipped(release: str) -> frozenset[str]:
    """The plugin packages a release ships."""
    return frozenset(p for p, since in _SHIPPED_SINCE.items() if release_key(since) <= release_key(release))


INTEGRATIONS = "axolotl.integrations."


def _plugins(v: Values) -> list[tuple[int, str]]:
    plugins = v.get("plugins")
    return [(i, p) for i, p in enumerate(plugins) if isinstance(p, str)] if isinstance(plugins, list) else []


def _split(name: str, entry_points: bool) -> tuple[str, str] | None:
    """(module, attribute) as load_plugin splits a plugin name; None when it cannot (ValueError)."""
    if entry_points and ":" in name:
        module, _, attribute = name.partition(":")
        return module, attribute
    module, dot, attribute = name.rpartition(".")
    return (module, attribute) if dot else None


def unsplittable_plugin(entry_points: bool) -> Check:
    """load_plugin splits `module.Class` at its last dot (0.21 also takes `module:Class`): a name without one
    cannot be split (ValueError); before 0.21 `module:Class` splits inside the package path, and the package
    has no such attribute (AttributeError)."""

    def check(v: Values) -> Found | None:
        for i, name in _plugins(v):
            split = _split(name, entry_points)
            if split is None:
                return f"plugin {name!r}: not enough values to unpack (expected 2, got 1)", ("plugins", i)
            if ":" in split[1]:
                return f"plugin {name!r}: module {split[0]!r} has no attribute {split[1]!r}", ("plugins", i)
        return None

    return check


def missing_plugin(release: str) -> Check:
    """A plugin module under axolotl.integrations that this release does not ship: before 0.21 register logs
    the ImportError and the run goes on without the plugin (and its keys); 0.21 refuses."""
    refuses = release_key(release) >= (0, 21)

    def check(v: Values) -> Found | None:
        for i, name in _plugins(v):
            module = (_split(name, refuses) or ("", ""))[0]
            package = module.removeprefix(INTEGRATIONS).split(".")[0]
            if module.startswith(INTEGRATIONS) and package not in shipped(release):
                said = f"No module named '{INTEGRATIONS}{package}'" if refuses else f"Failed to load plugin: {name}"
                return said, ("plugins", i)
        return None

    return check


MIXLORA = {
    "adapter": "mixlora",
    "plugins": ["axolotl.integrations.mixlora.MixLoraPlugin"],
    "lora_target_linear": None,
    "lora_target_modules": ["q_proj", "v_proj"],
    "gradient_checkpointing": True,
}

VALIDATORS: tuple[Validator, ...] = (
    Validator(
        "axolotl-batch-size-not-accumulated",
        "batch_size that gradient accumulation does not reach.",
        CONFIG + "normalize_config, cli/train.py:ray_train_func",
        batch_size,
        fix="Set gradient_accumulation_steps (batch_size / micro_batch_size / GPUs) and drop batch_size.",
        level=Severity.INFO,
        refused={"batch_size": 16, "micro_batch_size": 4, "gradient_accumulation_steps": None},
        accepted={"batch_size": 4, "micro_batch_size": 4, "gradient_accumulation_steps": None},
    ),
    Validator(
        "axolotl-saves-per-epoch",
        "saves_per_epoch * num_epochs below 1: no checkpoint until the end.",
        CONFIG + "normalize_config",
        _per_epoch("saves_per_epoch", "save_steps", "Saving at training end only."),
        fix="Raise saves_per_epoch so that saves_per_epoch * num_epochs is at least 1, or set save_steps.",
        level=Severity.WARNING,
        refused={"saves_per_epoch": 1, "num_epochs": 0.5},
        accepted={"saves_per_epoch": 2, "num_epochs": 0.5},
    ),
    Validator(
        "axolotl-evals-per-epoch",
        "evals_per_epoch * num_epochs below 1: no evaluation at all.",
        CONFIG + "normalize_config",
        _per_epoch("evals_per_epoch", "eval_steps", "Skipping evaluations.", _evaluates),
        fix="Raise evals_per_epoch so that evals_per_epoch * num_epochs is at least 1, or set eval_steps.",
        level=Severity.WARNING,
        refused={"evals_per_epoch": 1, "num_epochs": 0.5, "val_set_size": 0.05},
        accepted={"evals_per_epoch": 2, "num_epochs": 0.5, "val_set_size": 0.05},
    ),
    Validator(
        "axolotl-bf16-and-fp16",
        "bf16: true with fp16: true.",
        CONFIG
        + "normalize_config",  # in resolve_dtype, which the inventory does not list (it neither raises nor warns)
        bf16_and_fp16,
        fix="Keep one of bf16 and fp16.",
        level=Severity.INFO,
        refused={"bf16": True, "fp16": True},
        accepted={"bf16": True, "fp16": False},
    ),
    Validator(
        "axolotl-mixlora-reentrant",
        "Reentrant gradient checkpointing with the mixlora adapter.",
        CONFIG + "normalize_config",
        mixlora_reentrant,
        fix="Set gradient_checkpointing_kwargs.use_reentrant: false (what MixLoRA trains with).",
        level=Severity.INFO,
        since="0.20.0",
        refused={**MIXLORA, "gradient_checkpointing_kwargs": {"use_reentrant": True}},
        accepted={**MIXLORA, "gradient_checkpointing_kwargs": {"use_reentrant": False}},
    ),
    Validator(
        "axolotl-diffusion-lm-plugin",
        "diffusion_lm.from_causal_lm without the diffusion plugin.",
        CONFIG + "_validate_diffusion_lm_target",
        diffusion_without_plugin,
        fix="Add axolotl.integrations.diffusion.DiffusionPlugin to plugins, or train a native diffusion model.",
        since="0.21.0",
        refused={"diffusion_lm": {"from_causal_lm": True}},
        accepted={
            "diffusion_lm": {"from_causal_lm": True},
            "plugins": ["axolotl.integrations.diffusion.DiffusionPlugin"],
        },
    ),
    Validator(
        "axolotl-varlen-attention",
        "attn_implementation: varlen outside native diffusion training.",
        CONFIG + "normalize_config",
        varlen,
        fix="Choose another attn_implementation (flash_attention_2, sdpa, flex_attention, ...).",
        since="0.21.0",
        refused={"attn_implementation": "varlen"},
        accepted={"attn_implementation": "sdpa"},
    ),
    Validator(
        "axolotl-plugin-name",
        "A plugins entry that is not module.Class.",
        "integrations/base.py:load_plugin",
        unsplittable_plugin(entry_points=False),
        fix="Name the plugin as module.Class, e.g. axolotl.integrations.liger.LigerPlugin.",
        until="0.21.0",
        refused={"plugins": ["LigerPlugin"]},
        accepted={"plugins": ["axolotl.integrations.liger.LigerPlugin"]},
    ),
    Validator(
        "axolotl-plugin-name",
        "A plugins entry that is not module.Class.",
        "integrations/base.py:load_plugin",
        unsplittable_plugin(entry_points=True),
        fix="Name the plugin as module.Class, e.g. axolotl.integrations.liger.LigerPlugin.",
        since="0.21.0",
        refused={"plugins": ["LigerPlugin"]},
        accepted={"plugins": ["axolotl.integrations.liger:LigerPlugin"]},
    ),
    *(
        Validator(
            "axolotl-plugin-missing",
            "A plugin under axolotl.integrations that the release does not ship.",
            "integrations/base.py:PluginManager.register",
            missing_plugin(release),
            fix="Correct the plugin's package name, or pick the Axolotl release that ships it.",
            level=Severity.ERROR if release == "0.21.0" else Severity.WARNING,
            since=release,
            until=until,
            refused={"plugins": ["axolotl.integrations.ligerr.LigerPlugin"]},
            accepted={"plugins": ["axolotl.integrations.liger.LigerPlugin"]},
        )
        for release, until in (("0.19.0", "0.20.0"), ("0.20.0", "0.21.0"), ("0.21.0", None))
    ),
    Validator(
        "axolotl-comet-setting",
        "A comet_experiment_config key Comet's settings do not know.",
        COMET,
        comet_setting,
        fix="Use one of Axolotl's comet_experiment_config names (name, tags, log_code, auto_metric_logging, ...).",
        level=Severity.WARNING,
        refused={"comet_experiment_config": {"project": "x"}},
        accepted={"comet_experiment_config": {"name": "x"}},
    ),
)

register(VALIDATORS)

out_of_scope(
    {
        # Only the inventory's entries are declared. normalize_config's other parts need the model's config.json
        # (fetched from the Hub): the model type's LoRA-kernel support (the warning that turns the kernels off),
        # Gemma 4's checkpointing and DDP settings, native diffusion's multimodal and torch checks, the
        # model-support hooks; WORLD_SIZE scales the global batch size. _validate_diffusion_lm_target's first
        # branch judges a native diffusion target by the model's support profile. Outside the inventory:
        # normalize_cfg_datasets copies the top-level chat template into datasets that fall back to it anyway,
        # and the trackers' set-up only turns use_wandb/use_mlflow/use_trackio on.
        CONFIG + "choose_device": "gpu",
        # Its own raise is for a caller passing one of capabilities/env_capabilities; the dataset entries it
        # builds are the schema's (the type and dataset rules).
        CONFIG + "validate_config": "environment",
        "cli/config.py:check_remote_config": "network",  # a config given as an https URL
        "cli/config.py:choose_config": "environment",  # a directory given in place of a file
        "cli/config.py:load_cfg": "environment",  # its rewrites and warning are the command line's overrides
    }
)
