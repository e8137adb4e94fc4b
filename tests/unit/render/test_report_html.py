"""report.html: self-contained, escaped, and right in a real browser (Debian's chromium, headless).

The browser tests load the files `compile -o` writes from disk, read the DOM after load, save
light and dark screenshots (also copied to /tmp/lora-compiler-screenshots/ for a person to look
at), print to PDF, and read Chromium's netlog to prove the page requests nothing.
"""

from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from browser import chromium, dom
from click.testing import CliRunner
from conftest import DATASETS_YAML, REPO, needs_modern_stack
from reports import built, cand, llama_like, report, wrapped

from lora_compiler.cli import cli
from lora_compiler.render.diff_html import render_maps_html
from lora_compiler.render.html import CSP, render_report_html
from lora_compiler.results.report import Report

SHOTS = Path("/tmp/lora-compiler-screenshots")
CONFIGS = REPO / "fixtures" / "configs"
MIXTRAL = (
    "base_model: mistralai/Mixtral-8x7B-v0.1\nadapter: lora\nlora_r: 16\nlora_alpha: 32\nlora_dropout: 0\n"
    "lora_target_modules: [q_proj, w1, w2, w3]\n" + DATASETS_YAML
)
ATTENTION_ONLY = (
    "base_model: meta-llama/Llama-3.1-8B\nadapter: qlora\nload_in_4bit: true\nlora_r: 32\n"
    "lora_alpha: 16\nlora_target_modules: [q_proj, k_proj, v_proj, o_proj]\n" + DATASETS_YAML
)
EXTERNAL = re.compile(r"(?i)\b(src|href|srcset|action|poster|data)\s*=|url\(|@import|https?:|//[a-z0-9]")


def compile_out(config: Path, out: Path) -> Path:
    res = CliRunner().invoke(
        cli, ["compile", str(config), "-o", str(out), "--offline", "--no-cache"], catch_exceptions=False
    )
    assert res.exit_code == 0, res.output
    return out / "report.html"


# ---------------------------------------------------------------- without a browser


def test_compile_writes_report_html_byte_identical(tmp_path):
    example = CONFIGS / "llama-3.2-1b-lora.yml"
    a, b = (compile_out(example, tmp_path / n) for n in ("a", "b"))
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text()
    assert text.startswith("<!DOCTYPE html>") and "model (16 layers)" in text
    assert "## Layer map" in (tmp_path / "a" / "report.md").read_text()


def test_user_text_is_escaped():
    evil = "model.layers.0.self_attn.<script>alert(1)</script>"
    partial = report([wrapped(cand(evil))], [cand(evil), cand('model.layers.0.mlp.a"onmouseover=alert(2)')])
    finding = {
        "rule": "schema",
        "severity": "error",
        "message": "<img src=x onerror=alert(3)>",
        "file": "t.yml",
        "line": 2,
        "column": 1,
        "hint": "use <u>x</u>",
    }
    page = render_report_html(
        built(partial, findings=[finding], file="<t>.yml"),
        source="adapter: lora\nlora_r: </pre><script>alert(4)</script>\n",
    )
    assert "<script" not in page and "<img" not in page and "<u>" not in page and '"onmouseover' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;/pre&gt;&lt;script&gt;alert(4)" in page


def test_page_is_self_contained():
    page = render_report_html(built(llama_like()))
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert CSP == "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
    assert not EXTERNAL.search(page), EXTERNAL.search(page)


def test_findings_quote_their_yaml_line():
    finding = {
        "rule": "multimodal-tower-hit",
        "severity": "warning",
        "message": "m",
        "file": "t.yml",
        "line": 3,
        "column": 1,
        "hint": None,
    }
    page = render_report_html(
        built(report([], None), findings=[finding]), source="a: 1\nb: 2\nlora_target_linear: true\n"
    )
    assert '<pre class="src"><span>3 │ </span>lora_target_linear: true</pre>' in page


def test_maps_side_by_side_outline_the_cells_that_differ():
    a = llama_like()
    b = llama_like()
    b["modules"] = [dict(m, r=8) for m in b["modules"]]  # layer 1 q_proj: r 16 -> 8
    b["modules"].append(wrapped(cand("model.layers.0.self_attn.k_proj")))  # k_proj of layer 0: off -> LoRA
    grids, csp = dom.parse(render_maps_html([("a", built(a)), ("b <2>", built(b))]))
    assert csp == [CSP] and [g.section["data-report"] for g in grids] == ["a", "b <2>"]
    for g in grids:
        assert [label for label, _ in g.rows] == ["0", "1", "other"]
        differs = [(label, g.columns[i]) for label, cells in g.rows for i, c in enumerate(cells) if "d" in c]
        assert differs == [("0", "k_proj"), ("1", "q_proj")]


# ---------------------------------------------------------------- in chromium


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> dict[str, chromium.Run]:
    """Compile the three cases, write a diff page and a canary, and load everything in parallel."""
    binary = chromium.find()
    if binary is None:
        pytest.skip(
            "no chromium binary on PATH (looked for chromium, chromium-browser); "
            "install Debian's: apt-get install chromium"
        )
    tmp = tmp_path_factory.mktemp("report_html")
    (tmp / "mixtral.yml").write_text(MIXTRAL)
    (tmp / "attention.yml").write_text(ATTENTION_ONLY)
    pages = {
        "llama": compile_out(CONFIGS / "llama-3.1-8b-qlora.yml", tmp / "llama"),
        "gemma": compile_out(CONFIGS / "gemma-3-4b-multimodal.yml", tmp / "gemma"),
        "mixtral": compile_out(tmp / "mixtral.yml", tmp / "mixtral"),
    }
    reports = [
        (n, Report.from_dict(json.loads((p.parent / "targets.json").read_text())))
        for n, p in (
            ("all linear", pages["llama"]),
            ("attention only", compile_out(tmp / "attention.yml", tmp / "attention")),
        )
    ]
    pages["diff"] = tmp / "diff.html"
    pages["diff"].write_text(render_maps_html(reports))
    pages["canary"] = tmp / "canary.html"  # proves the netlog check sees a page's request
    pages["canary"].write_text('<!DOCTYPE html><img src="http://127.0.0.1:9/canary.png">')
    jobs = {
        f"{n}-{theme}": dict(
            page=pages[n], work=tmp / "runs" / f"{n}-{theme}", dark=theme == "dark", screenshot=tmp / f"{n}-{theme}.png"
        )
        for n in ("llama", "gemma", "mixtral")
        for theme in ("light", "dark")
    }
    jobs["llama-light"]["pdf"] = tmp / "llama.pdf"
    jobs["diff-light"] = dict(page=pages["diff"], work=tmp / "runs" / "diff", screenshot=tmp / "diff-light.png")
    jobs["canary"] = dict(page=pages["canary"], work=tmp / "runs" / "canary")
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = {k: pool.submit(chromium.run, binary, **kw) for k, kw in jobs.items()}
        runs = {k: f.result() for k, f in futures.items()}
    SHOTS.mkdir(parents=True, exist_ok=True)
    for run in runs.values():
        if run.screenshot:
            shutil.copy(run.screenshot, SHOTS / run.screenshot.name)
    return runs


def _grids(run: chromium.Run) -> dict[str, dom.Grid]:
    grids, csp = dom.parse(run.dom)
    assert csp == [CSP]
    return {g.section["data-block"]: g for g in grids}


@pytest.mark.parametrize(
    "case, blocks",
    [
        ("llama", {"model": (32, 224)}),
        ("gemma", {"model": (34, 238), "vision_tower": (27, 162)}),
        ("mixtral", {"model": (32, 96)}),
    ],
)
@needs_modern_stack
def test_grid_has_a_row_per_layer_and_the_targeted_cells(browser, case, blocks):
    for theme in ("light", "dark"):
        grids = _grids(browser[f"{case}-{theme}"])
        assert list(grids) == list(blocks)
        for name, (layers, targeted) in blocks.items():
            g = grids[name]
            assert [label for label, _ in g.rows if label.isdigit()] == [str(i) for i in range(layers)]
            assert len(g.rows) - layers <= 1  # plus the "other" row when lm_head & co. are listed
            assert g.cells("t") == targeted
            assert all(
                re.search(r"^model\.\S+\n .* r=\d+ alpha=\S+ · [\d,]+ LoRA params", t)
                for t in g.titles
                if "LoRA params" in t
            )
        assert browser[f"{case}-{theme}"].screenshot.stat().st_size > 10_000
    if case == "gemma":
        assert "tower" in grids["vision_tower"].section["class"].split()
    if case == "mixtral":
        g = grids["model"]
        assert {"experts.gate_up_proj", "experts.down_proj", "q_proj"} <= set(g.columns)
        moe = [c for _, cells in g.rows for c in cells if "e" in c]
        assert len(moe) == 64 and all("t" in c for c in moe)


def test_no_request_leaves_the_page(browser):
    assert "http://127.0.0.1:9/canary.png" in chromium.page_requests(browser["canary"].netlog)
    for name, run in browser.items():
        if name != "canary":
            assert chromium.page_requests(run.netlog) == [], name
            assert not EXTERNAL.search(run.dom), (name, EXTERNAL.search(run.dom))


def test_light_and_dark_themes(browser):
    assert chromium.top_left_pixel(browser["llama-light"].screenshot) == (255, 255, 255)
    assert chromium.top_left_pixel(browser["llama-dark"].screenshot) == (13, 17, 23)  # --bg #0d1117


def test_thirty_two_layers_print_on_one_page(browser):
    assert chromium.pdf_pages(browser["llama-light"].pdf) == 1


def test_diff_page_outlines_the_mlp_cells(browser):
    grids, _ = dom.parse(browser["diff-light"].dom)
    assert [g.section["data-report"] for g in grids] == ["all linear", "attention only"]
    for g in grids:
        mlp = {"gate_proj", "up_proj", "down_proj"}
        outlined = {g.columns[i] for _, cells in g.rows for i, c in enumerate(cells) if "d" in c}
        assert outlined == mlp
        assert sum("d" in c for _, cells in g.rows for c in cells) == 3 * 32
