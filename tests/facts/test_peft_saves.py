"""Our adapter_config.json is the one PEFT's save_pretrained writes for the trained adapter, key for key and in order.

The facts (tests/facts/peft_saves-PEFT.json, written by scripts/peft_saves.py in a venv with that PEFT) hold
what a real PeftModel.save_pretrained wrote for tiny real models. Each case is compiled here with the installed
PEFT and compared with the facts of that PEFT version; then PEFT loads a real adapter with our file in place of
its own, as a trained adapter is loaded (PeftModel.from_pretrained).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from lora_compiler.engine.compiler import Options, compile_document
from lora_compiler.io.files import write_all
from lora_compiler.profiles import installed
from lora_compiler.render.outputs import render_files
from lora_compiler.rules.saved_config import SAVED_PATTERN_ORDER

pytestmark = pytest.mark.stack  # what PEFT and transformers build: .ci/run runs it on the newest too

FACTS = Path(__file__).resolve().parent
PEFT = installed("peft")
FACT = FACTS / f"peft_saves-{PEFT}.json"
MODEL_TOKEN = "MODEL"


def _facts() -> dict[str, Any]:
    if not FACT.is_file():
        recorded = sorted(p.name for p in FACTS.glob("peft_saves-*.json"))
        pytest.skip(f"no facts for peft {PEFT} ({FACT.name}; recorded: {recorded}): run scripts/peft_saves.py")
    return dict(json.loads(FACT.read_text(encoding="utf-8")))


NAMES = sorted({name for p in FACTS.glob("peft_saves-*.json") for name in json.loads(p.read_text())["cases"]})


def _case(name: str) -> dict[str, Any]:
    cases = _facts()["cases"]
    if name not in cases:
        pytest.skip(f"{FACT.name} has no case {name}")
    return dict(cases[name])


def _compile(tmp_path: Path, case: dict[str, Any]) -> tuple[Any, Path, Path]:
    model_dir = tmp_path / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "config.json").write_text(json.dumps(case["model"]), encoding="utf-8")
    yml = tmp_path / "train.yml"
    yml.write_text(yaml.safe_dump({"base_model": str(model_dir), **case["yaml"]}, sort_keys=False), encoding="utf-8")
    result = compile_document(yml, Options(offline=True))
    assert result.report is not None, [f"{f.rule}: {f.message}" for f in result.findings]
    out = tmp_path / "out"
    write_all(out, render_files(result))
    return result, model_dir, out


def _pairs(text: str, sets: list[str]) -> list[tuple[str, Any]]:
    """The file as ordered (key, value) pairs, nested objects too; the lists PEFT wrote from a set sorted."""
    pairs = json.loads(text, object_pairs_hook=list)
    return [(k, sorted(v) if k in sets and isinstance(v, list) else v) for k, v in pairs]


@pytest.mark.parametrize("name", NAMES)
def test_written_adapter_config_is_what_peft_saves(name: str, tmp_path: Path) -> None:
    case = _case(name)
    result, model_dir, out = _compile(tmp_path, case)
    ours = (out / "adapter_config.json").read_text(encoding="utf-8").replace(str(model_dir), MODEL_TOKEN)
    assert _pairs(ours, case["set_fields"]) == _pairs(case["adapter_config"], case["set_fields"])
    assert ours.endswith("\n") == case["adapter_config"].endswith("\n")
    targets = json.loads((out / "targets.json").read_text(encoding="utf-8"))
    assert targets["peft_trainable_params"] == case["trainable_params"]
    assert targets["adapter_file"]["bytes"] == case["adapter_bytes"]
    assert {m["name"]: m["r"] for m in targets["modules"]} == case["ranks"]
    built = json.loads(json.dumps(result.lora_config.to_dict(), default=sorted))
    saved = json.loads(case["adapter_config"].replace(MODEL_TOKEN, str(model_dir)))
    rewritten = {k for k, v in saved.items() if k != "inference_mode" and _plain(built.get(k)) != _plain(v)}
    assert {r["field"] for r in targets["peft_rewrites"]} == rewritten  # what targets.json says PEFT changed
    assert all(r["saved"] == _plain(saved[r["field"]]) for r in targets["peft_rewrites"])
    why = {r["field"]: r["reason"] for r in targets["peft_rewrites"]}
    if "rank_pattern" in why:  # a fused gate_up_proj holds gate_proj and up_proj: twice the rank
        assert "multiplies its r" in why["rank_pattern"] and "gate_up_proj` x2" in why["rank_pattern"]
    if isinstance(case["yaml"].get("lora_target_modules"), str):
        assert why["target_modules"].startswith("PEFT expands 'all-linear'")
    # PEFT failing to load its own save is said, and only then
    assert any(f.rule == SAVED_PATTERN_ORDER.id for f in result.findings) == (not case["reload"]["ok"])


@pytest.mark.parametrize("name", NAMES)
def test_peft_loads_a_trained_adapter_with_our_adapter_config(name: str, tmp_path: Path) -> None:
    """PEFT saves a real adapter trained from Axolotl's LoraConfig; our file replaces its own and must load the
    same weights at the ranks targets.json reports (or fail as PEFT's own save fails, where PEFT loses them)."""
    import copy

    from peft import PeftModel, get_peft_model
    from peft.tuners.lora import LoraLayer

    case = _case(name)
    result, model_dir, out = _compile(tmp_path, case)
    trained = tmp_path / "trained"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        get_peft_model(_real_model(model_dir), copy.deepcopy(result.lora_config)).save_pretrained(str(trained))
        shutil.copy(out / "adapter_config.json", trained / "adapter_config.json")
        if not case["reload"]["ok"]:
            with pytest.raises(RuntimeError, match="size mismatch"):
                PeftModel.from_pretrained(_real_model(model_dir), str(trained))
            return
        loaded = PeftModel.from_pretrained(_real_model(model_dir), str(trained))
    ranks = {
        n.replace(".base_layer", "") + (f".{m.parameter_name}" if getattr(m, "parameter_name", None) else ""): m.r[
            "default"
        ]
        for n, m in loaded.base_model.model.named_modules()
        if isinstance(m, LoraLayer)
    }
    targets = json.loads((out / "targets.json").read_text(encoding="utf-8"))
    assert ranks == {m["name"]: m["r"] for m in targets["modules"]} == case["reload"]["ranks"]


def _plain(value: Any) -> Any:
    """A JSON value with every list sorted (PEFT holds them as sets or writes them from sets)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_plain(v) for v in value), key=str)
    return value


def _real_model(model_dir: Path) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.utils import logging

    torch.manual_seed(0)
    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))
    finally:
        logging.set_verbosity(level)


@pytest.mark.parametrize("name", NAMES)
def test_a_real_save_of_the_same_yaml_agrees_with_the_compiled_config(name: str, tmp_path: Path) -> None:
    """Resuming from the adapter PEFT saved (lora_model_dir): the YAML's compiled config agrees with PEFT's own
    file field for field, fused-expert rewrite included (before, the rewrite read as a differing config)."""
    import copy

    from peft import get_peft_model

    from lora_compiler.rulebook.saved_adapter import ADAPTER_DIR_CONFIG_DIFFERS

    case = _case(name)
    result, model_dir, _ = _compile(tmp_path, case)
    trained = tmp_path / "trained"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        get_peft_model(_real_model(model_dir), copy.deepcopy(result.lora_config)).save_pretrained(str(trained))
    resumed, _, _ = _compile(tmp_path / "resume", {**case, "yaml": {**case["yaml"], "lora_model_dir": str(trained)}})
    assert [f.message for f in resumed.findings if f.rule == ADAPTER_DIR_CONFIG_DIFFERS.id] == []
