"""Axolotl's lora_target_linear semantics. Expected sets are written from Axolotl's
find_all_linear_names and each architecture's module names, not from running this code."""

from __future__ import annotations

from conftest import DATASETS_YAML, needs_modern_stack

from lora_compiler.engine.compiler import Options, compile_document

LLAMA_LINEAR = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


def _compile(write_yaml, base: object, extra: str = "lora_target_linear: true\n", axolotl: str | None = None):
    return compile_document(
        write_yaml(f"base_model: {base}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n{extra}{DATASETS_YAML}"),
        Options(axolotl=axolotl),
    )


def test_llama_target_linear_is_all_projections_without_lm_head(model_dir, write_yaml):
    result = _compile(write_yaml, model_dir("llama"))
    assert result.ok, result.findings
    assert list(result.report.linear_names) == LLAMA_LINEAR
    assert sorted(result.lora_config.target_modules) == LLAMA_LINEAR
    assert len(result.report.modules) == 2 * 7
    assert not any(m.name == "lm_head" for m in result.report.modules)


@needs_modern_stack
def test_gpt_neox_keeps_lm_head_in_0_19_because_axolotl_removes_embed_out_and_warns(model_dir, write_yaml):
    """Axolotl 0.19's table names gpt_neox's output layer embed_out; transformers 5 calls it lm_head,
    so Axolotl's own rule keeps it. We mirror that exactly and say so."""
    result = _compile(write_yaml, model_dir("gpt_neox"), axolotl="0.19")
    assert result.ok, result.findings
    assert list(result.report.linear_names) == ["dense", "dense_4h_to_h", "dense_h_to_4h", "lm_head", "query_key_value"]
    [warn] = [f for f in result.findings if f.rule == "target-linear-output-layer"]
    assert warn.line == 5 and "lm_head" in warn.message and "embed_out" in warn.message


@needs_modern_stack
def test_gpt_neox_drops_lm_head_from_0_20_on(model_dir, write_yaml):
    """0.20 fixed the table (lm_head): lora_target_linear leaves Pythia's head out, as PEFT's all-linear does."""
    for release in ("0.20", "0.21"):
        result = _compile(write_yaml, model_dir("gpt_neox"), axolotl=release)
        assert list(result.report.linear_names) == ["dense", "dense_4h_to_h", "dense_h_to_4h", "query_key_value"]
        assert "target-linear-output-layer" not in {f.rule for f in result.findings}


def test_falcon_uses_fused_query_key_value_and_drops_lm_head(model_dir, write_yaml):
    result = _compile(write_yaml, model_dir("falcon"))
    assert result.ok, result.findings
    assert list(result.report.linear_names) == ["dense", "dense_4h_to_h", "dense_h_to_4h", "query_key_value"]


def test_phi3_fused_projections(model_dir, write_yaml):
    result = _compile(write_yaml, model_dir("phi3"))
    assert list(result.report.linear_names) == ["down_proj", "gate_up_proj", "o_proj", "qkv_proj"]


def test_gpt2_conv1d_target_linear_is_an_error_naming_the_real_modules(model_dir, write_yaml):
    result = _compile(write_yaml, model_dir("gpt2"))
    assert result.exit_code() == 1
    [finding] = [f for f in result.findings if f.rule == "target-linear-empty"]
    assert finding.severity.value == "error"
    assert finding.line == 5  # the lora_target_linear line
    assert "c_attn" in finding.message and "c_fc" in finding.message and "lora_fan_in_fan_out" in finding.message
    assert result.report is None


def test_gpt2_with_named_conv1d_targets_compiles(model_dir, write_yaml):
    result = _compile(
        write_yaml, model_dir("gpt2"), "lora_target_modules: [c_attn, c_proj]\nlora_fan_in_fan_out: true\n"
    )
    assert result.ok, result.findings
    # c_proj exists in attention and in the MLP of each of the 2 blocks.
    assert len(result.report.modules) == 2 * 3
    assert {m.type for m in result.report.modules} == {"Conv1D"}


def test_regex_target_modules_with_target_linear_becomes_a_literal_name(model_dir, write_yaml):
    """Axolotl wraps a string in a list before the union: the regex survives only as a name."""
    result = _compile(write_yaml, model_dir("llama"), "lora_target_modules: '.*q_proj'\nlora_target_linear: true\n")
    assert sorted(result.lora_config.target_modules) == sorted(LLAMA_LINEAR + [".*q_proj"])


def test_regex_target_modules_alone_is_a_full_match_regex(model_dir, write_yaml):
    result = _compile(write_yaml, model_dir("llama"), "lora_target_modules: '.*layers\\.1\\.self_attn\\.(q|v)_proj'\n")
    assert result.ok, result.findings
    assert [m.name for m in result.report.modules] == [
        "model.layers.1.self_attn.q_proj",
        "model.layers.1.self_attn.v_proj",
    ]


def test_target_modules_union_with_linear_names(model_dir, write_yaml):
    result = _compile(
        write_yaml, model_dir("llama"), "lora_target_modules: [q_proj, lm_head]\nlora_target_linear: true\n"
    )
    assert sorted(result.lora_config.target_modules) == sorted(LLAMA_LINEAR + ["lm_head"])
    assert any(m.name == "lm_head" for m in result.report.modules)


@needs_modern_stack
def test_mixtral_experts_are_fused_parameters_not_linear(model_dir, write_yaml):
    """Under transformers 5 Mixtral's experts are 3D parameters: target_linear sees attention only."""
    result = _compile(write_yaml, model_dir("mixtral"))
    assert list(result.report.linear_names) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert all(m.kind == "module" for m in result.report.modules)


@needs_modern_stack
def test_mixtral_expert_names_are_rewritten_by_peft_into_parameters(model_dir, write_yaml):
    result = _compile(write_yaml, model_dir("mixtral"), "lora_target_modules: [w1, w2, w3]\nlora_dropout: 0.1\n")
    assert result.ok, result.findings
    assert sorted(result.lora_config.target_modules) == ["w1", "w2", "w3"]  # adapter_config keeps what Axolotl built
    assert list(result.report.effective_target_parameters) == ["down_proj", "gate_up_proj"]
    params = [m for m in result.report.modules if m.kind == "parameter"]
    assert sorted(m.name for m in params) == [
        "model.layers.0.mlp.experts.down_proj",
        "model.layers.0.mlp.experts.gate_up_proj",
        "model.layers.1.mlp.experts.down_proj",
        "model.layers.1.mlp.experts.gate_up_proj",
    ]
    assert {m.num_experts for m in params} == {4}
    [warn] = [f for f in result.findings if f.rule == "moe-fused-dropout"]
    assert warn.severity.value == "warning" and warn.line == 6  # the lora_dropout line
    assert result.exit_code() == 0


@needs_modern_stack
def test_multimodal_gemma3_loads_image_text_class_and_hits_vision_tower(model_dir, write_yaml):
    result = _compile(write_yaml, model_dir("gemma3"))
    assert result.ok, result.findings
    model = result.report.model
    assert (model.architecture, model.loader, model.is_multimodal) == (
        "Gemma3ForConditionalGeneration",
        "AutoModelForImageTextToText",
        True,
    )
    # SigLIP vision tower: q/k/v/out_proj, fc1, fc2; language model: llama-like names.
    assert list(result.report.linear_names) == sorted(LLAMA_LINEAR + ["fc1", "fc2", "out_proj"])
    vision = [m.name for m in result.report.modules if "vision_tower" in m.name]
    # 6 per encoder layer, plus SigLIP's pooling head: head.attention.out_proj, head.mlp.fc1, head.mlp.fc2.
    assert len(vision) == 2 * 6 + 3
    assert "model.vision_tower.head.attention.out_proj" in vision


def test_reward_model_loads_sequence_classification_and_seq_cls_task(model_dir, write_yaml):
    result = _compile(write_yaml, model_dir("llama"), "reward_model: true\nlora_target_linear: true\n")
    assert result.ok, result.findings
    assert result.report.model.architecture == "LlamaForSequenceClassification"
    assert result.lora_config.task_type == "SEQ_CLS"
    assert not any(m.name == "score" for m in result.report.modules)  # score is Linear but PEFT saves it


def test_model_type_names_the_transformers_class(model_dir, write_yaml):
    result = _compile(write_yaml, model_dir("llama"), "model_type: LlamaForCausalLM\nlora_target_linear: true\n")
    assert result.report.model.loader == "LlamaForCausalLM"


def test_model_config_overrides_apply_before_the_skeleton(model_dir, write_yaml):
    result = _compile(
        write_yaml, model_dir("llama"), "model_config:\n  num_hidden_layers: 3\nlora_target_linear: true\n"
    )
    assert result.report.model.num_hidden_layers == 3
    assert len(result.report.modules) == 3 * 7
