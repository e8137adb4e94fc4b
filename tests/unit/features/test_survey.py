"""The architecture survey: a sample spanning every naming family, surveyed live and compared with the
committed docs/families.json, plus the pure parts (titles, failure lines); the configs tried are
tests/unit/features/test_shrink.py's.

The full survey (every architecture, ~3 minutes on 2 cores) is the slow test at the end; the committed
files are regenerated with `lora-compiler survey -o docs/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import needs_modern_stack

from lora_compiler.features.survey import FAILURE_CLASSES, _line, library_versions, model_types, run_survey
from lora_compiler.profiles import select
from lora_compiler.render import survey as survey_render

# The sample and the committed survey name transformers 5 model types.
pytestmark = needs_modern_stack

DOCS = Path(__file__).resolve().parents[3] / "docs"
# At least one architecture of every naming family, every repair the survey makes, and each failure class
# this transformers has (chosen among the fast ones: the sample runs in ~30 s on 2 cores).
SAMPLE = [
    "llama",
    "mistral",
    "qwen2",
    "gemma2",
    "glm4",
    "phi3",
    "codegen",  # llama-like, fused gate_up / qkv
    "mixtral",
    "qwen3_moe",
    "gpt_oss",
    "deepseek_v3",  # fused experts, MLA
    "gpt2",
    "gpt_bigcode",
    "gpt_neox",
    "bloom",
    "falcon",  # Conv1D, c_attn, query_key_value, output collision
    "bert",
    "roberta",
    "bart",
    "opt",
    "whisper",
    "rwkv",  # BERT-style, fc1/fc2, other naming
    "mamba",
    "mamba2",
    "jamba",
    "qwen3_next",  # Mamba mixers and hybrids, linear attention
    "gemma3",
    "llava",
    "qwen2_vl",
    "idefics3",  # image-text-to-text: towers, connectors, name clashes
    "ministral",
    "xlnet",
    "reformer",
    "vision-encoder-decoder",  # repaired, layers-only, sub-models
    "dbrx",
    "fast_vlm",  # transformers-bug, needs-optional-package
]


@pytest.fixture(scope="module")
def sample() -> dict[str, dict[str, Any]]:
    result = run_survey(SAMPLE)
    doc = survey_render.document(result.versions, result.rows)
    return {row["model_type"]: row for row in doc["rows"]}


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    doc = json.loads((DOCS / "families.json").read_text(encoding="utf-8"))
    if doc["versions"] != library_versions():
        pytest.skip(
            f"docs/families.json was generated with {doc['versions']}, installed are {library_versions()}: "
            "staleness is undefined; regenerate with `lora-compiler survey -o docs/`"
        )
    return doc


# --- the live sample ----------------------------------------------------------------------------


def test_sample_spans_the_families_and_leaves_nothing_unclassified(sample: dict[str, dict[str, Any]]) -> None:
    assert len(sample) >= 25
    for row in sample.values():
        assert row["status"] == "ok" or row["failure"]["class"] in FAILURE_CLASSES
        assert row["status"] == "ok" or row["failure"]["class"] != "our-bug", row
    families = {row["family"] for row in sample.values() if row["status"] == "ok"}
    assert len(families) >= 10, families


def test_committed_rows_are_fresh(sample: dict[str, dict[str, Any]], committed: dict[str, Any]) -> None:
    rows = {row["model_type"]: row for row in committed["rows"]}
    stale = [t for t in SAMPLE if rows.get(t) != sample[t]]
    assert not stale, f"docs/families.json is stale for {stale}: run `lora-compiler survey -o docs/`"


def test_the_issue_s_cases(sample: dict[str, dict[str, Any]]) -> None:
    neox = sample["gpt_neox"]  # 0.19's table says embed_out, 0.20+'s lm_head; under transformers 5 the head is lm_head
    keeps_head = select().profile.embedding_layers("gpt_neox")[1] == "embed_out"
    assert ("lm_head" in neox["axolotl"]["target_modules"]) is keeps_head
    assert bool(neox["output_collision"]) is keeps_head
    assert neox["axolotl"]["wrapped"] == neox["all_linear"]["wrapped"] + (1 if keeps_head else 0)
    gpt2 = sample["gpt2"]
    assert gpt2["conv1d"] == ["c_attn", "c_fc", "c_proj"] and gpt2["axolotl"]["error"]
    assert not gpt2["all_linear"]["error"] and gpt2["all_linear"]["wrapped_names"] == gpt2["conv1d"]
    moe = sample["qwen3_moe"]  # experts are 3D parameters: no target_modules name reaches them
    assert moe["fused_experts"] == ["experts.down_proj", "experts.gate_up_proj"]
    assert moe["axolotl"]["wrapped_parameters"] == 0
    assert sample["deepseek_v3"]["family"].startswith("MLA")
    assert sample["mamba"]["family"].startswith("Mamba mixers") and sample["mamba"]["axolotl"]["error"]
    assert sample["qwen3_next"]["family"].startswith("linear-attention")  # kept its full-attention layer
    assert {"q_proj", "in_proj_qkvz"} <= set(sample["qwen3_next"]["axolotl"]["target_modules"])
    assert sample["llava"]["loader"] == "AutoModelForImageTextToText"
    assert sample["llava"]["axolotl"]["towers"] == ["connector", "vision"]
    assert "0" in sample["qwen2_vl"]["name_clashes"] and sample["qwen2_vl"]["axolotl"]["error"]
    assert sample["dbrx"]["failure"]["class"] == "transformers-bug"
    assert sample["fast_vlm"]["failure"]["class"] == "needs-optional-package"


def test_a_hung_architecture_costs_its_row_not_the_survey() -> None:
    result = run_survey(["llama", "mistral"], jobs=1, timeout=0.01)
    assert [row["failure"]["reason"] for row in result.rows] == ["no result within 0.01 s"] * 2


def test_unknown_model_types_are_refused() -> None:
    with pytest.raises(ValueError, match="not-a-model"):
        run_survey(["not-a-model"])


# --- the committed files ------------------------------------------------------------------------


def test_committed_files_agree_with_each_other_and_cover_every_architecture(committed: dict[str, Any]) -> None:
    markdown = (DOCS / "families.md").read_text(encoding="utf-8")
    assert markdown == survey_render.render_markdown(committed)
    assert [row["model_type"] for row in committed["rows"]] == list(model_types())
    assert "our-bug" not in committed["summary"]["failed"]


@pytest.mark.slow
def test_full_survey_reproduces_the_committed_files(committed: dict[str, Any]) -> None:
    result = run_survey()
    doc = survey_render.document(result.versions, result.rows)
    assert survey_render.files(doc) == {name: (DOCS / name).read_text(encoding="utf-8") for name in survey_render.FILES}


# --- pure parts ---------------------------------------------------------------------------------


def test_titles_brace_shared_suffixes_and_prefixes() -> None:
    names = [
        "down_proj",
        "gate_proj",
        "in_proj_a",
        "in_proj_b",
        "k_proj",
        "o_proj",
        "q_proj",
        "up_proj",
        "v_proj",
        "wo",
    ]
    assert survey_render.title(names) == "{q,k,v,o,gate,up,down}_proj in_proj_{a,b} wo"
    assert survey_render.title([]) == "(no Linear names)"


def test_failure_lines_do_not_change_between_runs() -> None:
    message = "Incompatible modules: {'out_proj', 'conv1d'} in <Foo object at 0x7f3a2b>\nsecond line"
    assert _line(message) == "Incompatible modules: {'conv1d', 'out_proj'} in <Foo object>"


def test_the_survey_command_writes_both_published_files_and_reports_each_architecture(tmp_path: Path) -> None:
    """scripts/survey.sh runs this command to regenerate docs/: it must write what the docs hold."""
    from click.testing import CliRunner

    from lora_compiler.cli import cli

    result = CliRunner().invoke(cli, ["survey", "--model-type", "gpt2", "--jobs", "1", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["families.json", "families.md"]
    written = json.loads((tmp_path / "families.json").read_text())
    assert [r["model_type"] for r in written["rows"]] == ["gpt2"]
    assert written["command"] == "lora-compiler survey -o docs/"
    assert "gpt2: ok" in result.stderr
