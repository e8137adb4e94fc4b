"""`lora-compiler diff`: matrices across models and conventions, pairs of configs and outputs.

Expected figures are derived by hand from each model's config (noted beside each number), never
by running the code under test. A LoRA pair on a Linear in->out adds r * (in + out) parameters;
on a fused expert parameter (E experts) r * (in + out) * E.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import DATASETS_YAML, REPO, needs_modern_stack

from lora_compiler.engine.compiler import Options, compile_document
from lora_compiler.features.diff import DiffUsageError, diff, diff_conventions, diff_models, diff_pair
from lora_compiler.render import diff_json, diff_md, diff_text
from lora_compiler.render.outputs import render_files

OFFLINE = Options(offline=True)
LORA = "adapter: lora\nlora_r: 8\nlora_alpha: 16\n" + DATASETS_YAML
# Tiny llama (conftest): hidden 64, intermediate 128, 4 heads of 16, 2 kv heads (k/v out 32), 2 layers.
# r=8: q, o 8*(64+64)=1024; k, v 8*(64+32)=768; gate, up, down 8*(64+128)=1536 -> 8,192 per layer.
LLAMA_TINY_ALL = 2 * 8192


def _tiny(tmp_path: Path, model_type: str, **kwargs: Any) -> Path:
    """A tiny config of a type conftest's TINY table does not have."""
    from transformers import AutoConfig

    out = tmp_path / f"tiny-{model_type}"
    AutoConfig.for_model(model_type, **kwargs).save_pretrained(out)
    return out


def _cells(d: Any, side: int) -> dict[str, tuple[int, int]]:
    """row key -> (modules, LoRA params) for one side."""
    return {r.key: (r.cells[side].count, r.cells[side].params) for r in d.rows if r.cells[side]}


def _rules(side: Any) -> set[str]:
    return {f.rule for f in side.findings}


@needs_modern_stack
def test_models_matrix_dense_moe_multimodal_bundled(write_yaml):
    cfg = write_yaml(
        "base_model: meta-llama/Llama-3.1-8B\nadapter: lora\nlora_r: 16\nlora_alpha: 32\nlora_target_linear: true\n"
    )
    d = diff_models(cfg, ["meta-llama/Llama-3.1-8B", "Qwen/Qwen3-30B-A3B", "google/gemma-3-4b-it"], OFFLINE)
    llama, qwen, gemma = (_cells(d, i) for i in range(3))
    # Llama-3.1-8B: hidden 4096, intermediate 14336, 32 q heads / 8 kv heads of 128 (k/v out 1024), 32 layers.
    assert llama == {
        "q_proj": (32, 32 * 16 * (4096 + 4096)),
        "o_proj": (32, 32 * 16 * (4096 + 4096)),
        "k_proj": (32, 32 * 16 * (4096 + 1024)),
        "v_proj": (32, 32 * 16 * (4096 + 1024)),
        "gate_proj": (32, 32 * 16 * (4096 + 14336)),
        "up_proj": (32, 32 * 16 * (4096 + 14336)),
        "down_proj": (32, 32 * 16 * (14336 + 4096)),
    }
    # Qwen3-30B-A3B: hidden 2048, 32 q heads / 4 kv heads of 128 (q out 4096, k/v out 512), 48 layers. Under
    # transformers 5 the 128 experts are fused 3D parameters and the router is no Linear, so lora_target_linear
    # finds only the attention projections.
    assert qwen == {
        "q_proj": (48, 48 * 16 * (2048 + 4096)),
        "o_proj": (48, 48 * 16 * (4096 + 2048)),
        "k_proj": (48, 48 * 16 * (2048 + 512)),
        "v_proj": (48, 48 * 16 * (2048 + 512)),
    }
    # gemma-3-4b-it: text hidden 2560, intermediate 10240, 8 q heads / 4 kv heads of 256 (q out 2048, k/v 1024),
    # 34 layers; SigLIP tower hidden 1152, intermediate 4304, 27 layers (q/k/v/out_proj 1152x1152, fc1, fc2).
    text, vision = 34 * 16, 27 * 16
    assert gemma == {
        "q_proj": (61, text * (2560 + 2048) + vision * 2304),
        "k_proj": (61, text * (2560 + 1024) + vision * 2304),
        "v_proj": (61, text * (2560 + 1024) + vision * 2304),
        "o_proj": (34, text * (2048 + 2560)),
        "gate_proj": (34, text * 12800),
        "up_proj": (34, text * 12800),
        "down_proj": (34, text * 12800),
        "out_proj": (27, vision * 2304),
        "fc1": (27, vision * (1152 + 4304)),
        "fc2": (27, vision * (4304 + 1152)),
    }
    totals = [s.totals for s in d.sides]
    assert [t.modules for t in totals] == [224, 192, 400]
    # 8B: 32 * 1,310,720; 30B-A3B: 48 * 278,528; gemma: 34 * 876,544 + 27 * 322,048 (fixtures/configs example).
    assert [t.trainable_params for t in totals] == [41_943_040, 13_369_344, 38_497_792]
    assert d.rows[0].cells[0].shapes == ("14336x4096",) and _cells(d, 2)["q_proj"][0] == 61
    assert {r.key: r.cells[2].shapes for r in d.rows if r.key == "q_proj"} == {
        "q_proj": ("2560x2048", "1152x1152")
    }  # most common first
    assert d.differs and d.exit_code(check=True) == 1 and d.exit_code() == 0
    assert d.unmatched == ((), (), ())


def test_models_matrix_unmatched_names_and_failed_model(model_dir, write_yaml):
    cfg = write_yaml(f"base_model: x\n{LORA}lora_target_modules: [q_proj, v_proj, c_attn]\n")
    d = diff_models(cfg, [str(model_dir("llama")), str(model_dir("gpt2")), "no-such/model"], OFFLINE)
    assert d.unmatched == (("c_attn",), ("q_proj", "v_proj"), ())
    # llama: q 1024 + v 768 per layer; GPT-2 (n_embd 64): c_attn Conv1D 64 -> 192, 8 * 256 = 2048 per layer.
    assert _cells(d, 0) == {"q_proj": (2, 2048), "v_proj": (2, 1536)}
    assert _cells(d, 1) == {"c_attn": (2, 4096)}
    assert d.sides[2].failed and "model-not-found" in _rules(d.sides[2])
    assert d.exit_code(check=True) == 2  # an unusable input outranks the difference
    text = diff_text.render(d)
    assert "[3] no-such/model" in text and "failed: model-not-found" in text and "Traceback" not in text


def test_pair_two_configs_differing_in_one_key(model_dir, write_yaml, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model_dir("llama")
    write_yaml(f"base_model: tiny-llama\n{LORA}lora_target_modules: [q_proj, v_proj]\n", "old.yml")
    write_yaml(f"base_model: tiny-llama\n{LORA}lora_target_modules: [q_proj, k_proj, v_proj]\n", "new.yml")
    d = diff_pair("old.yml", "new.yml", OFFLINE)
    assert d.compares == "modules" and not d.removed and not d.changed
    [added] = d.added  # k_proj in both layers, one group: 64 -> 32, 8 * (64 + 32) = 768 each
    assert (added.name, added.layers, added.count, added.after.shape, added.after.params, added.delta) == (
        "model.layers.*.self_attn.k_proj",
        "0-1",
        2,
        "64x32",
        768,
        1536,
    )
    assert [(f.field, f.items) for f in d.fields] == [("target_modules", (["k_proj"], []))]
    assert d.differs and d.exit_code(check=True) == 1
    # old: q 1024 + v 768 per layer = 3,584; new adds 1,536. Base parameters: embed and lm_head 128 * 64 each,
    # per layer q, o 64 * 64, k, v 64 * 32, gate, up, down 64 * 128, two norms of 64; final norm 64 -> 90,432.
    # trainable %: 3,584 / 94,016 = 3.8121; 5,120 / 95,552 = 5.3583.
    assert (
        diff_text.render(d)
        == """\
old.yml -> new.yml: 0 removed, 2 added, 0 changed modules (grouped by layer)

                                 old.yml               new.yml                change
wrapped modules                        4                     6                    +2
trainable params                   3,584                 5,120                +1,536
trainable %                       3.8121                5.3583               +1.5462

added:
  + model.layers.*.self_attn.k_proj [0-1]  2 x Linear 64x32 r=8/a=16  +1,536

adapter_config.json fields (* decides what is trained):
  * target_modules: + k_proj
"""
    )
    assert (
        diff_md.render(d)
        == """\
### LoRA target diff: `old.yml` → `new.yml`

**0 removed, 2 added, 0 changed modules** (modules with the same change grouped over their layers).

|  | `old.yml` | `new.yml` | change |
| --- | ---: | ---: | ---: |
| wrapped modules | 4 | 6 | +2 |
| trainable params | 3,584 | 5,120 | +1,536 |
| trainable % | 3.8121 | 5.3583 | +1.5462 |

#### Added

| module | layers | modules | type | shape | r/alpha | params each | Δ params |
| --- | --- | --- | --- | --- | --- | --- | --- |
| `model.layers.*.self_attn.k_proj` | 0-1 | 2 | Linear | 64x32 | r=8/a=16 | 768 | +1,536 |

#### adapter_config.json fields

Fields marked * decide what is trained.

| field | `old.yml` | `new.yml` |
| --- | --- | --- |
| \\*`target_modules` | — | `k_proj` |
"""
    )


def test_pair_two_outputs_with_different_rank_patterns(model_dir, write_yaml, tmp_path):
    base = f"base_model: {model_dir('llama')}\n{LORA}lora_target_modules: [q_proj, v_proj]\n"
    for name, extra in (("out_a", ""), ("out_b", "lora_rank_pattern:\n  q_proj: 16\n")):
        result = compile_document(write_yaml(base + extra, f"{name}.yml"), OFFLINE)
        (tmp_path / name).mkdir()
        for file, text in render_files(result).items():
            (tmp_path / name / file).write_text(text, encoding="utf-8")
    a, b = tmp_path / "out_a", tmp_path / "out_b"
    d = diff_pair(a, b, layers=True)
    assert not d.added and not d.removed
    # q_proj at r=16: 16 * (64 + 64) = 2048 instead of 8 * 128 = 1024, in each of the 2 layers.
    assert [(c.name, c.before.rank, c.after.rank, c.before.params, c.after.params) for c in d.changed] == [
        (f"model.layers.{i}.self_attn.q_proj", "r=8/a=16", "r=16/a=16", 1024, 2048) for i in (0, 1)
    ]
    assert [(f.field, f.before, f.after, f.targets) for f in d.fields] == [("rank_pattern", {}, {"q_proj": 16}, True)]
    assert d.sides[1].totals.trainable_params - d.sides[0].totals.trainable_params == 2 * 1024
    only_json = diff_pair(a / "targets.json", b / "targets.json")
    assert [c.layers for c in only_json.changed] == ["0-1"] and not only_json.fields
    configs = diff_pair(a / "adapter_config.json", b / "adapter_config.json")
    assert configs.compares == "fields" and configs.differs and configs.exit_code(check=True) == 1
    assert diff_pair(a / "adapter_config.json", a / "adapter_config.json").exit_code(check=True) == 0
    report = json.loads((b / "targets.json").read_text())
    report["environment"]["peft"] = "0.0.1"  # an output made with another PEFT: versions are part of the diff
    (b / "targets.json").write_text(json.dumps(report))
    assert [(c.field, c.after) for c in diff_pair(a, b).environment] == [("peft", "0.0.1")]


def test_conventions_on_gpt2_conv1d(model_dir, write_yaml):
    cfg = write_yaml(f"base_model: {model_dir('gpt2')}\n{LORA}lora_target_linear: true\n")
    d = diff_conventions(cfg, ["axolotl", "peft-all-linear", "llamafactory-all"], OFFLINE)
    axolotl, peft, factory = d.sides
    assert axolotl.failed and "target-linear-empty" in _rules(axolotl)  # Conv1D is no Linear to Axolotl
    assert factory.failed and "convention-empty" in _rules(factory)  # nor to LLaMA-Factory ("Linear" in class name)
    # PEFT takes Conv1D, minus the tied lm_head (excluded by identity). n_embd 64, n_inner 4 * 64 = 256:
    # c_attn 64 -> 192: 8 * 256; c_fc 64 -> 256: 8 * 320; c_proj 64 -> 64: 8 * 128 and 256 -> 64: 8 * 320.
    assert _cells(d, 1) == {"c_attn": (2, 2 * 2048), "c_fc": (2, 2 * 2560), "c_proj": (4, 2 * 1024 + 2 * 2560)}
    assert peft.totals.trainable_params == 16384 and "peft-warning" in _rules(peft)  # fan_in_fan_out set for Conv1D
    assert d.differs


def test_conventions_on_multimodal_qwen2_vl_differ(write_yaml, tmp_path):
    model = _tiny(
        tmp_path,
        "qwen2_vl",
        text_config=dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=128,
            rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
        ),
        vision_config=dict(
            depth=2,
            embed_dim=32,
            hidden_size=64,
            num_heads=2,
            mlp_ratio=2,
            patch_size=14,
            spatial_merge_size=2,
            in_channels=3,
            temporal_patch_size=2,
        ),
    )
    cfg = write_yaml(f"base_model: {model}\n{LORA}lora_target_linear: true\n")
    d = diff_conventions(cfg, ["axolotl", "peft-all-linear", "llamafactory-all"], OFFLINE, layers=True)
    axolotl, peft, factory = d.sides
    # The merger's nn.Sequential gives Axolotl the names "0" and "2", which also end "visual.blocks.0" and
    # "layers.0": whole blocks, which no LoRA layer type supports.
    assert axolotl.failed and axolotl.exit_code == 1
    # PEFT: every Linear by full name, vision included. Text as tiny llama (16,384); vision blocks (embed 32,
    # mlp 64): qkv 8*(32+96), proj 8*64, fc1/fc2 8*96 -> 3,072 per block; merger (context 32 * 2**2 = 128):
    # mlp.0 128 -> 128: 8*256, mlp.2 128 -> 64: 8*192.
    assert peft.totals.trainable_params == LLAMA_TINY_ALL + 2 * 3072 + 2048 + 1536
    assert _cells(d, 1)["model.visual.merger.mlp.*"] == (2, 2048 + 1536)
    # LLaMA-Factory freezes visual.blocks, visual.patch_embed and visual.merger: the language model only.
    assert factory.totals.trainable_params == LLAMA_TINY_ALL
    assert all(r.key.startswith("model.language_model.") for r in d.rows if r.cells[2])
    assert d.differs


def test_conventions_on_multimodal_gemma3_axolotl_and_peft_agree(model_dir, write_yaml):
    cfg = write_yaml(f"base_model: {model_dir('gemma3')}\n{LORA}lora_target_linear: true\n")
    d = diff_conventions(cfg, ["axolotl", "peft-all-linear", "llamafactory-all"], OFFLINE)
    axolotl, peft, factory = (s.totals for s in d.sides)
    # Both take the SigLIP tower: text 2 layers x 7 + vision 2 layers x 6 (q, k, v, out_proj, fc1, fc2) + the
    # tower's pooling head (vision_use_head defaults to true; gemma-3-4b-it sets false): attention.out_proj (a
    # Linear subclass inside nn.MultiheadAttention), mlp.fc1, mlp.fc2.
    assert axolotl == peft and axolotl.modules == 2 * 7 + 2 * 6 + 3
    assert factory.modules == 2 * 7  # vision_tower and multi_modal_projector frozen
    assert d.differs


def test_conventions_on_llama_agree(model_dir, write_yaml):
    cfg = write_yaml(f"base_model: {model_dir('llama')}\n{LORA}lora_target_linear: true\n")
    d = diff([cfg], conventions=["axolotl", "peft-all-linear", "llamafactory-all"], options=OFFLINE)
    assert [s.totals.trainable_params for s in d.sides] == [LLAMA_TINY_ALL] * 3
    assert not d.differs and d.exit_code(check=True) == 0


@needs_modern_stack
def test_peft_all_linear_on_moe_adds_experts_and_router(write_yaml, tmp_path):
    model = _tiny(
        tmp_path,
        "qwen3_moe",
        hidden_size=64,
        intermediate_size=128,
        moe_intermediate_size=32,
        num_experts=4,
        num_experts_per_tok=2,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        vocab_size=128,
    )
    cfg = write_yaml(f"base_model: {model}\n{LORA}lora_target_linear: true\nlora_dropout: 0\n")
    d = diff_conventions(cfg, ["axolotl", "peft-all-linear"], OFFLINE)
    # Attention: q, o 8*(64+64); k, v 8*(64+32) -> 3,584 per layer. Axolotl stops there.
    assert d.sides[0].totals.trainable_params == 2 * 3584
    peft = _cells(d, 1)
    # PEFT resolves "all-linear" with the pre-fusion names: experts gate+up fused (r and alpha doubled) 64 -> 64
    # over 4 experts: 16*(64+64)*4; down 32 -> 64: 8*(32+64)*4; router gate.weight 64 -> 4: 8*(64+4).
    assert peft["gate_up_proj"] == (2, 2 * 8192) and peft["down_proj"] == (2, 2 * 3072)
    assert peft["gate.weight"] == (2, 2 * 544)
    assert {c.ranks for r in d.rows if r.key == "gate_up_proj" for c in r.cells if c} == {("r=16/a=32",)}
    assert d.sides[1].totals.trainable_params == 2 * (3584 + 8192 + 3072 + 544)


def test_inputs_that_cannot_be_diffed(model_dir, write_yaml, tmp_path):
    cfg = write_yaml(f"base_model: {model_dir('llama')}\n{LORA}lora_target_modules: [q_proj]\n")
    assert diff_pair(cfg, tmp_path / "missing.yml", OFFLINE).exit_code() == 2
    (tmp_path / "other.json").write_text('{"hello": 1}')
    assert "input-unreadable" in _rules(diff_pair(cfg, tmp_path / "other.json", OFFLINE).sides[1])
    (tmp_path / "out").mkdir()
    for file, text in render_files(compile_document(cfg, OFFLINE)).items():
        if file == "targets.json":
            (tmp_path / "out" / file).write_text(text)
    mixed = diff_pair(tmp_path / "out", cfg, OFFLINE)  # a YAML compiles, so a targets-only output compares
    assert mixed.compares == "modules" and not mixed.differs
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "adapter_config.json").write_text('{"peft_type": "LORA", "target_modules": ["q_proj"]}')
    nothing = diff_pair(tmp_path / "out" / "targets.json", tmp_path / "cfg", OFFLINE)
    assert nothing.compares == "nothing" and nothing.exit_code() == 2
    for bad in (
        dict(inputs=[cfg, cfg, cfg]),
        dict(inputs=[cfg, cfg], conventions=["axolotl"]),
        dict(inputs=[cfg], conventions=["unsloth"]),
        dict(inputs=[tmp_path / "out"], models=["m"]),
    ):
        with pytest.raises(DiffUsageError):
            diff(**bad, options=OFFLINE)  # type: ignore[arg-type]


def test_renders_are_deterministic_and_text_fits_100_columns(model_dir, write_yaml):
    models = [str(model_dir("llama")), str(model_dir("mixtral")), str(model_dir("gemma3"))]
    cfg = write_yaml(f"base_model: x\n{LORA}lora_target_linear: true\nlora_modules_to_save: [lm_head]\n")
    pair = write_yaml(f"base_model: x\n{LORA}lora_target_modules: [q_proj]\n", "pair.yml")
    outputs = []
    for _ in range(2):
        runs = [
            diff_models(cfg, models, OFFLINE),
            diff_models(cfg, models, OFFLINE, layers=True),
            diff_pair(cfg, pair, Options(offline=True, model=models[0])),
        ]
        outputs.append([fmt.render(r) for r in runs for fmt in (diff_text, diff_md, diff_json)])
    assert outputs[0] == outputs[1]
    for i, text in enumerate(outputs[0]):
        if i % 3 == 0:
            assert max(len(line) for line in text.splitlines()) <= 100, text
        if i % 3 == 2:
            json.loads(text)
    assert "lm_head (modules_to_save)" in outputs[0][0]


def test_a_cell_shows_the_most_common_shape_and_says_what_plus_n_means():
    """gemma-3's k_proj: 34 language-model modules (2560x1024) before 27 vision-tower ones (1152x1152)."""
    from click.testing import CliRunner

    from lora_compiler.cli import cli

    res = CliRunner().invoke(
        cli,
        [
            "diff",
            str(REPO / "fixtures/configs/gemma-3-4b-multimodal.yml"),
            "--offline",
            "--model",
            "google/gemma-3-4b-it",
            "--model",
            "meta-llama/Llama-3.2-1B",
        ],
    )
    assert res.exit_code == 0, res.output
    (k_proj,) = [line for line in res.output.splitlines() if line.startswith("k_proj")]
    assert "61 2560x1024+1" in k_proj
    assert "a shape+N: the most common shape, and N other shapes" in res.output
