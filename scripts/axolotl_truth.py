#!/usr/bin/env python
"""Ground truth from the real Axolotl for a set of YAML configs.

Run with the Python of a venv that has the real axolotl installed (not
lora_compiler's), e.g.:

    /work/venvs/axo019/bin/python scripts/axolotl_truth.py \
        --models fixtures/models OUT.jsonl CONFIG.yml...

For each config it writes one JSON line with what Axolotl itself does:
validate_config + normalize_config, the LoraConfig that load_lora builds, the
PEFT-wrapped model's trainable parameters, and the trainable parameters after
train.py's post-load freezing (unfrozen_parameters, freeze_mm_modules).

The model is only a meta-device skeleton built from a local config.json
(`<models-dir>/<org>/<name>/config.json`); no weights, tokenizer or network.
This script must not import lora_compiler.

Known differences from a real run (the skeleton has no weights/tokenizer):
- no token-embedding resize for added tokens, no quantization (QLoRA base
  layers stay nn.Linear; LoRA counts are unaffected), no
  prepare_model_for_kbit_training, no patches/plugins' model hooks;
- validate_config gets the capabilities of one CUDA GPU with bf16 (CAPABILITIES below), as
  cli/config.py:load_cfg passes on such a machine, so the validators Axolotl defines on
  AxolotlConfigWCapabilities (quantize_moe_experts, QAT, LoRA-kernel auto-enable) run too; a
  CONFIG.capabilities.json beside a config gives that config another device's (lora_compiler's
  devices.Hardware.capabilities, for the validators that judge a declared GPU);
- materialize_trainable_meta_params (train.py, after freeze_layers_except)
  is skipped: it only gives meta params CPU storage and changes no flags.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import torch
import yaml

# What cli/config.py:gpu_capabilities() reports on one bf16-capable CUDA GPU (WORLD_SIZE unset).
CAPABILITIES = {"bf16": True, "fp8": False, "tf32": True, "n_gpu": 1, "compute_capability": "sm_90"}
MODEL_KEYS = ("base_model", "base_model_config", "tokenizer_config", "processor_config")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def err_str(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def find_local_model(model_id, models_dirs):
    if not isinstance(model_id, str) or not model_id:
        return None
    if os.path.isfile(os.path.join(model_id, "config.json")):
        return os.path.abspath(model_id)
    for d in models_dirs:
        cand = os.path.join(d, model_id)
        if os.path.isfile(os.path.join(cand, "config.json")):
            return os.path.abspath(cand)
    return None


def jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (set, frozenset)):
        return sorted(jsonable(v) for v in obj)
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "value") and hasattr(type(obj), "__members__"):  # enums
        return jsonable(obj.value)
    if hasattr(obj, "to_dict"):
        try:
            return jsonable(obj.to_dict())
        except Exception:  # pylint: disable=broad-except
            pass
    return str(obj)


def pick_model_class(cfg, model_config):
    """Mirror ModelLoader._set_auto_model_loader + the type_of_model branch of
    ModelLoader._build_model (axolotl/loaders/model.py)."""
    import transformers
    from axolotl.loaders.constants import MULTIMODAL_AUTO_MODEL_MAPPING
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    loader = AutoModelForCausalLM
    try:
        from axolotl.loaders.model import get_model_support, resolve_model_support
    except ImportError:  # pragma: no cover - layout differs
        get_model_support = resolve_model_support = None

    auto_model_loader = None
    resolved = None
    if get_model_support is not None:
        support = get_model_support(model_config.model_type)
        resolved = resolve_model_support(support) if support is not None else None
        provider = resolved.strategies.auto_model_cls if resolved is not None else None
        auto_model_loader = provider() if provider is not None else None
        if auto_model_loader is not None and cfg.is_multimodal and resolved is not None and not resolved.is_multimodal:
            auto_model_loader = None
    if auto_model_loader is not None:
        loader = auto_model_loader
    elif cfg.is_multimodal:
        loader = MULTIMODAL_AUTO_MODEL_MAPPING.get(model_config.model_type, AutoModelForImageTextToText)
        if isinstance(loader, str):
            loader = AutoModelForImageTextToText

    if cfg.type_of_model and cfg.type_of_model != "AutoModelForCausalLM" and not cfg.trust_remote_code and not cfg.gptq:
        loader = getattr(transformers, cfg.type_of_model)
    return loader


def build_skeleton(cfg):
    from axolotl.loaders.utils import load_model_config
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    model_config = load_model_config(cfg)
    loader = pick_model_class(cfg, model_config)
    kwargs = {}
    if isinstance(cfg.torch_dtype, torch.dtype):
        kwargs["dtype"] = cfg.torch_dtype
    with torch.device("meta"):
        if loader in (AutoModelForCausalLM, AutoModelForImageTextToText):
            model = loader.from_config(model_config, trust_remote_code=cfg.trust_remote_code or False, **kwargs)
        else:
            model = loader(config=model_config)
    return model, loader


def wrapped_module_names(model):
    from peft.tuners.tuners_utils import BaseTunerLayer

    return sorted(name for name, mod in model.named_modules() if isinstance(mod, BaseTunerLayer))


def trainable_stats(model, unfrozen_patterns):
    """Count params with requires_grad, and the rows that range patterns let
    the gradient hook keep (same parsing/merging as freeze_layers_except)."""
    from axolotl.utils.freeze import LayerNamePattern, _merge_ranges

    if isinstance(unfrozen_patterns, str):
        unfrozen_patterns = [unfrozen_patterns]
    patterns = [LayerNamePattern(p) for p in (unfrozen_patterns or [])]

    total = 0
    sliced = 0
    names = []
    slices = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        n = param.numel()
        total += n
        names.append(name)
        ranges = [p.range for p in patterns if p.match(name) and p.range is not None]
        merged = _merge_ranges(ranges, len(param)) if ranges else []
        if merged:
            rows = sum(end - start for start, end in merged)
            per_row = n // param.shape[0] if param.shape[0] else 0
            sliced += rows * per_row
            slices[name] = {
                "shape": list(param.shape),
                "ranges": [list(r) for r in merged],
                "trainable": rows * per_row,
            }
        else:
            sliced += n
    return total, sliced, sorted(names), slices


def capabilities_for(path):
    """CAPABILITIES, or the device a CONFIG.capabilities.json beside the config declares."""
    sidecar = os.path.splitext(path)[0] + ".capabilities.json"
    if os.path.isfile(sidecar):
        with open(sidecar, encoding="utf-8") as fh:
            return json.load(fh)
    return dict(CAPABILITIES)


def startup_verdict(cfg, capabilities):
    """Without the model, Axolotl's start-up alone (plugins, validate_config): what lint --no-model mirrors.
    A validator that needs the model or the network fails with something else; that is recorded as 'error'."""
    from axolotl.utils.config import prepare_plugins, validate_config

    try:
        prepare_plugins(cfg)
        validate_config(
            cfg, capabilities=capabilities, env_capabilities={"torch_version": torch.__version__.split("+")[0]}
        )
    except Exception as exc:  # pylint: disable=broad-except
        # Whatever validate_config raises stops `axolotl train` (a DeprecationWarning raised for a removed key,
        # an AttributeError on a null base_model): the run is refused either way.
        return {"status": "refused", "error": err_str(exc)}
    return {"status": "ok"}


def run_one(path, models_dirs, startup_only=False):
    from axolotl.utils.config import normalize_config, prepare_plugins, validate_config
    from axolotl.utils.dict import DictDefault

    rec = {"config": path}
    # One process judges many configs: a plugin registered for an earlier one (its args merged into the
    # schema) must not judge this one, as a fresh `axolotl train` would not.
    from axolotl.integrations.base import PluginManager

    PluginManager._instance = None  # pylint: disable=protected-access
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    cfg = DictDefault(raw)
    cfg.axolotl_config_path = path

    # 1. local model dirs
    rec["base_model"] = cfg.base_model
    local = {}
    for key in MODEL_KEYS:
        val = cfg.get(key)
        if val is None:
            continue
        found = find_local_model(val, models_dirs)
        if found is None:
            if key in ("base_model", "base_model_config"):
                rec.update(
                    status="no-model",
                    missing_key=key,
                    missing_model=val,
                    startup=startup_verdict(cfg, capabilities_for(path)),
                )
                return rec
            continue  # tokenizer/processor are not loaded here
        cfg[key] = found
        local[key] = found
    rec["local_model"] = local

    # 2. validate + normalize (as cli/config.py:load_cfg on one GPU)
    try:
        prepare_plugins(cfg)
    except Exception as exc:  # pylint: disable=broad-except
        rec.update(status="refused", stage="plugins", error=err_str(exc))  # axolotl train stops here too
        return rec
    try:
        cfg = validate_config(
            cfg,
            capabilities=capabilities_for(path),
            env_capabilities={"torch_version": torch.__version__.split("+")[0]},
        )
    except Exception as exc:  # pylint: disable=broad-except
        rec.update(status="refused", stage="validate", error=err_str(exc))
        return rec
    try:
        normalize_config(cfg)
    except Exception as exc:  # pylint: disable=broad-except
        rec.update(status="refused", stage="normalize", error=err_str(exc))
        return rec
    if startup_only:
        rec["status"] = "ok"
        return rec
    rec["model_config_type"] = cfg.model_config_type
    rec["is_multimodal"] = bool(cfg.is_multimodal)
    rec["adapter"] = cfg.adapter
    rec["rl"] = jsonable(cfg.rl)
    rec["unfrozen_parameters"] = jsonable(cfg.unfrozen_parameters)
    rec["freeze_mm_modules"] = jsonable(cfg.freeze_mm_modules)

    stage = "build"
    try:
        # 3. meta skeleton
        model, loader = build_skeleton(cfg)
        rec["model_class"] = type(model).__name__
        rec["auto_loader"] = getattr(loader, "__name__", str(loader))
        rec["base_params"] = sum(p.numel() for p in model.parameters())

        config_only_rl = False
        if cfg.adapter in ("lora", "qlora"):
            from axolotl.loaders.adapter import load_lora

            # 4. LoraConfig as axolotl builds it
            stage = "lora_config"
            _, lora_config = load_lora(model, cfg, inference=False, config_only=True)
            rec["lora_config"] = jsonable(lora_config.to_dict())

            # ModelLoader._load_adapters: for DPO/IPO/KTO (no merge_lora) the
            # loader returns the bare model + config; the RL trainer wraps it later.
            from axolotl.utils.schemas.enums import RLType

            config_only_rl = cfg.rl in [RLType.DPO, RLType.IPO, RLType.KTO] and not cfg.merge_lora
            rec["loader_returns_unwrapped"] = bool(config_only_rl)

            # 5. PEFT wrap through axolotl's own load_lora
            stage = "peft"
            peft_src = model
            if config_only_rl:
                peft_src, _ = build_skeleton(cfg)
            if hasattr(peft_src, "enable_input_require_grads"):
                try:
                    peft_src.enable_input_require_grads()  # as load_adapter does
                except Exception:  # pylint: disable=broad-except
                    pass
            peft_model, _ = load_lora(peft_src, cfg, inference=False)
            rec["peft_path"] = "axolotl.loaders.adapter.load_lora"
            rec["peft_trainable"] = int(peft_model.get_nb_trainable_parameters()[0])
            rec["wrapped_modules"] = wrapped_module_names(peft_model)
            rec["n_wrapped_modules"] = len(rec["wrapped_modules"])
            if not config_only_rl:
                model = peft_model
            else:
                rec["note"] = (
                    "DPO/IPO/KTO: ModelLoader returns the bare model (config_only) and "
                    "train.py freezes it; the RL trainer (TRL, peft_config=...) wraps it later."
                )
        elif cfg.adapter:  # mixlora (0.20+) and plugin adapters: load_adapter's own checks, config only
            from axolotl.loaders.adapter import load_adapter

            stage = "load_adapter"
            _, other_config = load_adapter(model, cfg, cfg.adapter, config_only=True)
            rec["lora_config"] = jsonable(other_config.to_dict()) if other_config is not None else None
            rec["note"] = (
                f"adapter {cfg.adapter!r}: load_adapter(config_only=True) accepted it; its own layers "
                "(MixLoRA's FFN experts) are not applied by this driver"
            )

        # 6. train.py:setup_model_and_tokenizer post-load freezing
        stage = "freeze"
        from axolotl.utils.freeze import freeze_layers_except, freeze_mm_modules

        if cfg.unfrozen_parameters:
            freeze_layers_except(model, cfg.unfrozen_parameters)
        if cfg.freeze_mm_modules:
            freeze_mm_modules(model)
        if cfg.adapter in ("lora", "qlora") and config_only_rl:
            # what the RL trainer then does with peft_config (TRL: get_peft_model on the frozen model)
            import peft

            model = peft.get_peft_model(model, lora_config)
            rec["note"] += " 'trainable' is counted after that wrap (peft.get_peft_model, as TRL calls it)."
        total, sliced, names, slices = trainable_stats(model, cfg.unfrozen_parameters)
        rec["trainable"] = total
        rec["trainable_sliced"] = sliced
        if slices:
            rec["trainable_slices"] = slices
        rec["trainable_names"] = names
        rec["n_trainable_names"] = len(names)
    except Exception as exc:  # pylint: disable=broad-except
        rec.update(status="failed", stage=stage, error=err_str(exc))
        rec["traceback_tail"] = traceback.format_exc()[-1500:]
        return rec

    rec["status"] = "ok"
    return rec


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", action="append", default=[], help="dir of ORG/NAME/config.json")
    ap.add_argument("--startup", action="store_true", help="stop after validate_config and normalize_config")
    ap.add_argument("out", help="output JSONL")
    ap.add_argument("configs", nargs="+")
    args = ap.parse_args(argv)
    models_dirs = [os.path.abspath(d) for d in args.models]

    import axolotl  # noqa: F401  (fail early, outside the per-config loop)

    counts = {}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)) or ".", exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as out:
        for i, path in enumerate(args.configs, 1):
            t0 = time.time()
            try:
                rec = run_one(path, models_dirs, args.startup)
            except Exception as exc:  # pylint: disable=broad-except
                rec = {"config": path, "status": "failed", "stage": "driver", "error": err_str(exc)}
            rec.setdefault("status", "failed")
            # keep "config" first, "status" second
            rec = {"config": rec.pop("config"), "status": rec.pop("status"), **rec}
            out.write(json.dumps(jsonable(rec)) + "\n")
            out.flush()
            counts[rec["status"]] = counts.get(rec["status"], 0) + 1
            extra = rec.get("error") or (
                f"trainable={rec.get('trainable')} peft={rec.get('peft_trainable')}"
                if rec["status"] == "ok"
                else rec.get("missing_model", "")
            )
            log(
                f"[{i}/{len(args.configs)}] {rec['status']:8s} {time.time() - t0:5.1f}s {os.path.basename(path)} {extra}"[
                    :300
                ]
            )
    log("counts: " + json.dumps(counts, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
