"""Per-entry coverage on tiny real models: the counts equal what PEFT itself targets on the CPU model, block
kinds say where each entry landed, and the coverage findings fire where a user would want them."""

from __future__ import annotations

import copy

import pytest
from conftest import needs_modern_stack
from stack_facts import MOE, SMALL

from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.engine.policy import Policy
from lora_compiler.model_facts import decoder_layer, peft_selects

TINY = {
    "nemotron_h": dict(
        SMALL,
        num_hidden_layers=6,
        hybrid_override_pattern="M-M*-M",
        mamba_num_heads=4,
        mamba_head_dim=16,
        ssm_state_size=16,
        n_groups=1,
        head_dim=16,
    ),
    "jamba": MOE["jamba"],
    "qwen3_moe": MOE["qwen3_moe"],
    "mixtral": MOE["mixtral"],
    "qwen2_moe": MOE["qwen2_moe"],
    "qwen2_5_vl": dict(
        text_config=dict(
            SMALL,
            model_type="qwen2_5_vl_text",
            num_hidden_layers=2,
            vocab_size=300,
            rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            fullatt_block_indexes=[1],
            window_size=56,
            patch_size=14,
        ),
    ),
    "llama4": dict(
        text_config=dict(
            SMALL,
            intermediate_size_mlp=128,
            num_hidden_layers=2,
            head_dim=16,
            vocab_size=300,
            num_local_experts=4,
            num_experts_per_tok=1,
            interleave_moe_layer_step=2,
            no_rope_layers=[1, 1],
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=56,
            patch_size=14,
            vision_output_dim=64,
            projector_input_dim=64,
            projector_output_dim=64,
        ),
    ),
}
L = {"adapter": "lora", "lora_r": 4, "lora_alpha": 8}


@pytest.fixture
def tiny(tmp_path):
    def make(model_type: str):
        from transformers import AutoConfig

        out = tmp_path / model_type
        AutoConfig.for_model(model_type, **TINY[model_type]).save_pretrained(out)
        return out

    return make


def _compiled(path, keys, threshold=0.5):
    result = compile_document(
        {"base_model": str(path), **L, **keys}, Options(offline=True, policy=Policy(coverage_threshold=threshold))
    )
    assert result.report is not None, [f.message for f in result.findings]
    return result


def _peft_targets(path, lora_config) -> tuple[list[str], list[str]]:
    """What PEFT targets on the real model: module names, and target parameters as owner.parameter."""
    from peft import get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    config = AutoConfig.from_pretrained(path)
    loader = AutoModelForImageTextToText if hasattr(config, "vision_config") else AutoModelForCausalLM
    model = loader.from_config(config)
    peft_model = get_peft_model(model, copy.deepcopy(lora_config))
    return list(peft_model.targeted_module_names), list(getattr(peft_model, "targeted_parameter_names", []))


def _checked(tiny, model_type: str, keys: dict):
    """Compile `keys` on a tiny `model_type`, check its coverage against PEFT, return (result, entries by name)."""
    path = tiny(model_type)
    result = _compiled(path, keys)
    _assert_counts_are_peft_s(result, path)
    return result, {e.entry: e for e in result.report.coverage.entries}


def _assert_counts_are_peft_s(result, path, classes=None):
    modules, parameters = _peft_targets(path, result.lora_config)
    names = modules + parameters
    cov = result.report.coverage
    for entry in cov.entries:
        targets = entry.entry if entry.key == "lora_target_modules" and entry.index is None else [entry.entry]
        pool = parameters if entry.key == "lora_target_parameters" else names
        expected = [
            n
            for n in pool
            if peft_selects(n, targets) or (n.endswith(".weight") and peft_selects(n.rsplit(".", 1)[0], targets))
        ]
        assert entry.reached == len(expected), (entry, expected)
        assert entry.decoder_layers == len({decoder_layer(n, classes) for n in expected} - {None}), entry
    assert cov.adapted_decoder_layers == len({decoder_layer(n, classes) for n in names} - {None})


@needs_modern_stack
def test_attention_only_targets_on_a_hybrid_model_adapt_a_small_share_of_layers(tiny):
    path = tiny("nemotron_h")
    result = _compiled(path, {"lora_target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]})
    _assert_counts_are_peft_s(result, path)
    cov = result.report.coverage
    assert (cov.adapted_decoder_layers, cov.decoder_layers) == (1, 6)
    assert {e.entry: e.blocks for e in cov.entries}["q_proj"] == {"attention": 1}
    below = [f for f in result.findings if f.rule == "coverage-below-threshold"]
    assert len(below) == 1 and "only 1 of 6 decoder layers (17%)" in below[0].message
    assert not any(
        f.rule == "coverage-below-threshold"
        for f in _compiled(path, {"lora_target_modules": ["q_proj"]}, threshold=0.1).findings
    )


@needs_modern_stack
def test_every_kind_of_layer_of_a_hybrid_model_named_adapts_every_layer(tiny):
    # lora_target_linear is refused here: PEFT will not wrap the Mamba mixer's out_proj and conv1d
    path = tiny("nemotron_h")
    result = _compiled(path, {"lora_target_modules": ["in_proj", "q_proj", "o_proj", "up_proj", "down_proj"]})
    _assert_counts_are_peft_s(result, path)
    blocks = {e.entry: e.blocks for e in result.report.coverage.entries}
    assert blocks["in_proj"] == {"mixer": 3} and blocks["q_proj"] == {"attention": 1}
    assert blocks["up_proj"] == {"MLP": 2}
    assert result.report.coverage.adapted_decoder_layers == 6
    assert not any(f.rule.startswith("coverage-") for f in result.findings)


@needs_modern_stack
def test_jamba_mamba_and_attention_entries_land_in_their_own_layers(tiny):
    result, entries = _checked(tiny, "jamba", {"lora_target_modules": ["q_proj", "in_proj", "x_proj"]})
    assert entries["q_proj"].blocks == {"attention": 2} and entries["in_proj"].blocks == {"mixer": 2}
    assert result.report.coverage.adapted_decoder_layers == 4


@needs_modern_stack
def test_shared_experts_without_routed_experts_is_a_warning_naming_the_expert_parameters(tiny):
    result, entries = _checked(
        tiny, "qwen2_moe", {"lora_target_modules": ["q_proj", "shared_expert.gate_proj", "shared_expert.up_proj"]}
    )
    assert entries["shared_expert.gate_proj"].blocks == {"shared experts": 2}
    found = [f for f in result.findings if f.rule == "moe-experts-unreached"]
    assert len(found) == 1 and found[0].severity.value == "warning", found
    assert "the targets reach the shared experts but none of them" in found[0].message
    assert "lora_target_parameters: [experts.down_proj, experts.gate_up_proj]" in found[0].hint
    assert found[0].key == "lora_target_modules"


@needs_modern_stack
def test_target_parameters_reach_the_routed_experts_and_silence_the_warning(tiny):
    result, entries = _checked(
        tiny,
        "qwen3_moe",
        {
            "lora_target_modules": ["q_proj"],
            "lora_target_parameters": ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"],
        },
    )
    assert entries["mlp.experts.gate_up_proj"].blocks == {"routed experts": 2}
    assert not any(f.rule == "moe-experts-unreached" for f in result.findings)


@needs_modern_stack
def test_a_regex_that_reaches_some_layers_of_a_name_says_so_at_its_line(tiny):
    path = tiny("qwen3_moe")
    result = _compiled(path, {"lora_target_modules": ["q_proj", "model.layers.0.self_attn.v_proj"]})
    partial = [f for f in result.findings if f.rule == "coverage-partial-layers"]
    assert [f.message for f in partial] == [
        "model.layers.0.self_attn.v_proj reaches 1 of the 2 decoder layers that hold a v_proj module"
    ]
    chosen = _compiled(path, {"lora_target_modules": ["q_proj", "v_proj"], "peft_layers_to_transform": [0]})
    assert not any(f.rule.startswith("coverage-") for f in chosen.findings)


@pytest.mark.parametrize(
    ("value", "ok"), [("0.1", True), ("1", True), ("2", False), ('"half"', False), ("true", False)]
)
def test_the_coverage_threshold_is_a_share_read_from_the_project_policy(tmp_path, value, ok):
    from lora_compiler.engine.policy import PolicyError

    (tmp_path / "pyproject.toml").write_text(f"[tool.lora-compiler]\ncoverage_threshold = {value}\n")
    if ok:
        assert Policy.discover(tmp_path).coverage_threshold == float(value)
    else:
        with pytest.raises(PolicyError, match="coverage_threshold"):
            Policy.discover(tmp_path)


@needs_modern_stack
def test_the_vision_tower_reached_by_suffix_names_is_counted_apart_from_the_decoder(model_dir):
    path = model_dir("gemma3")
    result = _compiled(path, {"lora_target_modules": ["q_proj", "fc1"]})
    _assert_counts_are_peft_s(result, path)
    entries = {e.entry: e for e in result.report.coverage.entries}
    assert entries["q_proj"].blocks == {"attention": 2, "vision tower": 2}
    assert entries["fc1"].blocks == {"vision tower": 3}  # two encoder layers and the pooling head
    assert entries["fc1"].decoder_layers == 0
    assert result.report.coverage.adapted_decoder_layers == 2


@needs_modern_stack
def test_suffix_names_on_qwen2_5_vl_reach_the_vision_tower_and_say_so(tiny):
    # lora_target_linear is refused here: it collects the merger's Sequential indices ("0", "2"), which also
    # name the tower's VisionBlocks, and PEFT cannot wrap a block
    path = tiny("qwen2_5_vl")
    result = _compiled(path, {"lora_target_modules": ["q_proj", "v_proj", "qkv", "proj"]})
    _assert_counts_are_peft_s(result, path)
    blocks = {e.entry: e.blocks for e in result.report.coverage.entries}
    assert blocks["qkv"] == {"vision tower": 2} and blocks["q_proj"] == {"attention": 2}
    assert blocks["proj"] == {"vision tower": 3}  # two attention outputs and the patch embedding (a Conv3d)
    assert result.report.coverage.adapted_decoder_layers == 2
    assert any(f.rule == "multimodal-tower-hit" and f.severity.value == "warning" for f in result.findings)


@needs_modern_stack
def test_llama4_shared_experts_reached_without_the_routed_ones_is_a_warning(tiny):
    path = tiny("llama4")
    result = _compiled(path, {"lora_target_modules": ["q_proj", "gate_proj", "up_proj"]})
    _assert_counts_are_peft_s(result, path)
    blocks = {e.entry: e.blocks for e in result.report.coverage.entries}
    assert blocks["gate_proj"].get("shared experts") == 1 and "routed experts" not in blocks["gate_proj"]
    found = [f for f in result.findings if f.rule == "moe-experts-unreached"]
    assert len(found) == 1 and found[0].severity.value == "warning" and "shared experts" in found[0].message


@needs_modern_stack
@pytest.mark.parametrize(
    ("model_type", "names", "fused"),
    [
        ("qwen3_moe", {"gate_proj": "gate_up_proj", "up_proj": "gate_up_proj", "down_proj": "down_proj"}, 2),
        ("mixtral", {"w1": "gate_up_proj", "w3": "gate_up_proj", "w2": "down_proj"}, 2),
    ],
)
def test_an_entry_peft_fuses_into_an_expert_parameter_is_credited_with_that_parameter(tiny, model_type, names, fused):
    path = tiny(model_type)
    result = _compiled(path, {"lora_target_modules": ["q_proj", *names]})
    _, parameters = _peft_targets(path, result.lora_config)
    entries = {e.entry: e for e in result.report.coverage.entries}
    for entry, parameter in names.items():
        made = [p for p in parameters if p.endswith(f"experts.{parameter}")]
        assert len(made) == fused, parameters  # PEFT's own injection: one fused parameter per MoE layer
        assert (entries[entry].reached, entries[entry].blocks) == (fused, {"routed experts": fused}), entries[entry]
        assert entries[entry].decoder_layers == fused
    assert not any(f.rule.startswith("coverage-") for f in result.findings)


@needs_modern_stack
def test_a_fused_parameter_asked_by_name_is_not_credited_to_an_entry_peft_did_not_convert(tiny):
    # PEFT has no conversion for jamba: gate_proj stays on the dense MLPs, gate_up_proj is the parameter entry's
    result, entries = _checked(
        tiny,
        "jamba",
        {"lora_target_modules": ["q_proj", "gate_proj"], "lora_target_parameters": ["experts.gate_up_proj"]},
    )
    assert entries["gate_proj"].blocks == {"MLP": 2}
    assert entries["experts.gate_up_proj"].blocks == {"routed experts": 2}
