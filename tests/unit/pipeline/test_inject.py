"""Injection hands the skeleton back exactly as it found it, so a batch can reuse it.

inject() puts back what PEFT changed (swapped children, frozen parameters, the model config,
peft_config) instead of calling PEFT's unload(). These tests run a varied sequence of adapters
through one skeleton and check, after each, that the model is the same tree of the same objects
with the same state, and that every answer equals the one a freshly built skeleton gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import MODERN_STACK, REPO, needs_modern_stack

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.engine.session import Session
from lora_compiler.pipeline.inject import _Snapshot, at_rank, inject, injected_config
from lora_compiler.pipeline.peftcfg import build_lora_config
from lora_compiler.pipeline.skeleton import build
from lora_compiler.pipeline.source import resolve
from lora_compiler.pipeline.spec import AdapterSpec
from lora_compiler.pipeline.stacks import collapse
from lora_compiler.pipeline.targets import plan_targets
from lora_compiler.profiles import NEWEST

BASE = {"adapter": "lora", "lora_r": 8, "lora_alpha": 16}
# model type -> adapters that exercise every kind of change PEFT makes to a model.
ADAPTERS: dict[str, list[dict[str, Any]]] = {
    "llama": [
        {"lora_target_linear": True},
        {"lora_target_modules": ["q_proj", "v_proj"], "peft_use_dora": True},
        {"lora_target_linear": True, "lora_modules_to_save": ["embed_tokens", "lm_head"]},
        {"lora_target_modules": ["q_proj"], "peft_trainable_token_indices": [1, 2, 3]},
        {"lora_target_linear": True, "peft_layers_to_transform": [1], "lora_rank_pattern": {"v_proj": 4}},
        {"lora_target_modules": ["q_proj"], "peft_layer_replication": [[0, 2], [1, 2]]},
        {"lora_target_modules": ["q_proj"], "lora_r": 64},
    ],
    "mixtral": [
        {"lora_target_linear": True},
        {"lora_target_modules": ["q_proj"], "lora_target_parameters": ["experts.gate_up_proj", "experts.down_proj"]},
        {"lora_target_modules": ["q_proj", "w1", "w2", "w3"]},
    ],
    "gemma3": [
        {"lora_target_linear": True},
        {"lora_target_modules": ["q_proj"], "lora_modules_to_save": ["lm_head"]},
    ],
}


def _state(model: Any) -> dict[str, Any]:
    """Every module by name with its identity, children, parameters and flags, and each config's values."""
    configs = {id(m.config): m.config for m in model.modules() if "config" in vars(m)}
    return {
        "modules": {
            name: (
                id(m),
                type(m),
                sorted(vars(m)),
                {k: id(c) for k, c in m._modules.items()},
                {k: (id(p), p.requires_grad) for k, p in m._parameters.items() if p is not None},
            )
            for name, m in model.named_modules()
        },
        "configs": {k: c.to_dict() for k, c in configs.items()},
    }


def _lora_config(model_dir: Path, keys: dict[str, Any], skeleton: Any) -> Any:
    spec = AdapterSpec.model_validate({"base_model": str(model_dir), **BASE, **keys})
    plan = plan_targets(
        spec.lora_target_modules, spec.lora_target_linear, spec.lora_target_parameters, skeleton.model, NEWEST
    )
    return build_lora_config(spec, plan, skeleton.architecture)


@needs_modern_stack
@pytest.mark.parametrize("model_type", sorted(ADAPTERS))
def test_injection_restores_the_skeleton_exactly_and_answers_as_a_fresh_one(
    model_dir: Callable[..., Path], model_type: str
) -> None:
    path = model_dir(model_type)
    spec = AdapterSpec.model_validate({"base_model": str(path), **BASE})
    source = resolve(str(path), None, offline=True)
    shared = build(source, spec)
    before = _state(shared.model)
    for keys in ADAPTERS[model_type]:
        lora_config = _lora_config(path, keys, shared)
        reused = inject(shared.model, lora_config)
        assert _state(shared.model) == before, keys
        assert reused.modules, keys  # each adapter wraps something, so the restore had work to do
        fresh = inject(build(source, spec).model, _lora_config(path, keys, shared))
        assert reused == fresh, keys


def test_batch_injects_each_adapter_once_per_model(write_yaml: Callable[..., Path]) -> None:
    keys = "base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nlora_r: {r}\nlora_alpha: 16\nlora_target_linear: true\n"
    paths = [
        write_yaml(keys.format(r=r) + f"learning_rate: {lr}\n", f"c{r}-{lr}.yml")
        for r in (8, 16)
        for lr in (1e-4, 2e-4, 3e-4)
    ]
    session = Session()
    batch = [compile_document(p, Options(offline=True), session) for p in paths]
    # One PEFT run: the learning rate changes no adapter, and the second rank is carried from the first.
    assert (session.builds, session.injections) == (1, 1)
    alone = [compile_document(p, Options(offline=True)) for p in paths]
    assert [r.report.to_dict() for r in batch] == [r.report.to_dict() for r in alone]
    # Llama-3.2-1B: sum of (in + out) over the 7 projections is 44,032 per layer, 16 layers.
    assert [r.report.trainable_params for r in batch] == [44_032 * 16 * r for r in (8, 8, 8, 16, 16, 16)]


@needs_modern_stack
def test_a_batch_writes_each_rank_its_own_fused_expert_rank_pattern(
    model_dir: Callable[..., Path], write_yaml: Callable[..., Path]
) -> None:
    """PEFT's rewrite of fused experts depends on r (gate_up_proj at 2r): a batch never carries it to another r."""
    keys = f"base_model: {model_dir('mixtral')}\nadapter: lora\nlora_target_modules: [q_proj, w1, w2, w3]\n"
    paths = [write_yaml(keys + f"lora_r: {r}\nlora_alpha: {2 * r}\n", f"r{r}.yml") for r in (4, 8)]
    session = Session()
    batch = [compile_document(p, Options(offline=True), session) for p in paths]
    alone = [compile_document(p, Options(offline=True)) for p in paths]
    assert [r.adapter_config for r in batch] == [r.adapter_config for r in alone]
    assert [r.adapter_config["rank_pattern"] for r in batch] == [{r".*\.gate_up_proj": 2 * r} for r in (4, 8)]
    assert [r.adapter_config["alpha_pattern"] for r in batch] == [{r".*\.gate_up_proj": 4 * r} for r in (4, 8)]
    assert [r.adapter_config["target_parameters"] for r in batch] == [["down_proj", "gate_up_proj"]] * 2


# Adapters whose counts carry to another rank, and ones that must run PEFT again.
RANKED: dict[str, list[dict[str, Any]]] = {
    "llama": [
        {"lora_target_linear": True},
        {"lora_target_modules": ["q_proj", "v_proj"], "peft_use_dora": True},
        {"lora_target_linear": True, "lora_modules_to_save": ["embed_tokens", "lm_head"]},
        {"lora_target_modules": ["q_proj"], "peft_trainable_token_indices": [1, 2, 3]},
        {"lora_target_linear": True, "peft_layers_to_transform": [1]},
    ],
    "mixtral": [
        {"lora_target_linear": True},
        {"lora_target_modules": ["q_proj"], "lora_target_parameters": ["experts.gate_up_proj", "experts.down_proj"]},
        {"lora_target_modules": ["q_proj", "k_proj"], "lora_modules_to_save": ["lm_head"]},
    ],
    "gemma3": [{"lora_target_linear": True}],
    "gpt2": [{"lora_target_modules": ["c_attn", "c_proj"], "lora_fan_in_fan_out": True}],
}
NOT_RANKED: list[Any] = [
    ("llama", {"lora_target_linear": True, "lora_rank_pattern": {"v_proj": 4}}),
    ("llama", {"lora_target_linear": True, "lora_alpha_pattern": {"v_proj": 4}}),
    ("llama", {"lora_target_modules": ["q_proj", "embed_tokens"]}),  # a LoRA Embedding layer
    # PEFT fuses w1 and w3 into gate_up_proj and gives it rank 2r through a rank_pattern of its own.
    pytest.param("mixtral", {"lora_target_modules": ["q_proj", "w1", "w2", "w3"]}, marks=needs_modern_stack),
]


@needs_modern_stack
@pytest.mark.parametrize("model_type", sorted(RANKED))
def test_counts_carried_to_another_rank_equal_what_peft_gives_there(
    model_dir: Callable[..., Path], model_type: str
) -> None:
    path = model_dir(model_type)
    skeleton = build(resolve(str(path), None, offline=True), AdapterSpec.model_validate({"base_model": str(path)}))
    for keys in RANKED[model_type]:
        first = inject(skeleton.model, _lora_config(path, {**keys, "lora_r": 8, "lora_alpha": 16}, skeleton))
        assert first.rank_terms is not None, keys
        for r, alpha in ((4, 4), (8, 32), (64, 128)):
            direct = inject(skeleton.model, _lora_config(path, {**keys, "lora_r": r, "lora_alpha": alpha}, skeleton))
            assert at_rank(first, r, alpha) == direct, (keys, r)


@pytest.mark.parametrize(("model_type", "keys"), NOT_RANKED)
def test_counts_are_not_carried_across_rank_patterns_or_embedding_layers(
    model_dir: Callable[..., Path], model_type: str, keys: dict[str, Any]
) -> None:
    path = model_dir(model_type)
    skeleton = build(resolve(str(path), None, offline=True), AdapterSpec.model_validate({"base_model": str(path)}))
    assert inject(skeleton.model, _lora_config(path, keys, skeleton)).rank_terms is None


BUNDLED = sorted(
    f"{p.parent.parent.name}/{p.parent.name}" for p in (REPO / "fixtures" / "models").glob("*/*/config.json")
)
# Kinds of layer per stack, where a model does not have one stack of one kind of layer.
KINDS = {
    "deepseek-ai/DeepSeek-V3": [2],
    "deepseek-ai/DeepSeek-V2.5": [2],
    "google/gemma-3-4b-it": [1, 1],
    "arcee-ai/Trinity-Nano-Preview": [2],
}  # dense first layers, then MoE layers


def _kinds(model: Any, lora_config: Any) -> list[int] | None:
    """Kinds of layer per collapsed stack (None: not collapsed); the model is put back afterwards."""
    snapshot = _Snapshot(model)
    collapsed = collapse(model, injected_config(lora_config))
    snapshot.restore()
    return None if collapsed is None else [len(s.twins) for s in collapsed.stacks]


@pytest.mark.parametrize("model", BUNDLED)
def test_one_layer_of_each_kind_answers_for_the_whole_bundled_model(model: str) -> None:
    skeleton = build(resolve(model, None, offline=True), AdapterSpec.model_validate({"base_model": model}))
    # GPT-2's layers are Conv1D, which lora_target_linear does not select: name them.
    targets = (
        {"lora_target_modules": ["c_attn", "c_proj", "c_fc"]}
        if model.endswith("/gpt2")
        else {"lora_target_linear": True}
    )
    lora_config = _lora_config(Path(model), {**targets, "lora_modules_to_save": ["lm_head"]}, skeleton)
    before = _state(skeleton.model)
    kinds = _kinds(skeleton.model, lora_config)
    assert kinds == KINDS.get(model, [1]) or not MODERN_STACK and kinds
    assert _state(skeleton.model) == before
    assert inject(skeleton.model, lora_config) == inject(skeleton.model, lora_config, collapse_stacks=False)
    assert _state(skeleton.model) == before


@needs_modern_stack
@pytest.mark.parametrize("model_type", sorted(ADAPTERS))
def test_collapsed_and_whole_model_injections_agree_for_every_adapter(
    model_dir: Callable[..., Path], model_type: str
) -> None:
    path = model_dir(model_type, num_hidden_layers=3) if model_type != "gemma3" else model_dir(model_type)
    skeleton = build(resolve(str(path), None, offline=True), AdapterSpec.model_validate({"base_model": str(path)}))
    collapsed = 0
    for keys in ADAPTERS[model_type] + RANKED.get(model_type, []):
        lora_config = _lora_config(path, keys, skeleton)
        collapsed += _kinds(skeleton.model, lora_config) is not None
        assert inject(skeleton.model, lora_config) == inject(skeleton.model, lora_config, collapse_stacks=False), keys
    assert collapsed >= 2


REFUSED: list[dict[str, Any]] = [
    {"lora_target_linear": True, "peft_layers_to_transform": [1]},
    {"lora_target_modules": "model\\.layers\\.[01]\\.self_attn\\.q_proj"},  # a regex names layers
    {"lora_target_modules": ["layers.0.self_attn.q_proj"]},
    {"lora_target_linear": True, "lora_modules_to_save": ["layers"]},  # would copy the stack itself
    {"lora_target_linear": True, "lora_modules_to_save": ["model"]},
    {"lora_target_linear": True, "lora_rank_pattern": {"v_proj": 4}},
    {"lora_target_modules": ["q_proj"], "peft_layer_replication": [[0, 2], [1, 2]]},
]


@pytest.mark.parametrize("keys", REFUSED, ids=lambda k: ",".join(k))
def test_configs_that_name_layers_are_injected_whole(model_dir: Callable[..., Path], keys: dict[str, Any]) -> None:
    path = model_dir("llama", num_hidden_layers=3)
    skeleton = build(resolve(str(path), None, offline=True), AdapterSpec.model_validate({"base_model": str(path)}))
    assert _kinds(skeleton.model, _lora_config(path, keys, skeleton)) is None


def test_layers_that_share_weights_are_injected_whole(model_dir: Callable[..., Path]) -> None:
    path = model_dir("llama", num_hidden_layers=3)
    skeleton = build(resolve(str(path), None, offline=True), AdapterSpec.model_validate({"base_model": str(path)}))
    lora_config = _lora_config(path, {"lora_target_linear": True}, skeleton)
    assert _kinds(skeleton.model, lora_config) == [1]
    layers = skeleton.model.model.layers
    layers[2].mlp = layers[0].mlp  # one block used twice, as in models with shared blocks
    assert _kinds(skeleton.model, lora_config) is None


def test_a_peft_message_naming_a_layer_sends_the_injection_to_the_whole_model(
    model_dir: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import lora_compiler.pipeline.inject as inject_module

    path = model_dir("llama", num_hidden_layers=3)
    skeleton = build(resolve(str(path), None, offline=True), AdapterSpec.model_validate({"base_model": str(path)}))
    lora_config = _lora_config(path, {"lora_target_linear": True}, skeleton)
    real = inject_module._inject
    calls = []

    def naming_a_layer(model: Any, *args: Any) -> Any:
        result = real(model, *args)
        calls.append(len(model.model.layers))  # after the restore: the whole model again
        layers = len(list(model.modules()))
        return replace(result, warnings=[f"odd: model.layers.0.mlp ({layers} modules seen)"])

    monkeypatch.setattr(inject_module, "_inject", naming_a_layer)
    result = inject(skeleton.model, lora_config)
    assert len(calls) == 2 and len(result.modules) == 7 * 3
    whole = inject(skeleton.model, lora_config, collapse_stacks=False)
    assert result.warnings == whole.warnings and result.modules == whole.modules


def test_layers_that_differ_only_in_shape_are_different_kinds(model_dir: Callable[..., Path]) -> None:
    import torch

    path = model_dir("llama", num_hidden_layers=3)
    skeleton = build(resolve(str(path), None, offline=True), AdapterSpec.model_validate({"base_model": str(path)}))
    with torch.device("meta"):  # a narrower MLP in the last layer, as in models with per-layer widths
        mlp = skeleton.model.model.layers[2].mlp
        mlp.gate_proj, mlp.up_proj = torch.nn.Linear(64, 96, bias=False), torch.nn.Linear(64, 96, bias=False)
        mlp.down_proj = torch.nn.Linear(96, 64, bias=False)
    lora_config = _lora_config(path, {"lora_target_linear": True}, skeleton)
    assert _kinds(skeleton.model, lora_config) == [2]
    collapsed = inject(skeleton.model, lora_config)
    assert collapsed == inject(skeleton.model, lora_config, collapse_stacks=False)
    assert {m.out_features for m in collapsed.modules if m.name.endswith("up_proj")} == {128, 96}


def test_stacks_inside_layers_collapse_too(model_dir: Callable[..., Path]) -> None:
    """MoE experts held as a list of modules (transformers 4 and some models in 5): two levels of stacks."""
    import torch

    path = model_dir("llama", num_hidden_layers=3)
    skeleton = build(resolve(str(path), None, offline=True), AdapterSpec.model_validate({"base_model": str(path)}))
    with torch.device("meta"):
        for layer in skeleton.model.model.layers:
            layer.mlp.experts = torch.nn.ModuleList(type(layer.mlp)(skeleton.config) for _ in range(4))
    lora_config = _lora_config(path, {"lora_target_linear": True, "lora_modules_to_save": ["lm_head"]}, skeleton)
    snapshot = _Snapshot(skeleton.model)
    collapsed = collapse(skeleton.model, injected_config(lora_config))
    snapshot.restore()
    assert collapsed is not None
    assert [(s.prefix, len(s.twins)) for s in collapsed.stacks] == [
        ("model.layers", 1),
        ("model.layers.0.mlp.experts", 1),
    ]
    result = inject(skeleton.model, lora_config)
    assert result == inject(skeleton.model, lora_config, collapse_stacks=False)
    assert len(result.modules) == 3 * (4 + 3 + 4 * 3)  # attention, the layer's MLP, four experts' MLPs


def test_a_batch_keeps_tied_embeddings_tied_after_modules_to_save(model_dir: Callable[..., Path]) -> None:
    """PEFT's unload() used to hand back lm_head untied from embed_tokens, so the next file of a batch
    on the same model counted the output layer twice in all_params (seen on Axolotl's
    llama-3 lora-1b-sample-packing-sequentially example after another Llama-3.2-1B config)."""
    path = model_dir("llama", tie_word_embeddings=True)
    keys = {"base_model": str(path), **BASE, "lora_modules_to_save": ["embed_tokens", "lm_head"]}
    configs = [
        {**keys, "lora_target_linear": True},
        {**keys, "lora_target_modules": ["q_proj"]},
        {**keys, "lora_target_modules": ["v_proj"]},
    ]
    session = Session()
    batch = [compile_document(c, Options(offline=True), session).report for c in configs]
    alone = [compile_document(c, Options(offline=True)).report for c in configs]
    assert session.builds == 1
    assert [r.to_dict() for r in batch] == [r.to_dict() for r in alone]


@pytest.mark.parametrize("init, fails", [("pissa", True), ("olora", True), ("orthogonal", True), ("gaussian", False)])
def test_peft_initialises_fused_experts_only_without_their_weights(init: str, fails: bool) -> None:
    """The fact rule init-needs-module-weights stands on, measured on a tiny real Mixtral: PiSSA, OLoRA and
    orthogonal init read module.weight, which a fused-expert ParamWrapper's module lacks."""
    import warnings

    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, MixtralConfig

    from lora_compiler.rules.model_rules import WEIGHT_INITS

    config = MixtralConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_local_experts=2,
        vocab_size=64,
    )
    model = AutoModelForCausalLM.from_config(config)
    lora = LoraConfig(r=2, target_modules=["q_proj", "w1", "w2", "w3"], init_lora_weights=init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fails:
            with pytest.raises(AttributeError, match="has no attribute 'weight'"):
                get_peft_model(model, lora)
        else:
            get_peft_model(model, lora)
    assert init.startswith(WEIGHT_INITS) == fails
