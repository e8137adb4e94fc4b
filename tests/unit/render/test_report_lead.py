"""Reports lead with the answers (verdict, trained parameters, adapter bytes, then findings, then the map), fold
wide layer maps for pull-request comments, and label a router weight adapted as a parameter by its owner."""

from __future__ import annotations

from conftest import REPO

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.render.html import render_report_html
from lora_compiler.render.markdown import WIDTH, fold, render_markdown
from lora_compiler.results.layermap import column_of


def _report(config: dict | str):
    return compile_document(config, Options(offline=True)).report


def test_report_md_opens_with_the_verdict_then_findings_before_the_map():
    text = render_markdown(_report(REPO / "fixtures" / "configs" / "gemma-3-4b-multimodal.yml"))
    lines = text.splitlines()
    assert lines[2].startswith("**Passes** (0 errors, 1 warning, 0 info) · trains ")
    assert "· adapter file 154,112,104 bytes (147.0 MiB)" in lines[2]
    assert text.index("## Findings") < text.index("## Targets") < text.index("## Layer map")


def test_a_126_layer_map_folds_into_slices_no_wider_than_a_comment():
    report = _report(
        {
            "base_model": "meta-llama/Llama-3.1-405B",
            "adapter": "lora",
            "lora_r": 8,
            "lora_alpha": 16,
            "lora_target_linear": True,
        }
    )
    text = render_markdown(report)
    grid = text.split("```text\n", 1)[1].split("```", 1)[0].splitlines()
    assert max(map(len, grid)) <= WIDTH
    titles = [line for line in grid if line.startswith("model (126 layers)")]
    assert titles == ["model (126 layers) (columns 1-109 of 129)", "model (126 layers) (columns 110-129 of 129)"]
    q = [line for line in grid if line.startswith("q_proj")]
    assert sum(line.count("#") for line in q) == 126


def test_fold_leaves_narrow_maps_as_they_are():
    grid = ["model (2 layers)", "           01", "q_proj     ##"]
    assert fold(grid) == grid


def test_report_html_shows_the_verdict_card_first_and_findings_before_the_maps():
    page = render_report_html(_report(REPO / "fixtures" / "configs" / "gemma-3-4b-multimodal.yml"))
    assert page.index("passes") < page.index("trainable params") < page.index("adapter file")
    assert page.index("[multimodal-tower-hit]") < page.index('<div class="maps">')


def test_a_parameter_of_a_router_is_labelled_by_its_owner_not_as_weight():
    assert column_of("model.layers.3.mlp.router.gate.weight") == "gate.weight"
    assert column_of("model.layers.3.mlp.experts.gate_up_proj") == "experts.gate_up_proj"
    assert column_of("model.layers.3.self_attn.q_proj") == "q_proj"
