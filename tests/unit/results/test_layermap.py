"""The data behind the layer map: exact grids for small hand-written targets.json dicts, read as Reports.

`candidates` (every LoRA-able module of the skeleton, `excluded` when lora_exclude_modules matched
it) is the field the map needs from compile to show modules that were not wrapped.
"""

from __future__ import annotations

import pytest
from reports import built, cand, llama_like, moe, multimodal, report, states, wrapped

from lora_compiler.results import layermap as lm


@pytest.mark.parametrize(
    "name, expected",
    [
        ("model.layers.3.self_attn.q_proj", ("model.layers", 3)),
        ("transformer.h.3.attn.c_attn", ("transformer.h", 3)),
        ("model.language_model.layers.3.mlp.down_proj", ("model.language_model.layers", 3)),
        (
            "model.vision_tower.vision_model.encoder.layers.12.mlp.fc1",
            ("model.vision_tower.vision_model.encoder.layers", 12),
        ),
        ("model.layers.3.block_sparse_moe.experts.7.w1", ("model.layers", 3)),  # the first number, not the expert's
        ("encoder.block.2.layer.0.SelfAttention.q", ("encoder.block", 2)),
        ("lm_head", (None, None)),
        ("model.multi_modal_projector.linear_1", (None, None)),
        ("model.layers.extra.q_proj", (None, None)),
    ],
)
def test_layer_of(name, expected):
    assert lm.layer_of(name) == expected


def test_llama_like_two_layers():
    lmap = lm.build_layer_map(built(llama_like()))
    (block,) = lmap.blocks
    assert [c.key for c in block.columns] == [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
        "lm_head",
    ]
    assert states(block) == ["0:#.#.... ", "1:#.x.... ", "other:       S"]
    assert lm.text_grid(lmap) == [
        "model (2 layers)",
        "           01  o",
        "q_proj     ##",
        "k_proj     ..",
        "v_proj     #x",
        "o_proj     ..",
        "gate_proj  ..",
        "up_proj    ..",
        "down_proj  ..",
        "lm_head        S",
    ]
    assert lmap.counts() == {"targeted": 3, "saved": 1, "excluded": 1, "off": 10}
    assert lmap.ranks() == (8, 16)
    q1 = block.rows[1].cells[0]
    assert q1.signature == ("targeted", (16,)) and q1.members[0].shape == "64x64" and q1.params == 2048


def test_multimodal_tower_is_its_own_block():
    lmap = lm.build_layer_map(built(multimodal()))
    assert [(b.name, b.is_tower) for b in lmap.blocks] == [
        ("model", False),
        ("vision_tower", True),
        ("multi_modal_projector", True),
    ]
    assert [lm.block_title(lmap, b) for b in lmap.blocks] == [
        "language model (2 layers)",
        "vision_tower (2 layers)",
        "multi_modal_projector",
    ]
    assert lm.text_grid(lmap) == [
        "language model (2 layers)",
        "         01  o",
        "q_proj   ##",
        "v_proj   ##",
        "lm_head      .",
        "",
        "vision_tower (2 layers)",
        "          01",
        "q_proj    ##",
        "out_proj  ..",
        "fc1       ##",
        "",
        "multi_modal_projector",
        "linear_1  .",
    ]


def test_moe_fused_experts_have_their_own_columns():
    lmap = lm.build_layer_map(built(moe()))
    (block,) = lmap.blocks
    assert [(c.key, c.num_experts, c.experts) for c in block.columns] == [
        ("q_proj", None, False),
        ("k_proj", None, False),
        ("experts.gate_up_proj", 4, True),
        ("experts.down_proj", 4, True),
        ("down_proj", None, False),
        ("lm_head", None, False),
    ]
    assert lm.text_grid(lmap) == [
        "model (2 layers)",
        "                                  01  o",
        "q_proj                            ##",
        "k_proj                            ..",
        "experts.gate_up_proj (4 experts)  ##",
        "experts.down_proj (4 experts)     ##",
        "down_proj                         ..",
        "lm_head                               .",
    ]
    gate_up = block.rows[0].cells[2]
    assert gate_up.members[0].shape == "4x64x256" and gate_up.ranks == (16,)
    assert gate_up.params == 16 * (64 + 256) * 4


def test_numbered_experts_share_one_cell_per_layer():
    """transformers 4 Mixtral: one Linear per expert; the cell holds all of them, the state the strongest."""
    names = [f"model.layers.0.block_sparse_moe.experts.{e}.w1" for e in range(4)]
    cands = [cand(n, excluded=n.endswith("3.w1")) for n in names]
    lmap = lm.build_layer_map(built(report([wrapped(c) for c in cands[:3]], cands)))
    (row,) = lmap.blocks[0].rows
    (cell,) = row.cells
    assert lmap.blocks[0].columns[0].experts and cell.state == "targeted" and len(cell.members) == 4
    assert [m.state for m in cell.members] == ["targeted", "targeted", "targeted", "excluded"]


def test_without_candidates_only_trained_modules_are_shown():
    lmap = lm.build_layer_map(built({**llama_like(), "candidates": None}))
    assert not lmap.has_candidates
    assert [c.key for c in lmap.blocks[0].columns] == ["q_proj", "v_proj", "lm_head"]  # by name: no model order
    assert states(lmap.blocks[0]) == ["0:## ", "1:#  ", "other:  S"]
    assert ("x", "excluded by lora_exclude_modules") not in lm.legend(lmap)
    assert ("blank", "not targeted or no such module") in lm.legend(lmap)


def test_encoder_decoder_stacks_get_labelled_rows_and_a_gap():
    cands = [cand(f"{side}.block.{i}.layer.0.SelfAttention.q") for side in ("encoder", "decoder") for i in range(2)]
    lmap = lm.build_layer_map(built(report([wrapped(c) for c in cands], cands)))  # candidates keep the model's order
    assert [r.label for r in lmap.blocks[0].rows] == ["encoder.0", "encoder.1", "decoder.0", "decoder.1"]
    assert lm.text_grid(lmap) == ["model (4 layers)", "   01  01", "q  ##  ##"]


def test_thirty_two_layers_fit_a_pull_request_comment():
    cands = [cand(f"model.layers.{i}.self_attn.{p}") for i in range(32) for p in ("q_proj", "v_proj")]
    lines = lm.text_grid(lm.build_layer_map(built(report([wrapped(c) for c in cands], cands))))
    assert lines[1:3] == [" " * 8 + "          1         2         3", " " * 8 + "01234567890123456789012345678901"]
    assert max(map(len, lines)) <= 80
