"""Hand-written targets.json dicts (and the Reports read from them) shared by the layer-map and renderer tests."""

from __future__ import annotations

from typing import Any

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
