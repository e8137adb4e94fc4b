"""`load_lora`: apply an Axolotl LoRA config to a real model, as Axolotl's own `load_lora` does.

The LoraConfig comes from the step compile uses (`engine.middle.lora_config_for`, on the given
model), so what trains is what `lora-compiler compile` reported. Every
refusal that can be decided up front (bad YAML, an adapter directory that does not fit the model,
LoftQ without its requirements, a pickle) is raised as `LoraCompilerError` before PEFT touches the
model. See docs/runtime.md for the `mixed_adapters` YAML extension.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..pipeline.document import Document
from ..pipeline.spec import AdapterSpec, parse_spec
from ..results.findings import Finding
from ..rulebook.pipeline import LOFTQ_UNAVAILABLE
from ..rules.adapter import LOFTQ_QUANTIZED, LORA_RANK_MISSING, NO_TARGETS
from ..rules.adapter_dir import check_adapter_dir
from ..rules.keys import UNKNOWN_KEY
from .mixed import mixed_adapters, mixed_model
from .peft_calls import LoraCompilerError, logger, peft_call, report

__all__ = ["LoraCompilerError", "ParameterSummary", "load_lora", "parameter_summary", "quantization_of"]


@dataclass(frozen=True)
class ParameterSummary:
    """PEFT's print_trainable_parameters line, as data."""

    trainable: int
    total: int
    percent: float

    def __str__(self) -> str:
        return f"trainable params: {self.trainable:,d} || all params: {self.total:,d} || trainable%: {self.percent:.4f}"


def parameter_summary(model: Any) -> ParameterSummary:
    """Trainable and total parameters counted as PEFT counts them (4-bit parameters twice)."""
    if hasattr(model, "get_nb_trainable_parameters"):
        trainable, total = model.get_nb_trainable_parameters()
    else:
        counts = [
            (p.numel() * (2 if type(p).__name__ == "Params4bit" else 1), p.requires_grad) for p in model.parameters()
        ]
        trainable, total = sum(n for n, t in counts if t), sum(n for n, _ in counts)
    return ParameterSummary(int(trainable), int(total), 100.0 * trainable / total if total else 0.0)


def load_lora(
    model: Any,
    cfg: str | Path | Mapping[str, Any] | AdapterSpec | Document,
    inference: bool = False,
    config_only: bool = False,
    *,
    allow_pickle: bool = False,
) -> tuple[Any, Any]:
    """Axolotl's load_lora(model, cfg, inference, config_only): returns (PeftModel or PeftMixedModel, LoraConfig).

    `cfg` is a YAML path, a mapping of Axolotl keys, an AdapterSpec or a parsed Document. With
    `lora_model_dir` the saved adapter is loaded, trainable unless `inference`; otherwise a fresh
    adapter is injected. `config_only` returns (None, LoraConfig) and leaves the model alone.
    A pickle adapter_model.bin is only loaded with `allow_pickle=True`.
    """
    doc, spec = _parse(cfg)
    mixed = mixed_adapters(doc)
    has_targets = bool(spec.lora_target_modules or spec.lora_target_linear or spec.lora_target_parameters)
    fresh = not spec.lora_model_dir and (has_targets or not mixed)
    lora_config = _lora_config(doc, spec, model, fresh)
    if config_only:
        return None, lora_config
    found: list[Finding] = []
    if fresh:
        found += _loftq_findings(doc, model, lora_config)
    elif spec.lora_model_dir:
        from ..pipeline.peftcfg import adapter_config_dict

        found += check_adapter_dir(
            spec.lora_model_dir, model, adapter_config_dict(lora_config), doc=doc, allow_pickle=allow_pickle
        )
    for i, entry in enumerate(mixed):
        if entry.path:
            found += check_adapter_dir(
                entry.path, model, doc=doc, at=("mixed_adapters", i, "path"), allow_pickle=allow_pickle
            )
    report(found)
    kwargs: dict[str, Any] = {}
    if spec.peft_autocast_adapter_dtype is not None:
        kwargs["autocast_adapter_dtype"] = spec.peft_autocast_adapter_dtype
    if fresh:
        _drop_expert_dropout(doc, spec, model, lora_config)
    if mixed:
        peft_model = mixed_model(model, doc, spec, lora_config if fresh else None, mixed, inference, kwargs)
    elif saved := spec.lora_model_dir:
        from peft import PeftModel

        peft_model = peft_call(
            doc,
            ("lora_model_dir",),
            lambda: PeftModel.from_pretrained(model, saved, is_trainable=not inference, **kwargs),
        )
    else:
        from peft import get_peft_model

        peft_model = peft_call(doc, None, lambda: get_peft_model(model, lora_config, **kwargs), spec)
    logger.info("%s", parameter_summary(peft_model))
    return peft_model, lora_config


def quantization_of(model: Any) -> str | None:
    """Why `model` counts as already quantized (as PEFT and transformers mark it), or None."""
    for attr in ("is_loaded_in_4bit", "is_loaded_in_8bit", "is_quantized"):
        if getattr(model, attr, False) is True:
            return f"{attr} is set"
    quant = getattr(getattr(model, "config", None), "quantization_config", None)
    if quant:
        method = quant.get("quant_method") if isinstance(quant, dict) else getattr(quant, "quant_method", None)
        return f"its config has a quantization_config ({getattr(method, 'value', method) or 'unknown method'})"
    layers = {type(m).__name__ for m in model.modules()} & {"Linear4bit", "Linear8bitLt"}
    return f"it has {' and '.join(sorted(layers))} layers" if layers else None


def _parse(cfg: Any) -> tuple[Document, AdapterSpec]:
    from ..engine.compiler import load_document

    if isinstance(cfg, AdapterSpec):
        return Document(file=None, values={}), cfg  # type: ignore[arg-type]
    doc = load_document(cfg)
    report(doc.findings)
    spec, problems = parse_spec(doc)
    report(problems)
    assert spec is not None  # parse_spec returns findings (raised above) when there is no spec
    return doc, spec


def _lora_config(doc: Document, spec: AdapterSpec, model: Any, fresh: bool) -> Any:
    """Compile's LoraConfig through compile's own middle step (engine.middle), on the live model.

    What differs from compile is decided here: the model rules run only for a `fresh` adapter, the
    findings that do not hold at runtime are dropped (`_applies`), errors raise and the rest are
    logged, and the LoraConfig names no base model (see below).
    """
    from ..engine.front import adapter_findings
    from ..engine.middle import lora_config_for
    from ..profiles import select
    from ..rules import run_stage
    from ..rules.context import Context

    selection = select()  # LORA_COMPILER_AXOLOTL, else the installed axolotl's semantics, else the newest
    problems = adapter_findings(doc, spec, selection.profile)
    if problems:
        raise LoraCompilerError(problems)
    # The caller built the model, so remote code was theirs to allow; rules about the skeleton run on it.
    ctx = Context(doc, spec, selection, allow_remote_code=True, skeleton=_ModelView.of(model))
    found = [f for f in run_stage("config", ctx) if _applies(f, fresh)]
    middle = lora_config_for(ctx, found, model_rules=fresh, keep=lambda f: _applies(f, fresh))
    report(found + middle.findings)
    config = middle.lora_config
    assert config is not None  # what stops the middle step is an error finding, raised just above
    # Axolotl's LoraConfig leaves base_model_name_or_path unset and PEFT takes the model's own name;
    # compile's adapter_config.json names base_model because it has no model to take it from.
    config.base_model_name_or_path = None
    return config


def _applies(finding: Finding, fresh: bool) -> bool:
    """Compile's findings that still hold at runtime: mixed_adapters is a key load_lora knows, and an
    adapter loaded from a directory brings its own targets and rank; and the run has started, so Axolotl's
    start-up checks about the rest of the run (datasets, evaluation, distribution) are behind it."""
    from ..rules.axolotl.validator import blocks_adapter

    if finding.rule == UNKNOWN_KEY.id and finding.key == "mixed_adapters":
        return False
    if not blocks_adapter(finding):
        return False
    return fresh or finding.rule not in (NO_TARGETS.id, LORA_RANK_MISSING.id)


@dataclass(frozen=True)
class _ModelView:
    """The fields of skeleton.Skeleton that compile's model rules read, taken from a live model."""

    model: Any
    config: Any
    architecture: str
    model_type: str
    num_hidden_layers: int | None

    @classmethod
    def of(cls, model: Any) -> _ModelView:
        config = getattr(model, "config", None)
        text = config.get_text_config() if config is not None and hasattr(config, "get_text_config") else config
        return cls(
            model,
            config,
            type(model).__name__,
            getattr(config, "model_type", "") or "",
            getattr(text, "num_hidden_layers", None),
        )


def _loftq_findings(doc: Document, model: Any, lora_config: Any) -> list[Finding]:
    """PEFT's LoftQ quantizes full-precision weights with bitsandbytes on CUDA/XPU: refuse before it starts."""
    if lora_config.init_lora_weights != "loftq":
        return []
    at = ("peft", "loftq_config")
    quantized = quantization_of(model)
    if quantized:
        return [
            LOFTQ_QUANTIZED.at(
                doc,
                f"LoftQ initialises LoRA from the full-precision base weights it "
                f"quantizes itself, but this base model is already quantized ({quantized})",
                at,
                hint="load the base model without load_in_4bit/load_in_8bit for LoftQ",
            )
        ]
    import torch
    from peft.import_utils import (
        is_bnb_4bit_available,
        is_bnb_available,
        is_xpu_available,
    )

    bits = (lora_config.loftq_config or {}).get("loftq_bits", 4)
    missing = []
    if not (is_bnb_4bit_available() if bits == 4 else is_bnb_available()):
        missing.append("bitsandbytes is not installed")
    if not (torch.cuda.is_available() or is_xpu_available()):
        missing.append("no CUDA or XPU device is available")
    if not missing:
        return []
    return [
        LOFTQ_UNAVAILABLE.at(
            doc,
            f"PEFT's LoftQ initialisation needs bitsandbytes and a CUDA or XPU "
            f"device: {' and '.join(missing)}; the model was not changed",
            at,
            hint="run on a GPU machine with bitsandbytes, or remove peft.loftq_config",
        )
    ]


def _drop_expert_dropout(doc: Document, spec: AdapterSpec, model: Any, lora_config: Any) -> None:
    """Axolotl's MoE rule: PEFT rewrites expert targets into ParamWrapper parameter targets, which refuse
    dropout; give those wrappers dropout 0 and every other layer the YAML's dropout.

    Done through PEFT's custom-module dispatch on this config only, not by patching ParamWrapper globally.
    """
    if not lora_config.lora_dropout or not _peft_will_convert_targets(model, lora_config):
        return
    from peft.tuners.lora.layer import ParamWrapper

    def wrap(target: Any, adapter_name: str, config: Any, parameter_name: str | None = None, **kw: Any) -> Any:
        if parameter_name is None:
            return None  # not a parameter target: PEFT's own dispatchers decide
        undropped = copy.copy(config)
        undropped.lora_dropout = 0.0
        return ParamWrapper(target, adapter_name, parameter_name=parameter_name, config=undropped, **kw)

    import torch

    lora_config._register_custom_module({torch.nn.Module: wrap})
    from ..rules.peft_outcome import fused_dropout

    report([fused_dropout(doc, spec.lora_dropout or 0.0)])


def _peft_will_convert_targets(model: Any, lora_config: Any) -> bool:
    """Run PEFT's transformers-5 config conversion on a copy: does it produce target_parameters?"""
    if lora_config.target_parameters:
        return False
    try:
        from peft.utils.transformers_weight_conversion import (
            convert_peft_config_for_transformers,
            get_model_conversion_mapping,
        )
    except ImportError:  # transformers 4: nothing is converted
        return False
    probe = copy.deepcopy(lora_config)
    try:
        convert_peft_config_for_transformers(probe, model=model, conversions=get_model_conversion_mapping(model))
    except Exception:  # a conversion PEFT cannot do is PEFT's error to report at injection
        return False
    return bool(probe.target_parameters)
