"""Build the model Axolotl would load, on the meta device: every module and shape, no memory.

The only place (with inject.py and runtime.py) that imports torch and transformers. Remote code
runs only when both the YAML and the command line allow it: a pull request's YAML alone must
never be able to execute a model repository's Python.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .. import inputs
from ..rulebook.pipeline import MODEL_CONFIG_INVALID, MODEL_TOO_LARGE, REMOTE_CODE_REQUIRED, SKELETON_FAILED
from ..rulebook.registry import Rule
from .document import read_bounded
from .source import CONFIG_NAME, ModelSource
from .spec import AdapterSpec

# Every spec field this module reads: the skeleton's identity in a batch (session.Session.key).
# tests/structure/test_walls.py checks the list against the attributes read below.
SPEC_FIELDS = (
    "base_model",
    "cls_model_config",
    "gptq",
    "is_multimodal",
    "num_labels",
    "overrides_of_model_config",
    "trust_remote_code",
    "type_of_model",
)
# Multimodal model types Axolotl adds to transformers' image-text-to-text mapping (loaders/constants.py).
_EXTRA_MULTIMODAL = ("lfm2-vl", "voxtral")


class SkeletonError(Exception):
    """A model that cannot be built; `rule` and `key` say which finding to report."""

    def __init__(self, rule: Rule, message: str, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.rule, self.key, self.hint = rule, key, hint


@dataclass
class Skeleton:
    model: Any  # transformers.PreTrainedModel on the meta device
    config: Any
    model_type: str
    architecture: str
    loader: str
    is_multimodal: bool
    num_parameters: int
    num_hidden_layers: int | None


MAX_CONFIG_BYTES = 2 * 1024 * 1024  # real config.json files are KBs (the largest bundled: 60 KB); more is hostile
# What a meta skeleton may hold: building costs time and memory per module even without weights, so a
# config (or a Hub repo a YAML names) claiming 10^8 layers must be refused before transformers loops over
# them. The largest public models have 126 layers and 384 routed experts; each limit is an environment
# variable so a user with a bigger model can raise it.
SCALE_LIMITS = {
    "LORA_COMPILER_MAX_LAYERS": 1024,
    "LORA_COMPILER_MAX_EXPERTS": 4096,
    "LORA_COMPILER_MAX_LAYER_EXPERTS": 131_072,
}  # layers x experts: the expert modules to build
_LAYER_KEYS = (
    "num_hidden_layers",
    "num_layers",
    "n_layer",
    "n_layers",
    "num_decoder_layers",
    "decoder_layers",
    "encoder_layers",
    "depth",
    "num_encoder_layers",
)


def raw_config(source: ModelSource) -> dict[str, Any]:
    """config.json as a dict, read with a size bound; anything unusable is a model-config-invalid finding."""
    path = source.config_dir / CONFIG_NAME
    try:
        data = json.loads(read_bounded(path, MAX_CONFIG_BYTES).decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise SkeletonError(
            MODEL_CONFIG_INVALID,
            f"{path} cannot be read as a model config: {_first_line(exc)}",
            key="base_model",
            hint="point base_model at a directory with a valid config.json",
        ) from None
    if not isinstance(data, dict):
        raise SkeletonError(MODEL_CONFIG_INVALID, f"{path} is not a JSON object", key="base_model")
    if not isinstance(data.get("model_type", ""), str):
        raise SkeletonError(
            MODEL_CONFIG_INVALID,
            f"{path}: model_type must be a string, not {type(data['model_type']).__name__}",
            key="base_model",
        )
    return data


def load_config(source: ModelSource, spec: AdapterSpec, allow_remote_code: bool) -> Any:
    """The transformers config as Axolotl's load_model_config builds it."""
    import transformers
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    for package in ("torch", "transformers"):  # their code decides the skeleton as much as config.json does
        inputs.dist(package)
    raw = raw_config(source)
    check_scale(raw)  # before transformers: its configs build per-layer lists as they are created
    wants_remote = bool(spec.trust_remote_code)
    trust = wants_remote and allow_remote_code
    if trust:
        inputs.untracked("the model repository's own code ran")
    native = raw.get("model_type") in CONFIG_MAPPING_NAMES
    if "auto_map" in raw and not native and not trust:
        why = "the YAML does not set trust_remote_code" if not wants_remote else "--trust-remote-code was not given"
        raise SkeletonError(
            REMOTE_CODE_REQUIRED,
            f"model type '{raw.get('model_type')}' is defined by the model repository's own Python code "
            f"(auto_map), which is not run: {why}",
            key="trust_remote_code" if not wants_remote else "base_model",
            hint="review the repository's code, then set trust_remote_code: true and pass --trust-remote-code",
        )
    config_cls: Any = AutoConfig
    if spec.cls_model_config:
        # only a *Config name is looked up: getattr on a model class name would import its modeling code,
        # and that class's from_pretrained would load (and unpickle) the directory's weights
        name = spec.cls_model_config
        config_cls = getattr(transformers, name, None) if name.endswith("Config") else None
        if not (isinstance(config_cls, type) and issubclass(config_cls, transformers.PretrainedConfig)):
            raise SkeletonError(
                MODEL_CONFIG_INVALID,
                f"cls_model_config '{name}' is not a transformers config class",
                key="cls_model_config",
                hint="use a config class such as LlamaConfig, or "
                "remove the key (only config.json is ever read, never weights)",
            )
    kwargs: dict[str, Any] = {}
    if spec.num_labels:
        kwargs["num_labels"] = spec.num_labels
    try:
        with warnings.catch_warnings(), _quiet_transformers():
            warnings.simplefilter("ignore")
            config = config_cls.from_pretrained(str(source.config_dir), trust_remote_code=trust, **kwargs)
    except Exception as exc:
        raise SkeletonError(
            MODEL_CONFIG_INVALID,
            f"transformers cannot read {source.config_dir / CONFIG_NAME}: {_first_line(exc)}",
            key="base_model",
        ) from None
    for key, value in (spec.overrides_of_model_config or {}).items():
        setattr(config, key, value)
    check_scale(config.to_dict())
    # Axolotl loads from base_model, so that is the name PEFT records, not our config directory.
    config._name_or_path = spec.base_model or source.name
    return config


def _limit(name: str) -> int:
    try:
        return max(1, int(inputs.env(name) or ""))
    except ValueError:
        return SCALE_LIMITS[name]


def check_scale(config: dict[str, Any], where: str = "") -> None:
    """Refuse a config (or any of its sub-configs) whose layer or expert counts exceed the skeleton limits."""
    from ..model_facts import EXPERT_COUNT_KEYS

    def count(keys: tuple[str, ...]) -> tuple[str, int] | None:
        found = [(k, v) for k, v in config.items() if k in keys and isinstance(v, int) and not isinstance(v, bool)]
        return max(found, key=lambda kv: kv[1]) if found else None

    layers, experts = count(_LAYER_KEYS), count(EXPERT_COUNT_KEYS)
    checks = [("LORA_COMPILER_MAX_LAYERS", layers), ("LORA_COMPILER_MAX_EXPERTS", experts)]
    if layers and experts:
        checks.append(("LORA_COMPILER_MAX_LAYER_EXPERTS", (f"{layers[0]} x {experts[0]}", layers[1] * experts[1])))
    for env, found in checks:
        if found and found[1] > _limit(env):
            raise SkeletonError(
                MODEL_TOO_LARGE,
                f"the model config's {where}{found[0]} is {found[1]:,}; a skeleton is built "
                f"with at most {_limit(env):,} (no public model comes close, so the config is corrupt or hostile)",
                key="base_model",
                hint=f"if the model is real, raise the limit: {env}={found[1]} lora-compiler ...",
            )
    for key, value in config.items():
        if isinstance(value, dict) and len(where) < 200:
            check_scale(value, f"{where}{key}.")


def choose_loader(spec: AdapterSpec, config: Any) -> tuple[Any, str, bool]:
    """Axolotl's class choice: model_type class, else image-text-to-text for multimodal, else causal LM."""
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    model_type = getattr(config, "model_type", "")
    multimodal = bool(
        spec.is_multimodal
        or model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
        or model_type in _EXTRA_MULTIMODAL
        or "pixtral" in (spec.base_model or "").lower()
    )
    auto: Any = transformers.AutoModelForCausalLM
    if multimodal:
        auto = getattr(transformers, "VoxtralForConditionalGeneration", None) if model_type == "voxtral" else None
        auto = auto or transformers.AutoModelForImageTextToText
    name = spec.type_of_model
    if name and name != "AutoModelForCausalLM" and not spec.trust_remote_code and not spec.gptq:
        cls = getattr(transformers, name, None)
        if not isinstance(cls, type):
            raise SkeletonError(
                SKELETON_FAILED,
                f"transformers has no model class '{name}'",
                key="model_type",
                hint="use a transformers class name such as AutoModelForCausalLM, or remove model_type",
            )
        return cls, name, multimodal
    return auto, auto.__name__, multimodal


def build(source: ModelSource, spec: AdapterSpec, allow_remote_code: bool = False) -> Skeleton:
    """Build the skeleton on the meta device. Raises SkeletonError with a finding's worth of detail."""
    return build_from_config(load_config(source, spec, allow_remote_code), spec, allow_remote_code)


def build_from_config(config: Any, spec: AdapterSpec, allow_remote_code: bool = False) -> Skeleton:
    """The skeleton of a transformers config already in hand (load_config's, or the survey's defaults)."""
    import torch

    loader, loader_name, multimodal = choose_loader(spec, config)
    trust = bool(spec.trust_remote_code) and allow_remote_code
    try:
        with warnings.catch_warnings(), torch.device("meta"), skip_init(), _quiet_transformers():
            warnings.simplefilter("ignore")
            if loader_name.startswith("Auto"):
                model = loader.from_config(config, trust_remote_code=trust)
            else:
                model = loader(config)
    except Exception as exc:
        model_type = getattr(config, "model_type", "?")
        key = "model_type" if spec.type_of_model else "base_model"
        package = _missing_package(exc)
        if package:
            raise SkeletonError(
                SKELETON_FAILED,
                f"{loader_name} cannot build model type '{model_type}' without the optional "
                f"package '{package}' ({_first_line(exc).split(' but ')[0]})",
                key=key,
                hint=f"pip install {package}, then run again (more optional packages may follow; the survey, "
                "docs/families.md, lists the architectures that need them)",
            ) from None
        raise SkeletonError(
            SKELETON_FAILED,
            f"{loader_name} cannot build model type '{model_type}': {_first_line(exc)}",
            key=key,
            hint="check base_model / model_type; a model type newer than the installed transformers needs an upgrade",
        ) from None
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return Skeleton(
        model=model,
        config=config,
        model_type=getattr(config, "model_type", "") or "",
        architecture=type(model).__name__,
        loader=loader_name,
        is_multimodal=multimodal,
        num_parameters=sum(p.numel() for p in model.parameters()),
        num_hidden_layers=getattr(text, "num_hidden_layers", None),
    )


# torch.nn.init's in-place fills: on meta tensors they compute nothing but still cost a call each.
_INIT_FUNCTIONS = (
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
)
# The Tensor methods transformers 4's _init_weights fills with (weight.data.normal_(), bias.data.zero_()):
# on a meta tensor each goes through torch's Python reference implementation, about 1 ms a call.
_TENSOR_FILLS = ("normal_", "uniform_", "zero_", "fill_")


@contextmanager
def skip_init() -> Iterator[None]:
    """Make weight-initialising fills no-ops while modules are built on the meta device.

    Meta tensors have shapes but no values, so the fills (15-25% of building and injecting a
    large model; most of building one under transformers 4) change nothing. Patching the fills
    rather than transformers' init_weights keeps everything else that runs at construction, such
    as weight tying; the Tensor methods skip meta tensors only.
    """
    import torch
    import torch.nn.init as init

    saved = {name: getattr(init, name) for name in _INIT_FUNCTIONS if hasattr(init, name)}
    methods = {name: getattr(torch.Tensor, name) for name in _TENSOR_FILLS}

    def keep(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        return tensor

    def meta_keep(method: Any) -> Any:
        def fill(tensor: Any, *args: Any, **kwargs: Any) -> Any:
            return tensor if tensor.is_meta else method(tensor, *args, **kwargs)

        return fill

    try:
        for name in saved:
            setattr(init, name, keep)
        for name, method in methods.items():
            setattr(torch.Tensor, name, meta_keep(method))
        yield
    finally:
        for name, fn in saved.items():
            setattr(init, name, fn)
        for name, method in methods.items():
            setattr(torch.Tensor, name, method)


class _quiet_transformers:
    """transformers logs advice meant for training runs; keep the compiler's terminal output ours."""

    def __enter__(self) -> None:
        from transformers.utils import logging

        self._level = logging.get_verbosity()
        logging.set_verbosity_error()

    def __exit__(self, *exc: object) -> None:
        from transformers.utils import logging

        logging.set_verbosity(self._level)


_PIP_INSTALL = re.compile(r"pip install\s+`?([A-Za-z0-9][A-Za-z0-9._\-\[\]]*)")


def _missing_package(exc: BaseException) -> str | None:
    """The package a transformers "requires the X library ... pip install Y" error names, if it is one."""
    text = str(exc)
    if isinstance(exc, ImportError) or "requires the" in text:
        found = _PIP_INSTALL.search(text)
        return found.group(1).rstrip("`.") if found else None
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
