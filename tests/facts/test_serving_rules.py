"""The serving tables are what scripts/gen_serving_rules.py reads out of the pinned wheels, and vLLM's own
PEFTHelper (run on the CPU from the wheel's source) gives our verdicts on every adapter of the case set.

The wheels are downloaded once per session (no dependencies, never installed); offline, these tests skip
saying so. Checks that need a GPU build of vLLM or SGLang (module loading, tower and expert wrapping) are
proved instead by the tables' provenance (the generator's source paths) and by tests/cases/bad/serve-*.yml.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
import subprocess
import sys
import types
import zipfile
from dataclasses import dataclass

import pytest
from conftest import REPO

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.results.findings import Severity
from lora_compiler.serving import ServeError, releases, resolve, table
from lora_compiler.serving.vllm import max_lora_rank, refused

TABLES = sorted((REPO / "lora_compiler" / "serving").glob("*.json"))


def _download(engine: str, version: str, into) -> object:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"{engine}=={version}", "-d", str(into)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    wheels = sorted(into.glob(f"{engine}-{version}-*.whl"))
    if proc.returncode or not wheels:
        pytest.skip(f"{engine}=={version} could not be downloaded (offline?): {proc.stderr.strip()[-200:]}")
    return wheels[0]


@pytest.fixture(scope="session")
def wheels(tmp_path_factory):
    into = tmp_path_factory.mktemp("engine-wheels")
    return {p.stem: _download(*p.stem.split("-", 1), into) for p in TABLES}


def _generator():
    spec = importlib.util.spec_from_file_location("gen_serving_rules", REPO / "scripts" / "gen_serving_rules.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


@pytest.mark.parametrize("path", TABLES, ids=lambda p: p.stem)
def test_the_committed_table_is_what_the_script_extracts_from_the_pinned_wheel(path, wheels):
    assert _generator().extract(wheels[path.stem]) == json.loads(path.read_text()), (
        f"regenerate: python scripts/gen_serving_rules.py {wheels[path.stem].name}"
    )


def _registered(wheel) -> set[str]:
    """Every architecture name vllm/model_executor/models/registry.py puts in _VLLM_MODELS (the keys of the dicts
    it merges; a `**{...}` spread re-lists keys of those dicts)."""
    with zipfile.ZipFile(wheel) as z:
        tree = ast.parse(z.read("vllm/model_executor/models/registry.py"))
    dicts = {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Dict)
    }
    merged = [dicts[v.id] for v in dicts["_VLLM_MODELS"].values]
    return {key.value for d in merged for key in d.keys if isinstance(key, ast.Constant)}


@pytest.mark.parametrize("path", [p for p in TABLES if p.stem.startswith("vllm-")], ids=lambda p: p.stem)
def test_every_architecture_the_wheels_registry_lists_is_in_the_committed_table(path, wheels):
    registered, table_ = _registered(wheels[path.stem]), json.loads(path.read_text())["architectures"]
    assert len(registered) > 400
    assert sorted(registered - set(table_)) == [], "the generator missed a model layout of this wheel"
    # the packaged layout (vllm/models/<name>/<platform>/) resolves to its CUDA implementation
    if "Qwen3_5ForConditionalGeneration" in registered and path.stem == "vllm-0.34.0":
        assert table_["Qwen3_5ForConditionalGeneration"]["module"] == "vllm/models/qwen3_5/nvidia/model.py"


def test_serve_names_an_engine_with_an_optional_release_and_refuses_unknown_ones():
    assert resolve("vllm") == "vllm@0.34.0" and resolve("sglang@0.5.23") == "sglang@0.5.23"
    assert resolve("vllm@0.33.0") == "vllm@0.33.0"
    assert releases("vllm") == ["0.33.0", "0.34.0"]
    with pytest.raises(ServeError, match="knows vllm 0.33.0, 0.34.0"):
        resolve("vllm@0.35.0")
    with pytest.raises(ServeError, match="choose vllm, sglang"):
        resolve("tgi")


def test_max_lora_rank_is_the_smallest_allowed_value_that_holds_the_rank():
    rules = table("vllm")
    assert [max_lora_rank(rules, r) for r in (1, 2, 16, 17, 300, 320, 321, 512)] == [1, 8, 16, 32, 320, 320, 512, 512]
    assert max_lora_rank(rules, 513) is None


# The case set: every PEFTHelper check with an adapter that fires it and one that does not.
BASE = {
    "base_model": "meta-llama/Llama-3.2-1B",
    "adapter": "lora",
    "lora_r": 8,
    "lora_alpha": 16,
    "lora_target_modules": ["q_proj", "v_proj"],
}
CASES = {
    "plain": {},
    "rank-32": {"lora_r": 32},
    "rank-600": {"lora_r": 600},
    "rank-pattern-64": {"lora_rank_pattern": {"q_proj": 64}},
    "rank-pattern-unmatched": {"lora_rank_pattern": {"nothing_here": 64}},
    "dora": {"peft_use_dora": True},
    "dora-off": {"peft_use_dora": False},
    "rslora": {"peft_use_rslora": True},
    "save-lm-head": {"lora_modules_to_save": ["lm_head"]},
    "save-embed": {"lora_modules_to_save": ["embed_tokens"]},
    "loftq": {"peft": {"loftq_config": {"loftq_bits": 4}}},
    "init-pissa": {"peft_init_lora_weights": "pissa"},
    "init-gaussian": {"peft_init_lora_weights": "gaussian"},
    "init-olora": {"peft_init_lora_weights": "olora"},
    "init-false": {"peft_init_lora_weights": False},
    "layer-replication": {"peft_layer_replication": [[0, 8], [4, 16]]},
}


def _peft_helper(wheel: zipfile.Path):
    """vllm/lora/peft_helper.py from the wheel, executed with vLLM's two imports stubbed (it needs nothing else)."""

    @dataclass
    class LoRAConfig:
        max_lora_rank: int

    logger = logging.getLogger("vllm-stub")
    logger.info_once = logger.info  # type: ignore[attr-defined]
    stubs = {
        "vllm": types.ModuleType("vllm"),
        "vllm.config": types.ModuleType("vllm.config"),
        "vllm.config.lora": types.ModuleType("vllm.config.lora"),
        "vllm.logger": types.ModuleType("vllm.logger"),
    }
    stubs["vllm.config.lora"].LoRAConfig = LoRAConfig
    stubs["vllm.logger"].init_logger = lambda name: logger
    module = types.ModuleType("vllm.lora.peft_helper")
    saved = {name: sys.modules.get(name) for name in [*stubs, module.__name__]}
    sys.modules.update(stubs)
    sys.modules[module.__name__] = module
    try:
        with zipfile.ZipFile(wheel) as z:
            exec(compile(z.read("vllm/lora/peft_helper.py"), "vllm/lora/peft_helper.py", "exec"), module.__dict__)
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    return module.PEFTHelper, LoRAConfig


@pytest.fixture(scope="module")
def peft_helper(wheels):
    return _peft_helper(wheels[f"vllm-{releases('vllm')[-1]}"])  # the release table("vllm") reads


def _engine_errors(peft_helper, adapter_config: dict, max_rank: int) -> str | None:
    helper_cls, lora_config = peft_helper
    try:
        helper_cls.from_dict(adapter_config).validate_legal(lora_config(max_lora_rank=max_rank))
    except ValueError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("case", sorted(CASES), ids=str)
def test_our_vllm_verdict_equals_peft_helpers_own_on_the_adapter_config(case, peft_helper):
    result = compile_document({**BASE, **CASES[case]}, Options(offline=True, serve="vllm"))
    assert result.adapter_config is not None, [f.message for f in result.findings]
    ours = [f for f in result.findings if f.rule == "serve-unsupported" and "peft_helper.py" in f.message]
    rank = [f for f in result.findings if f.rule == "serve-unsupported" and "max-lora-rank" in f.message]
    default = table("vllm")["max_lora_rank"]["default"]
    at_default = _engine_errors(peft_helper, result.adapter_config, default)
    # at vLLM's default --max-lora-rank: it refuses exactly when we report a feature refusal or a rank above it
    assert (at_default is not None) == bool(ours or rank), (case, at_default, [f.message for f in ours + rank])
    for finding in ours:
        said = finding.message.split(": ", 1)[1].rsplit(" [", 1)[0]
        assert said in at_default, (said, at_default)
    # with the --max-lora-rank our launch command gives (when one exists), only the feature refusals remain
    top = max([result.adapter_config["r"], *result.adapter_config.get("rank_pattern", {}).values()])
    needed = max_lora_rank(table("vllm"), top)
    if needed is not None:
        at_flag = _engine_errors(peft_helper, result.adapter_config, needed)
        assert (at_flag is not None) == any(f.severity is Severity.ERROR for f in ours), (case, at_flag)
    else:
        assert any(f.severity is Severity.ERROR for f in rank), case


def test_peft_helper_checks_fire_as_vllm_words_them():
    helper = table("vllm")["peft_helper"]
    by_field = {c["field"]: c for c in helper["checks"]}
    assert refused({"modules_to_save": ["score"]}, by_field["modules_to_save"], helper) is None
    assert "['lm_head']" in refused({"modules_to_save": ["score", "lm_head"]}, by_field["modules_to_save"], helper)
    for init in (True, False, "gaussian", "EVA", "orthogonal"):
        assert refused({"init_lora_weights": init}, by_field["init_lora_weights"], helper) is None
    for init in ("pissa", "pissa_niter_4", "olora", "loftq", "corda"):
        assert repr(init) in refused({"init_lora_weights": init}, by_field["init_lora_weights"], helper)
    assert refused({"use_dora": True}, by_field["use_dora"], helper) == "vLLM does not yet support DoRA."
    assert refused({"bias": "all"}, by_field["bias"], helper) == "Adapter bias is not supported."
    assert refused({"bias": "none"}, by_field["bias"], helper) is None


def test_the_task_heads_the_installed_peft_saves_are_judged_as_vllm_judges_them(peft_helper, tmp_path):
    """A classification adapter saved by the installed PEFT (0.21.2: classifier, score; 0.22: pre_classifier
    too) run through vLLM's own PEFTHelper: we refuse a reward model exactly when vLLM refuses that file."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForSequenceClassification

    tiny = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, vocab_size=128)
    tiny.num_labels = 1
    torch.manual_seed(0)
    model = LlamaForSequenceClassification(tiny)
    lora = LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])
    get_peft_model(model, lora).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "adapter_config.json").read_text())
    theirs = _engine_errors(peft_helper, saved, 16)

    config = {**BASE, "reward_model": True}
    result = compile_document(config, Options(offline=True, serve="vllm"))
    ours = [f for f in result.findings if f.rule == "serve-unsupported" and "modules_to_save" in f.message]
    assert bool(ours) == (theirs is not None), (saved["modules_to_save"], theirs, [f.message for f in ours])
    allowed = table("vllm")["peft_helper"]["modules_to_save_allowed"]
    for finding in ours:
        assert finding.key == "reward_model", finding.key
        assert repr([m for m in saved["modules_to_save"] if m not in allowed]) in finding.message
