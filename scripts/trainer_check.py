"""Run a trainer's own code on lora-compiler's exports and record what it would train.

Run with the Python of that trainer's venv (scripts/trainer_venvs.sh); it imports nothing of lora-compiler:
    .trainer-venvs/trl/bin/python scripts/trainer_check.py trl [CASES_DIR] [OUT] [PACKAGE]
CASES_DIR (default tests/trainer_facts) holds cases.json and golden/<case>/<file>, written by
scripts/trainer_golden.py; OUT (default CASES_DIR/<trainer>.json) gets, per exported case, whether the
trainer's parser accepted the file and which LoRA layers its own target selection made on the model
(built from the bundled config.json on the meta device), with rank and scaling. The default suite
(tests/facts/test_trainer_exports.py) holds those answers equal to the compile's. PACKAGE is the trainer's
distribution, whose version the answers record (scripts/trainer_exports.sh passes its declaration's; default:
the trainer's name).

What runs, per trainer:
  llamafactory  hparams.get_train_args on the YAML, then model.adapter.init_adapter (its target rules, PEFT)
  trl           TrlParser((ScriptArguments, SFTConfig, ModelConfig)).parse_args_and_config, get_peft_config, PEFT
  torchtune     tune validate's config.validate, then config.instantiate(cfg.model) on the meta device
  ms-swift      the `swift sft CONFIG.yaml` argument path (cli.main.parse_yaml_args, SftArguments), then
                pipelines.train.tuner.prepare_adapter (its get_target_modules, PEFT)
  unsloth       no GPU here, and its CPU fallback is another function: the exported calls' keywords are
                checked against the GPU signatures read from Unsloth's source (ast), then get_peft_model's
                LoraConfig keywords are applied with this venv's PEFT, as that path does
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import sys
import tempfile
import traceback
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def meta_model(model_dir: Path, rule: str):
    """The model the trainer would load, with no weights: its class chosen as the trainer chooses it."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    config = AutoConfig.from_pretrained(model_dir)
    if rule == "architectures":  # trl/trainer/utils.py::create_model_from_path
        cls = getattr(transformers, (config.architectures or [""])[0], None) or AutoModelForCausalLM
    else:  # llamafactory/model/loader.py: image-text-to-text when the config type has one, else causal LM
        cls = (
            AutoModelForImageTextToText
            if type(config) in AutoModelForImageTextToText._model_mapping
            else AutoModelForCausalLM
        )
    with torch.device("meta"):
        return (
            cls.from_config(config)
            if hasattr(cls, "from_config") and cls.__name__.startswith("Auto")
            else cls._from_config(config)
        )


_SEEN: dict[str, set] = {"init": set(), "dropout": set(), "dora": set()}


def record_layer_settings() -> None:
    """Wrap PEFT's LoraLayer.update_layer to note each layer's initialisation, dropout and DoRA as the trainer
    asked for them, and make the data-dependent initialisations (PiSSA, LoftQ, ...) no-ops: they need real
    weights, and none of them changes which layers exist."""
    import inspect

    from peft.tuners.lora.layer import LoraLayer

    update = LoraLayer.update_layer
    signature = inspect.signature(update)

    def noted(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs).arguments
        source = bound["config"] if "config" in bound else {**bound, **bound.get("kwargs", {})}
        get = (lambda k: getattr(source, k, None)) if "config" in bound else source.get
        _SEEN["init"].add(str(get("init_lora_weights")))
        _SEEN["dropout"].add(float(get("lora_dropout") or 0.0))
        _SEEN["dora"].add(bool(get("use_dora")))
        return update(self, *args, **kwargs)

    LoraLayer.update_layer = noted
    for name in dir(LoraLayer):
        if name.endswith("_init") and name != "__init__":
            setattr(LoraLayer, name, lambda self, *a, **k: None)


def settings() -> dict:
    out = {k: sorted(v) for k, v in _SEEN.items()}
    for v in _SEEN.values():
        v.clear()
    return out


def peft_layers(peft_model) -> dict:
    """Every LoRA layer PEFT made, named as in the base model (a fused parameter as module.parameter)."""
    import re

    from peft.tuners.lora import LoraLayer
    from peft.utils.other import ModulesToSaveWrapper, TrainableTokensWrapper

    root = peft_model.base_model.model if hasattr(peft_model, "base_model") else peft_model
    wrapped, saved, tokens = [], [], []
    for name, module in root.named_modules():
        if isinstance(module, LoraLayer):
            param = getattr(module, "parameter_name", None)
            clean = re.sub(r"(\.base_layer)+$", "", name) + (f".{param}" if param else "")
            wrapped.append([clean, int(module.r["default"]), round(float(module.scaling["default"]), 6)])
        elif isinstance(module, ModulesToSaveWrapper):
            saved.append(name)
        elif isinstance(module, TrainableTokensWrapper):
            tokens.append(name)
    return {
        "wrapped": sorted(wrapped),
        "modules_to_save": sorted(saved),
        "trainable_tokens": sorted(tokens),
        **settings(),
    }


def check_llamafactory(path: Path, model_dir: Path, out_dir: str) -> dict:
    import yaml
    from llamafactory.hparams import get_train_args
    from llamafactory.model.adapter import init_adapter

    args = yaml.safe_load(path.read_text())
    # what a training run adds and the YAML fragment leaves to the user; use_cpu: bf16 on this CPU-only machine
    args.update(
        model_name_or_path=str(model_dir), dataset="identity", output_dir=out_dir, use_cpu=True, report_to="none"
    )
    model_args, _, training_args, finetuning_args, _ = get_train_args(args)
    model = meta_model(model_dir, "llamafactory")
    peft_model = init_adapter(model.config, model, model_args, finetuning_args, is_trainable=True)
    return peft_layers(peft_model)


def check_trl(path: Path, model_dir: Path, out_dir: str) -> dict:
    from peft import get_peft_model
    from trl import ModelConfig, ScriptArguments, SFTConfig, TrlParser, get_peft_config

    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig))
    _, _, model_args = parser.parse_args_and_config(
        args=[
            "--config",
            str(path),
            "--dataset_name",
            "identity",
            "--output_dir",
            out_dir,
            "--report_to",
            "none",
            "--use_cpu",
            "true",
        ]
    )  # SFTConfig trains in bf16 by default, which this CPU refuses
    peft_config = get_peft_config(model_args)
    return peft_layers(get_peft_model(meta_model(model_dir, "architectures"), peft_config))


_TORCHTUNE_TO_HF = {
    "q_proj": "self_attn.q_proj",
    "k_proj": "self_attn.k_proj",
    "v_proj": "self_attn.v_proj",
    "output_proj": "self_attn.o_proj",
    "w1": "mlp.gate_proj",
    "w2": "mlp.down_proj",
    "w3": "mlp.up_proj",
}


def check_torchtune(path: Path, model_dir: Path, out_dir: str) -> dict:
    """torchtune/models/convert_weights.py names: layers.N.attn.X / layers.N.mlp.wK / output -> the HF names."""
    import torch
    from omegaconf import OmegaConf
    from torchtune import config
    from torchtune.modules.peft import DoRALinear, LoRALinear

    cfg = OmegaConf.load(path)
    config.validate(cfg)  # what `tune validate` runs
    with torch.device("meta"):
        model = config.instantiate(cfg.model)
    wrapped, dora, dropout = [], set(), set()
    for name, module in model.named_modules():
        if isinstance(module, (LoRALinear, DoRALinear)):
            parts = name.split(".")
            hf = "lm_head" if name == "output" else f"model.layers.{parts[1]}.{_TORCHTUNE_TO_HF[parts[-1]]}"
            rank = module.lora_a.out_features  # DoRALinear keeps no .rank; both keep lora_a (in -> rank)
            wrapped.append(
                [hf, int(rank), round(float(module.scaling if hasattr(module, "scaling") else module.alpha / rank), 6)]
            )
            seen = (isinstance(module, DoRALinear), float(getattr(module.dropout, "p", 0.0)))
            dora.add(seen[0])
            dropout.add(seen[1])
    # torchtune has one initialisation (kaiming A, zero B: PEFT's default)
    return {
        "wrapped": sorted(wrapped),
        "modules_to_save": [],
        "trainable_tokens": [],
        "init": ["True"],
        "dropout": sorted(dropout),
        "dora": sorted(dora),
    }


def check_swift(path: Path, model_dir: Path, out_dir: str) -> dict:
    from swift.arguments import SftArguments
    from swift.cli.main import parse_yaml_args
    from swift.pipelines.train.tuner import prepare_adapter
    from swift.utils import parse_args

    argv = [str(path)]
    parse_yaml_args(argv)  # in place, as `swift sft CONFIG.yaml` turns the file into arguments
    argv += [
        "--model",
        str(model_dir),
        "--dataset",
        "identity",
        "--output_dir",
        out_dir,
        "--bf16",
        "false",
        "--fp16",
        "false",
        "--report_to",
        "none",
    ]  # later arguments win, as on swift's command line
    for _ in range(3):  # swift matches model_type and template by the directory's name; a user then names them
        try:
            args, rest = parse_args(SftArguments, argv)
            break
        except ValueError as exc:
            import re as _re

            ask = _re.search(
                r"Failed to automatically match `(model_type|template_type)`.*found: \[([^]]*)\]", str(exc)
            )
            if not ask:
                raise
            found = [c.strip(" '") for c in ask.group(2).split(",")]
            wanted = json.loads((model_dir / "config.json").read_text())["model_type"]
            argv += [
                "--model_type" if ask.group(1) == "model_type" else "--template",
                wanted if wanted in found else found[0],
            ]
    if rest:
        raise ValueError(f"swift did not use: {rest}")
    model = meta_model(model_dir, "llamafactory")
    model.model_meta, model.model_info = args.model_meta, args.model_info
    return peft_layers(prepare_adapter(args, model))


def _signature(source: Path, cls: str, fn: str) -> set[str]:
    tree = ast.parse(source.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == fn:
                    a = item.args
                    return {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
    raise LookupError(f"{cls}.{fn} not in {source}")


def check_unsloth(path: Path, model_dir: Path, out_dir: str) -> dict:
    import importlib.util

    from peft import LoraConfig, get_peft_model

    models = Path(importlib.util.find_spec("unsloth").origin).parent / "models"
    calls = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            calls[node.func.attr] = {k.arg: k.value for k in node.keywords}
    load, peft_call = calls["from_pretrained"], calls["get_peft_model"]
    allowed_load = _signature(models / "loader.py", "FastLanguageModel", "from_pretrained")
    allowed_peft = _signature(models / "llama.py", "FastLlamaModel", "get_peft_model")
    lora_fields = set(LoraConfig.__dataclass_fields__)
    bad = sorted(set(load) - allowed_load) + sorted(k for k in peft_call if k not in allowed_peft | lora_fields)
    if bad:
        raise TypeError(f"not keywords of Unsloth's GPU path: {bad}")
    kwargs = {k: ast.literal_eval(v) for k, v in peft_call.items() if k != "model"}
    own = {
        "use_gradient_checkpointing",
        "random_state",
        "max_seq_length",
        "temporary_location",
        "qat_scheme",
        "finetune_last_n_layers",
        "offload_layers",
        "checkpoint_skip_layers",
    }
    config = LoraConfig(task_type="CAUSAL_LM", **{k: v for k, v in kwargs.items() if k not in own})
    return peft_layers(get_peft_model(meta_model(model_dir, "llamafactory"), config))


CHECKS = {
    "llamafactory": check_llamafactory,
    "trl": check_trl,
    "torchtune": check_torchtune,
    "ms-swift": check_swift,
    "unsloth": check_unsloth,
}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def main() -> None:
    trainer = sys.argv[1]
    cases_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "tests" / "trainer_facts"
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else cases_dir / f"{trainer}.json"
    package = sys.argv[4] if len(sys.argv) > 4 else trainer
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cases = json.loads((cases_dir / "cases.json").read_text())["cases"]
    if trainer != "torchtune":
        record_layer_settings()
    results = {}
    for name, case in sorted(cases.items()):
        export = case["exports"][trainer]
        if export.get("refused"):
            continue
        path = cases_dir / "golden" / name / export["file"]
        text = path.read_bytes()
        record = {"sha256": hashlib.sha256(text).hexdigest(), "accepted": False, "error": None}
        with tempfile.TemporaryDirectory() as out_dir:
            try:
                record.update(
                    CHECKS[trainer](path, ROOT / "fixtures" / "models" / case["model"], out_dir), accepted=True
                )
            except BaseException as exc:  # SystemExit from argparse included: a refusal is the answer
                settings()
                record["error"] = f"{type(exc).__name__}: {exc}"[:2000]
                traceback.print_exc()
        results[name] = record
        print(f"{trainer} {name}: {'accepted' if record['accepted'] else record['error'][:200]}", file=sys.stderr)
    doc = {
        "trainer": trainer,
        "versions": {d: _version(d) for d in (package, "peft", "transformers", "torch")},
        "cases": results,
    }
    out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
