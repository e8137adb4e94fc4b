"""Per-device memory where the YAML shards: FSDP2 figures equal what rank 0 really holds after one step (facts
recorded by scripts/fsdp_shards.py with torchrun on the CPU); FSDP1 and DeepSpeed plans are read from the YAML and
the DeepSpeed JSON as Axolotl reads them, and labelled approximate."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import DATASETS_YAML, REPO, needs_modern_stack

from lora_compiler.cli import cli
from lora_compiler.engine.compiler import compile_document
from lora_compiler.engine.options import Options
from lora_compiler.engine.policy import Policy, PolicyError
from lora_compiler.pipeline.sharding import plan
from lora_compiler.results.parts import StaticMemory

FACTS = json.loads((REPO / "tests" / "facts" / "fsdp_shards.json").read_text())
DEEPSPEED = json.loads((REPO / "tests" / "facts" / "deepspeed_shards.json").read_text())
QUANTISED = {
    f["axolotl"]: f
    for f in (json.loads(p.read_text()) for p in sorted((REPO / "tests" / "facts").glob("fsdp_qlora_shards-*.json")))
}
LORA = {"adapter": "lora", "lora_r": 3, "lora_alpha": 6, "lora_target_modules": ["q_proj", "v_proj"]}


def _model(tmp_path, **dims):
    from transformers import AutoConfig

    out = tmp_path / "model"
    AutoConfig.for_model("llama", **{**FACTS["config"], **dims}).save_pretrained(out)
    return out


def _memory(tmp_path, yaml: dict, devices: tuple[int, ...] = (2, 4, 8)) -> StaticMemory:
    result = compile_document({"base_model": str(_model(tmp_path)), **yaml}, Options(offline=True, devices=devices))
    assert result.report is not None, [f.message for f in result.findings]
    return result.report.static_memory


@needs_modern_stack
@pytest.mark.parametrize("case", sorted(FACTS["cases"]), ids=str)
def test_fsdp2_per_device_bytes_are_what_rank_0_holds_after_one_step(case, tmp_path):
    fact = FACTS["cases"][case]
    memory = _memory(tmp_path, fact["yaml"], (fact["devices"],))
    (row,) = memory.per_device
    rank0 = fact["rank0"]
    assert memory.sharding.by == "FSDP2" and memory.sharding.exact
    assert (row.base_weights + row.trainable, row.trainable, row.gradients, row.optimizer_state) == (
        rank0["params"],
        rank0["trainable"],
        rank0["gradients"],
        rank0["optimizer_state"],
    ), (case, FACTS["torch"])
    assert row.on_device == rank0["params"] + rank0["gradients"] + rank0["optimizer_state"] and row.on_host == 0


@needs_modern_stack
def test_offloaded_parameters_are_counted_in_host_memory_not_on_the_device(tmp_path):
    memory = _memory(tmp_path, {**LORA, "fsdp_version": 2, "fsdp_config": {"offload_params": True}}, (2,))
    (row,) = memory.per_device
    assert row.on_device == 0 and row.on_host == sum(
        getattr(row, p) for p in ("base_weights", "trainable", "gradients", "optimizer_state")
    )


@needs_modern_stack
@pytest.mark.parametrize(
    "release,case", [(r, c) for r, f in sorted(QUANTISED.items()) for c in sorted(f["cases"])], ids=str
)
def test_quantised_fsdp2_shards_are_what_rank_0_holds_under_axolotls_patches(release, case, tmp_path):
    """scripts/fsdp_qlora_shards.py: the real Axolotl loads, patches FSDP2 for bitsandbytes and shards on the CPU."""
    fact = QUANTISED[release]["cases"][case]
    from transformers import AutoConfig

    AutoConfig.for_model(fact["model_type"], **fact["config"]).save_pretrained(tmp_path / "q")
    result = compile_document(
        {
            "base_model": str(tmp_path / "q"),
            "lora_r": 4,
            "lora_alpha": 8,
            "lora_target_modules": ["q_proj", "v_proj"],
            **fact["yaml"],
        },
        Options(offline=True, axolotl=release, devices=(fact["devices"],)),
    )
    (row,) = result.report.static_memory.per_device
    rank0 = fact["rank0"]
    assert (row.base_weights + row.trainable, row.trainable) == (
        rank0["params"] + rank0["quant_states"],
        rank0["trainable"],
    ), (release, case)


@needs_modern_stack
def test_quantised_weights_under_deepspeed_zero3_are_said_to_be_unknown(tmp_path):
    memory = _memory(
        tmp_path,
        {**LORA, "adapter": "qlora", "load_in_4bit": True, "deepspeed": {"zero_optimization": {"stage": 3}}},
        (2,),
    )
    assert memory.per_device[0].base_weights is None and memory.per_device[0].on_device is None
    assert any("quantised base weights shard is not modelled" in n for n in memory.notes)


@needs_modern_stack
def test_factored_optimizer_state_over_shards_is_not_guessed(tmp_path):
    memory = _memory(
        tmp_path,
        {**LORA, "optimizer": "adafactor", "fsdp_version": 2, "fsdp_config": {"reshard_after_forward": True}},
        (2,),
    )
    assert memory.optimizer_state is not None and memory.per_device[0].optimizer_state is None


@needs_modern_stack
def test_deepspeed_zero_partitions_state_by_stage_and_keeps_a_float32_master_copy(tmp_path):
    config = tmp_path / "ds.json"
    config.write_text(json.dumps({"zero_optimization": {"stage": 1}}))
    one = _memory(tmp_path, {**LORA, "deepspeed": str(config)}, (4,))
    config.write_text(json.dumps({"zero_optimization": {"stage": 3, "offload_param": {"device": "cpu"}}}))
    three = _memory(tmp_path, {**LORA, "deepspeed": str(config)}, (4,))
    (r1,), (r3,) = one.per_device, three.per_device
    assert (one.sharding.by, three.sharding.by) == ("DeepSpeed ZeRO-1", "DeepSpeed ZeRO-3")
    assert r1.base_weights == one.base_weights and r1.gradients == one.gradients  # replicated at stage 1
    assert r1.master_weights == one.trainable // 4  # float32 LoRA tensors whose sizes 4 divides
    assert r3.base_weights < three.base_weights and r3.gradients == three.gradients // 4
    assert r3.on_host == r3.base_weights + r3.trainable and not one.sharding.exact


@needs_modern_stack
@pytest.mark.parametrize("case", sorted(DEEPSPEED["cases"]), ids=str)
def test_zero_optimizer_master_and_parameter_partitions_are_what_rank_0_holds(case, tmp_path):
    """scripts/deepspeed_shards.py: DeepSpeed's own ZeRO stages 1-3 on CPU ranks, padding included (odd sizes)."""
    fact = DEEPSPEED["cases"][case]
    from transformers import AutoConfig

    AutoConfig.for_model("llama", **DEEPSPEED["config"]).save_pretrained(tmp_path / "m")
    result = compile_document(
        {"base_model": str(tmp_path / "m"), **fact["yaml"]}, Options(offline=True, devices=(fact["devices"],))
    )
    (row,) = result.report.static_memory.per_device
    rank0 = fact["rank0"]
    assert (row.optimizer_state, row.master_weights) == (rank0["optimizer_state"], rank0["master_weights"]), (
        case,
        DEEPSPEED["deepspeed"],
    )
    if rank0["partitions"] is not None:
        assert row.base_weights + row.trainable == rank0["partitions"], case


def test_deepspeed_plans_come_from_the_file_the_shipped_name_or_say_what_is_missing(tmp_path):
    assert plan({"deepspeed": "deepspeed_configs/zero2.json"}, tmp_path).offloaded == (
        "optimizer_state",
        "master_weights",
    )  # Axolotl's zero2.json offloads the optimizer to cpu
    (tmp_path / "deepspeed_configs").mkdir()
    (tmp_path / "deepspeed_configs" / "zero2.json").write_text('{"zero_optimization": {"stage": 2}}')
    local = plan({"deepspeed": "deepspeed_configs/zero2.json"}, tmp_path)
    assert local.by == "DeepSpeed ZeRO-2" and local.offloaded == () and "as Axolotl ships it" not in local.source
    missing = plan({"deepspeed": "mine/ds.json"}, tmp_path)
    assert missing.sharded == () and "not found" in missing.note
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert "not DeepSpeed JSON" in plan({"deepspeed": "bad.json"}, tmp_path).note
    assert plan({"deepspeed": {"zero_optimization": {"stage": 5}}}, None).note.endswith("is not 0-3")


def test_fsdp1_strategies_are_read_from_fsdp_config_or_the_legacy_list():
    assert plan({"fsdp_config": {"fsdp_sharding_strategy": "SHARD_GRAD_OP"}}, None).by == "FSDP1 SHARD_GRAD_OP"
    assert plan({"fsdp": ["full_shard", "auto_wrap", "offload"], "fsdp_config": {"x": 1}}, None).offloaded
    assert plan({"fsdp_config": {"sharding_strategy": "NO_SHARD"}}, None).sharded == ()
    assert "within a node" in plan({"fsdp_config": {"sharding_strategy": "HYBRID_SHARD"}}, None).note
    assert plan({"fsdp_config": {"fsdp_version": 2}}, None).exact and plan({"adapter": "lora"}, None) is None


def test_policy_devices_must_be_positive_counts(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.lora-compiler]\ndevices = [8, 16, 8]\n")
    assert Policy.from_file(pyproject).devices == (8, 16)
    pyproject.write_text("[tool.lora-compiler]\ndevices = [0]\n")
    with pytest.raises(PolicyError, match="device counts"):
        Policy.from_file(pyproject)


@needs_modern_stack
def test_devices_option_sets_the_counts_and_keys_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LORA_COMPILER_CACHE_DIR", str(tmp_path / "cache"))
    _model(tmp_path)
    yaml = tmp_path / "c.yml"
    yaml.write_text(
        "base_model: ./model\nadapter: lora\nlora_r: 3\nlora_alpha: 6\nlora_target_modules: [q_proj]\n"
        "fsdp_version: 2\nfsdp_config:\n  reshard_after_forward: true\n" + DATASETS_YAML
    )
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    counts = []
    for devices in (["--devices", "16"], ["--devices", "3", "--devices", "5"]):
        out = runner.invoke(cli, ["compile", str(yaml), "--offline", "--format", "json", *devices])
        assert out.exit_code == 0, out.output
        counts.append([r["devices"] for r in json.loads(out.stdout)["static_memory"]["per_device"]])
    assert counts == [[16], [3, 5]]
    bad = runner.invoke(cli, ["compile", str(yaml), "--offline", "--devices", "0"])
    assert bad.exit_code == 2


@needs_modern_stack
def test_the_summary_says_what_one_device_holds_or_which_part_is_not_modelled(tmp_path):
    from lora_compiler.render.markdown import verdict
    from lora_compiler.render.text import memory_text
    from lora_compiler.render.text import size_text as size

    fsdp = {**LORA, "fsdp_version": 2, "fsdp_config": {"reshard_after_forward": True}}
    memory = _memory(tmp_path, fsdp, (2, 8))
    rows = {r.devices: r.on_device for r in memory.per_device}
    assert memory_text(memory).endswith(
        f"per device under FSDP2 (fsdp_config, rank 0): 2 devices {size(rows[2])}, 8 devices {size(rows[8])}"
    )
    unknown = _memory(tmp_path, {**fsdp, "optimizer": "adafactor"}, (2,))
    assert memory_text(unknown).endswith("unknown (not modelled per device: optimizer state)")
    result = compile_document({"base_model": str(_model(tmp_path)), **fsdp}, Options(offline=True, devices=(8,)))
    assert verdict(result.report).endswith(f"{size(rows[8])} per device, 8 devices (FSDP2)")
