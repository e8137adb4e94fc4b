"""lora_compiler/serving_rules.json is what scripts/gen_serving_rules.py reads out of vLLM's pinned wheel."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from conftest import REPO

from lora_compiler.rules.serving import _refused, max_lora_rank, vllm_rules

TABLE = json.loads((REPO / "lora_compiler" / "serving_rules.json").read_text())


@pytest.fixture(scope="module")
def vllm_wheel(tmp_path_factory):
    """The pinned wheel, downloaded (no dependencies, never imported); skipped where the index is out of reach."""
    version = TABLE["vllm"]["version"]
    into = tmp_path_factory.mktemp("wheels")
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"vllm=={version}", "-d",
                           str(into)], capture_output=True, text=True, timeout=600)
    wheels = sorted(into.glob("vllm-*.whl"))
    if proc.returncode or not wheels:
        pytest.skip(f"vllm=={version} could not be downloaded (offline?): {proc.stderr.strip()[-200:]}")
    return wheels[0]


def test_the_committed_table_is_what_the_script_extracts_from_the_pinned_wheel(vllm_wheel):
    spec = importlib.util.spec_from_file_location("gen_serving_rules", REPO / "scripts" / "gen_serving_rules.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert gen.extract(vllm_wheel) == TABLE, "regenerate: python scripts/gen_serving_rules.py WHEEL"


def test_max_lora_rank_is_the_smallest_allowed_value_that_holds_the_rank():
    assert [max_lora_rank(r) for r in (1, 2, 16, 17, 300, 320, 321, 512)] == [1, 8, 16, 32, 320, 320, 512, 512]
    assert max_lora_rank(513) is None


def test_peft_helper_checks_fire_as_vllm_words_them():
    helper = vllm_rules()["peft_helper"]
    by_field = {c["field"]: c for c in helper["checks"]}
    assert _refused({"modules_to_save": ["score"]}, by_field["modules_to_save"], helper) is None
    assert "['lm_head']" in _refused({"modules_to_save": ["score", "lm_head"]}, by_field["modules_to_save"], helper)
    for init in (True, False, "gaussian", "EVA", "orthogonal"):
        assert _refused({"init_lora_weights": init}, by_field["init_lora_weights"], helper) is None
    for init in ("pissa", "pissa_niter_4", "olora", "loftq", "corda"):
        assert repr(init) in _refused({"init_lora_weights": init}, by_field["init_lora_weights"], helper)
    assert _refused({"use_dora": True}, by_field["use_dora"], helper) == "vLLM does not yet support DoRA."
    assert _refused({"use_dora": False}, by_field["use_dora"], helper) is None
