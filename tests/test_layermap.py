"""The data behind the layer map: exact grids for small hand-written targets.json dicts, read as Reports.

`candidates` (every LoRA-able module of the skeleton, `excluded` when lora_exclude_modules matched
it) is the field the map needs from compile to show modules that were not wrapped.
"""

from __future__ import annotations

from typing import Any

import pytest

from lora_compiler.results import layermap as lm
from lora_compiler.results.report import Report


def cand(
    name: str,
    fin: int = 64,
    fout: int = 64,
    *,
    excluded: bool = False,
    experts: int | None = None,
    type_: str = "Linear",
) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "kind": "parameter" if experts else "module",
        "in_features": fin,
        "out_features": fout,
        "num_experts": experts,
        "excluded": excluded,
    }


def wrapped(c: dict[str, Any], r: int = 8, alpha: float = 16.0) -> dict[str, Any]:
    """The targets.json `modules` entry PEFT reports for candidate `c`."""
    params = r * (c["in_features"] + c["out_features"]) * (c["num_experts"] or 1)
    return {
        "name": c["name"],
        "type": c["type"],
        "kind": c["kind"],
        "in_features": c["in_features"],
        "out_features": c["out_features"],
        "r": r,
        "alpha": alpha,
        "params": params,
        "num_experts": c["num_experts"],
    }


def report(
    modules: list[dict[str, Any]], candidates: list[dict[str, Any]] | None, saved: list[dict[str, Any]] = ()
) -> dict[str, Any]:  # type: ignore[assignment]
    out = {"modules": sorted(modules, key=lambda m: m["name"]), "modules_to_save": list(saved), "trainable_tokens": []}
    if candidates is not None:
        out["candidates"] = candidates
    return out


def full(partial: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A targets.json dict around hand-written modules/candidates."""
    return {
        "schema_version": "1.0",
        "file": "train.yml",
        "environment": {"lora_compiler": "0", "torch": "0", "transformers": "0", "peft": "0"},
        "model": {
            "base_model": "org/model",
            "model_type": "llama",
            "architecture": "LlamaForCausalLM",
            "loader": "AutoModelForCausalLM",
            "config_source": "local",
            "is_multimodal": False,
            "num_hidden_layers": 2,
            "num_parameters": 1000,
        },
        "adapter": "lora",
        "target_modules": ["q_proj", "v_proj"],
        "target_parameters": [],
        "linear_names": None,
        "effective_target_modules": ["q_proj", "v_proj"],
        "effective_target_parameters": [],
        "trainable_params": 10,
        "all_params": 1010,
        "trainable_percent": 0.99,
        "findings": [],
        **partial,
        **extra,
    }


def built(partial: dict[str, Any], **extra: Any) -> Report:
    """The Report a hand-written targets.json of schema 1.0 (no coverage, memory or adapter file) reads as."""
    return Report.from_dict(full(partial, **extra))


def states(block: lm.Block) -> list[str]:
    """One string per row: the row label, then each column's symbol."""
    return [f"{row.label}:" + "".join(lm.SYMBOLS[c.state if c else None] for c in row.cells) for row in block.rows]


def llama_like() -> dict[str, Any]:
    """2 layers; q_proj and v_proj targeted, q_proj at r=16 in layer 1 (rank_pattern), layer 1's v_proj
    excluded, lm_head in modules_to_save."""
    names = [
        f"model.layers.{i}.{p}"
        for i in range(2)
        for p in (
            "self_attn.q_proj",
            "self_attn.k_proj",
            "self_attn.v_proj",
            "self_attn.o_proj",
            "mlp.gate_proj",
            "mlp.up_proj",
            "mlp.down_proj",
        )
    ]
    cands = [cand(n, excluded=n == "model.layers.1.self_attn.v_proj") for n in names] + [cand("lm_head", 64, 128)]
    by = {c["name"]: c for c in cands}
    mods = [
        wrapped(by["model.layers.0.self_attn.q_proj"]),
        wrapped(by["model.layers.1.self_attn.q_proj"], r=16),
        wrapped(by["model.layers.0.self_attn.v_proj"]),
    ]
    return report(mods, cands, saved=[{"name": "lm_head", "type": "Linear", "params": 8192}])


def multimodal() -> dict[str, Any]:
    """Gemma-3-like: the vision tower comes first in model order and has its own module names."""
    vision = [
        f"model.vision_tower.vision_model.encoder.layers.{i}.{p}"
        for i in range(2)
        for p in ("self_attn.q_proj", "self_attn.out_proj", "mlp.fc1")
    ]
    text = [f"model.language_model.layers.{i}.self_attn.{p}" for i in range(2) for p in ("q_proj", "v_proj")]
    cands = [cand(n, 32, 32) for n in vision] + [cand("model.multi_modal_projector.linear_1", 32, 64)]
    cands += [cand(n) for n in text] + [cand("lm_head", 64, 300)]
    mods = [wrapped(c) for c in cands if c["name"].endswith(("q_proj", "v_proj", "fc1"))]
    return report(mods, cands)


def moe() -> dict[str, Any]:
    """Mixtral-like under transformers 5: experts are fused 3D parameters; PEFT doubles r for gate_up_proj.
    A shared expert's down_proj is a Linear of the same last name, in its own column."""
    cands = []
    for i in range(2):
        cands += [
            cand(f"model.layers.{i}.self_attn.q_proj"),
            cand(f"model.layers.{i}.self_attn.k_proj"),
            cand(f"model.layers.{i}.mlp.experts.gate_up_proj", 64, 256, experts=4, type_="MixtralExperts.gate_up_proj"),
            cand(f"model.layers.{i}.mlp.experts.down_proj", 128, 64, experts=4, type_="MixtralExperts.down_proj"),
            cand(f"model.layers.{i}.mlp.shared_experts.down_proj", 128, 64),
        ]
    cands.append(cand("lm_head", 64, 128))
    mods = [
        wrapped(c, r=16 if c["name"].endswith("gate_up_proj") else 8)
        for c in cands
        if c["name"].endswith(("q_proj", "experts.gate_up_proj", "experts.down_proj")) and "shared" not in c["name"]
    ]
    return report(mods, cands)


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
