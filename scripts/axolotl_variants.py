"""Write the variant configs the differential against the real Axolotl runs (tests/axolotl_variants/).

Each variant is a small Axolotl YAML on a bundled model that probes one thing the compiler must
answer as Axolotl 0.19 does: post-load freezing patterns and ranges, freeze_mm_modules, every
start-up validator (refused and accepted near misses), keys Axolotl drops (nested keys at the top
level, typos inside blocks, lora_exclude_modules), trainable tokens and modules_to_save.

    python scripts/axolotl_variants.py [OUTDIR]      # default: tests/axolotl_variants

The files are committed; tests/facts/test_axolotl_facts.py compiles each and compares with the answers
the real Axolotl gave (tests/axolotl_facts/axolotl-0.19.0.json, made by scripts/axolotl_differential.sh).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

LLAMA = "meta-llama/Llama-3.2-1B"
GEMMA3 = "google/gemma-3-4b-it"
QWEN = "Qwen/Qwen2.5-7B"
MIXTRAL = "mistralai/Mixtral-8x7B-v0.1"
TRAINING = {
    "datasets": [{"path": "mhenrichsen/alpaca_2k_test", "type": "alpaca"}],
    "micro_batch_size": 1,
    "gradient_accumulation_steps": 1,
    "num_epochs": 1,
    "learning_rate": 0.0002,
    "sequence_len": 512,
}


def base(model: str = LLAMA, **keys: object) -> dict[str, object]:
    cfg: dict[str, object] = {"base_model": model, "adapter": "lora", "lora_r": 8, "lora_alpha": 16}
    cfg.update(keys)
    return cfg


def variants() -> dict[str, dict[str, object]]:
    v: dict[str, dict[str, object]] = {}
    linear = {"lora_target_linear": True}
    # post-load freezing: unfrozen_parameters (Axolotl's LayerNamePattern) on the PEFT-wrapped model
    patterns = {
        "bare-model-name": ["^model.layers.*"],
        "peft-prefix-lora": ["base_model.model.+lora_"],
        "dotstar-lora": [".*lora_.*"],
        "dotplus-lora": [".+lora_"],
        "lora-a-only": [".+lora_A"],
        "attention-lora": [".+self_attn.+lora_"],
        "mlp-lora": [".+mlp.+lora_"],
        "layer-0-prefix": ["base_model.model.model.layers.0.+lora_"],
        "layer-1-prefix-also-10-15": ["base_model.model.model.layers.1.+lora_"],
        "embed-full": ["base_model.model.model.embed_tokens.weight"],
        "embed-range": [".+lora_", "base_model.model.model.embed_tokens.weight$[:32]"],
        "embed-two-ranges": [
            ".+lora_",
            "base_model.model.model.embed_tokens.weight$[:32]",
            "base_model.model.model.embed_tokens.weight$[100:164]",
        ],
        "embed-single-row": [".+lora_", "base_model.model.model.embed_tokens.weight$[5]"],
        "embed-open-range": [".+lora_", "base_model.model.model.embed_tokens.weight$[128000:]"],
        "range-empty": [".+lora_", "base_model.model.model.embed_tokens.weight$[9:3]"],
        "range-past-rows": [".+lora_", "base_model.model.model.embed_tokens.weight$[:200000]"],
        "norms": [".+lora_", ".+norm.weight"],
        "nothing-matches": ["lm_head"],
        "escaped-dot": ["base_model\\.model.+lora_"],
        "bad-regex": [".+lora_(", "x"],
        "mixed-one-unmatched": [".+lora_", "^model.embed_tokens"],
        "everything": [".+"],
        "lora-b-dotplus": [".+lora_B.+"],
    }
    for name, pats in patterns.items():
        v[f"unfrozen-{name}"] = base(**linear, unfrozen_parameters=pats)
    v["unfrozen-q-only-targets"] = base(
        lora_target_modules=["q_proj", "v_proj"], unfrozen_parameters=[".+q_proj.+lora_"]
    )
    v["unfrozen-with-modules-to-save"] = base(
        **linear, lora_modules_to_save=["embed_tokens", "lm_head"], unfrozen_parameters=[".+lora_"]
    )
    v["unfrozen-modules-to-save-kept"] = base(
        **linear,
        lora_modules_to_save=["embed_tokens", "lm_head"],
        unfrozen_parameters=[".+lora_", ".+modules_to_save.+"],
    )
    v["unfrozen-dpo"] = base(**linear, rl="dpo", unfrozen_parameters=["^model.layers.0.+"])
    v["unfrozen-qwen-lora"] = base(QWEN, **linear, unfrozen_parameters=[".+lora_"])
    v["unfrozen-qwen-bare"] = base(QWEN, **linear, unfrozen_parameters=["model.layers.+"])
    for pats, name in (
        (["^model.language_model.*", "^lm_head.*"], "gemma-example-patterns"),
        ([".+language_model.+lora_"], "gemma-language-lora"),
        ([".+vision_tower.+lora_"], "gemma-vision-lora"),
    ):
        v[f"unfrozen-{name}"] = base(GEMMA3, **linear, unfrozen_parameters=pats)
    # freeze_mm_modules
    v["freeze-mm-linear"] = base(GEMMA3, **linear, freeze_mm_modules=True)
    v["freeze-mm-language-only"] = base(
        GEMMA3, lora_target_modules=".*language_model.*\\.(q_proj|v_proj)", freeze_mm_modules=True
    )
    v["freeze-mm-off"] = base(GEMMA3, **linear, freeze_mm_modules=False)
    v["freeze-mm-with-unfrozen"] = base(GEMMA3, **linear, freeze_mm_modules=True, unfrozen_parameters=[".+lora_"])
    v["freeze-mm-text-model"] = base(**linear, freeze_mm_modules=True)
    v["freeze-mm-projector-target"] = base(
        GEMMA3, lora_target_modules=[".*multi_modal_projector.*"], freeze_mm_modules=True
    )
    # start-up validators: refused, then accepted near misses
    refused = {
        "lr-groups-loraplus": dict(
            **linear, lr_groups=[{"name": "a", "modules": ["self_attn"], "lr": 0.0001}], loraplus_lr_ratio=16
        ),
        "unfrozen-with-layers": dict(**linear, peft_layers_to_transform=[0, 1], unfrozen_parameters=[".+lora_"]),
        "fused-mlp": dict(**linear, flash_attn_fuse_mlp=True),
        "onebitllms": dict(**linear, use_onebitllms=True),
        "kernels-8bit": dict(**linear, load_in_8bit=True, lora_mlp_kernel=True),
        "kernels-8bit-qkv": dict(**linear, load_in_8bit=True, lora_qkv_kernel=True),
        "kernels-remote-code": dict(**linear, trust_remote_code=True, lora_o_kernel=True),
        "quantize-moe-linear": dict(**linear, load_in_4bit=True, quantize_moe_experts=True),
        "quantize-moe-no-bits": dict(lora_target_modules=["q_proj"], quantize_moe_experts=True),
        "reentrant-unfrozen": dict(
            **linear,
            unfrozen_parameters=[".+lora_"],
            gradient_checkpointing=True,
            gradient_checkpointing_kwargs={"use_reentrant": True},
        ),
        "ple-no-bits": dict(**linear, ple_cpu_offload=True),
        "ple-deepspeed": dict(**linear, ple_cpu_offload=True, load_in_8bit=True, deepspeed="zero2.json"),
        "quant-config-bnb": dict(**linear, model_quantization_config="Mxfp4Config", load_in_8bit=True),
        "qat-4bit": dict(**linear, qat={"weight_dtype": "int8"}, load_in_4bit=True),
        "relora-no-steps": dict(**linear, relora=True),
        "relora-one-cycle": dict(**linear, relora=True, jagged_restart_steps=100, lr_scheduler="one_cycle"),
        "deepspeed-fsdp": dict(**linear, deepspeed="zero2.json", fsdp=["full_shard"]),
        "unsloth-lora-mlp": dict(**linear, unsloth_lora_mlp=True),
        "unsloth-rope": dict(**linear, unsloth_rope=True),
        "qlora-without-4bit": dict(**linear, adapter="qlora"),
        "qlora-8bit": dict(**linear, adapter="qlora", load_in_8bit=True),
        "qlora-merge-4bit": dict(**linear, adapter="qlora", load_in_4bit=True, merge_lora=True),
        "4bit-no-adapter": dict(**linear, adapter=None, load_in_4bit=True),
        "target-parameters-dropout": dict(
            lora_target_modules=["q_proj"], lora_target_parameters=["mlp.experts.gate_up_proj"], lora_dropout=0.05
        ),
        "layers-pattern-alone": dict(**linear, peft_layers_pattern="layers"),
        "bad-target-regex": dict(lora_target_modules=["q_proj", "(v_proj"]),
    }
    for name, keys in refused.items():
        model = MIXTRAL if name.startswith("quantize-moe") or name == "target-parameters-dropout" else LLAMA
        v[f"refused-{name}"] = {k: x for k, x in base(model, **keys).items() if x is not None}
    accepted = {
        "loraplus-alone": dict(**linear, loraplus_lr_ratio=16),
        "lr-groups-alone": dict(**linear, lr_groups=[{"name": "a", "modules": ["self_attn"], "lr": 0.0001}]),
        "layers-without-unfrozen": dict(**linear, peft_layers_to_transform=[0, 1]),
        "kernels-4bit-lora": dict(**linear, load_in_4bit=True, lora_mlp_kernel=True),
        "kernels-8bit-embedding-only": dict(**linear, load_in_8bit=True, lora_embedding_kernel=True),
        "kernels-remote-code-false": dict(**linear, trust_remote_code=True, lora_mlp_kernel=False),
        "quantize-moe-parameters": dict(lora_target_modules=["q_proj"], load_in_4bit=True, quantize_moe_experts=True),
        "non-reentrant-unfrozen": dict(
            **linear,
            unfrozen_parameters=[".+lora_"],
            gradient_checkpointing=True,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        ),
        "ple-lora-8bit": dict(**linear, ple_cpu_offload=True, load_in_8bit=True),
        "relora-ok": dict(**linear, relora=True, jagged_restart_steps=100),
        "deepspeed-alone": dict(**linear, deepspeed="zero2.json"),
        "qlora-4bit": dict(**linear, adapter="qlora", load_in_4bit=True),
        "qlora-merge": dict(**linear, adapter="qlora", merge_lora=True),
        "target-parameters-no-dropout": dict(
            lora_target_modules=["q_proj"], lora_target_parameters=["mlp.experts.gate_up_proj"], lora_dropout=0.0
        ),
        "layers-pattern-with-indices": dict(**linear, peft_layers_pattern="layers", peft_layers_to_transform=[0]),
        "dora-qlora": dict(**linear, adapter="qlora", load_in_4bit=True, peft_use_dora=True),
        "rslora": dict(**linear, peft_use_rslora=True),
    }
    for name, keys in accepted.items():
        model = MIXTRAL if name.startswith(("quantize-moe", "target-parameters")) else LLAMA
        v[f"accepted-{name}"] = base(model, **keys)
    # keys Axolotl drops
    dropped = {
        "top-level-loftq-bits": dict(**linear, loftq_bits=4),
        "loftq-bit-typo": dict(**linear, peft={"loftq_config": {"loftq_bit": 4}}),
        "target-modules-typo": dict(lora_target_modules=["q_proj"], lora_targt_modules=["k_proj", "v_proj"]),
        "dora-typo": dict(**linear, peft_dora=True),
        "gptq-groupsize": dict(**linear, gptq_groupsize=128),
        "fsdp-sharding-strategy": dict(**linear, fsdp_config={"sharding_strategy": "FULL_SHARD"}),
        "dataset-key-typo": dict(**linear, datasets=[{"path": "mhenrichsen/alpaca_2k_test", "typ": "alpaca"}]),
        "plugin-key-without-plugin": dict(**linear, liger_rope=True),
        "rank-pattern-typo": dict(**linear, lora_rank_patern={"q_proj": 16}),
        "modules-to-save-typo": dict(**linear, lora_module_to_save=["lm_head"]),
    }
    for name, keys in dropped.items():
        v[f"dropped-{name}"] = base(**keys)
    for name, keys in {"lm-head": ["lm_head"], "q-proj": ["q_proj"], "regex": ".*mlp.*", "nothing": ["nope"]}.items():
        v[f"exclude-{name}"] = base(**linear, lora_exclude_modules=keys)
    v["exclude-pythia-output"] = base("EleutherAI/pythia-1.4b", **linear, lora_exclude_modules=["lm_head"])
    # what PEFT trains beside LoRA
    v["tokens-list"] = base(**linear, peft_trainable_token_indices=[0, 1, 2])
    v["tokens-tied"] = base(**linear, peft_trainable_token_indices=[0, 1, 2], peft_ensure_weight_tying=True)
    v["tokens-dict"] = base(**linear, peft_trainable_token_indices={"embed_tokens": [5, 6]})
    v["save-embed-lm-head"] = base(**linear, lora_modules_to_save=["embed_tokens", "lm_head"])
    v["save-embed-lm-head-tied"] = base(
        **linear, lora_modules_to_save=["embed_tokens", "lm_head"], peft_ensure_weight_tying=True
    )
    v["save-lm-head-qwen"] = base(QWEN, **linear, lora_modules_to_save=["lm_head"])
    v["save-embed-qwen-tied-flag"] = base(
        QWEN, **linear, lora_modules_to_save=["embed_tokens", "lm_head"], peft_ensure_weight_tying=True
    )
    # rank/alpha and layer selection (counts)
    for r in (1, 4, 16, 64, 256):
        v[f"rank-{r}"] = base(**linear, lora_r=r, lora_alpha=2 * r)
    v["rank-pattern"] = base(**linear, lora_rank_pattern={"q_proj": 32}, lora_alpha_pattern={"v_proj": 64})
    v["layers-0-3"] = base(**linear, peft_layers_to_transform=[0, 1, 2, 3])
    v["dora"] = base(**linear, peft_use_dora=True)
    v["targets-attention"] = base(lora_target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    v["targets-plus-linear"] = base(**linear, lora_target_modules=["embed_tokens"])
    v["gpt2-linear"] = base("openai-community/gpt2", **linear)
    v["phi3-linear"] = base("microsoft/Phi-3-mini-4k-instruct", **linear)
    v["mixtral-linear"] = base(MIXTRAL, **linear)
    v["falcon-linear"] = base("tiiuae/falcon-7b", **linear)
    v["starcoder2-linear"] = base("bigcode/starcoder2-3b", **linear)
    v["gemma2-linear"] = base("google/gemma-2-9b", **linear)
    v["qwen3-linear"] = base("Qwen/Qwen3-8B", **linear)
    v["pythia-linear"] = base("EleutherAI/pythia-1.4b", **linear)
    # the same freezing rules on other architectures (name layouts differ: transformer.h, gpt_neox.layers, ...)
    others = {
        "mixtral": MIXTRAL,
        "qwen3": "Qwen/Qwen3-8B",
        "phi3": "microsoft/Phi-3-mini-4k-instruct",
        "gemma2": "google/gemma-2-9b",
        "starcoder2": "bigcode/starcoder2-3b",
        "falcon": "tiiuae/falcon-7b",
        "gpt2": "openai-community/gpt2",
        "pythia": "EleutherAI/pythia-1.4b",
    }
    for short, model in others.items():
        v[f"unfrozen-{short}-lora"] = base(model, **linear, unfrozen_parameters=[".+lora_"])
        v[f"unfrozen-{short}-layer-0"] = base(
            model, **linear, unfrozen_parameters=["base_model.model.+layers.0.+", "base_model.model.+h.0.+"]
        )
    v["refused-early-stopping-no-eval"] = base(**linear, early_stopping_patience=3, save_steps=100)
    v["refused-early-stopping-not-dividing"] = base(**linear, early_stopping_patience=3, save_steps=100, eval_steps=30)
    v["accepted-early-stopping"] = base(**linear, early_stopping_patience=3, save_steps=100, eval_steps=50)
    v["accepted-target-regex-list"] = base(lora_target_modules=["q_proj", ".*v_proj"])
    v["refused-target-regex-bracket"] = base(lora_target_modules=["[q_proj"])
    v["refused-qlora-merge-8bit"] = base(**linear, adapter="qlora", load_in_8bit=True, merge_lora=True)
    v["refused-qlora-gptq"] = base(**linear, adapter="qlora", gptq=True)
    v["accepted-fsdp-config-deepspeed"] = base(**linear, deepspeed="zero2.json", fsdp_config={"offload_params": True})
    v["freeze-mm-gemma-save-embed"] = base(
        GEMMA3, **linear, freeze_mm_modules=True, lora_modules_to_save=["embed_tokens"]
    )
    v["unfrozen-gemma-embed-range"] = base(
        GEMMA3,
        **linear,
        unfrozen_parameters=[".+lora_", "base_model.model.model.language_model.embed_tokens.weight$[:64]"],
    )
    v["freeze-mm-gemma-unfrozen-tower"] = base(
        GEMMA3, **linear, freeze_mm_modules=True, unfrozen_parameters=[".+vision_tower.+"]
    )
    v["tokens-qwen"] = base(QWEN, **linear, peft_trainable_token_indices=[0, 1])
    v["tokens-gemma2"] = base("google/gemma-2-9b", **linear, peft_trainable_token_indices=[3])
    v["save-gemma3-lm-head"] = base(
        GEMMA3, lora_target_modules=[".*language_model.*\\.q_proj"], lora_modules_to_save=["lm_head"]
    )
    v["mixtral-experts-and-linear"] = base(MIXTRAL, **linear, lora_target_modules=["gate"])
    v["qwen3-moe-linear"] = base("Qwen/Qwen3-30B-A3B", **linear)
    v["qwen3-moe-parameters"] = base(
        "Qwen/Qwen3-30B-A3B",
        lora_target_modules=["q_proj"],
        lora_target_parameters=["mlp.experts.gate_up_proj"],
        lora_dropout=0.0,
    )
    v["gpt-oss-linear"] = base("openai/gpt-oss-20b", **linear)
    # data-dependent initialisations: PEFT runs them while wrapping (fused experts have no .weight)
    for init in ("pissa", "olora", "gaussian", "corda"):
        v[f"init-{init}-llama"] = base(**linear, peft_init_lora_weights=init)
        v[f"init-{init}-mixtral-experts"] = base(
            MIXTRAL,
            lora_target_modules=["q_proj", "v_proj", "w1", "w2", "w3"],
            lora_dropout=0.0,
            peft_init_lora_weights=init,
        )
    v["init-pissa-qwen3-moe-attention"] = base(
        "Qwen/Qwen3-30B-A3B", lora_target_modules=["q_proj", "v_proj"], peft_init_lora_weights="pissa"
    )
    # the shape of the gemma3 examples' freezing (qlora, patterns written for the bare model's names)
    for short in ("1b", "270m"):
        v[f"unfrozen-gemma3-{short}-bare-patterns"] = base(
            f"google/gemma-3-{short}-it",
            adapter="qlora",
            load_in_4bit=True,
            lora_r=32,
            lora_dropout=0,
            **linear,
            unfrozen_parameters=["^model.language_model.*", "^lm_head.*"],
        )
        v[f"unfrozen-gemma3-{short}-peft-patterns"] = base(
            f"google/gemma-3-{short}-it",
            adapter="qlora",
            load_in_4bit=True,
            lora_r=32,
            lora_dropout=0,
            **linear,
            unfrozen_parameters=["base_model.model.model.+lora_"],
        )
    v.update(release_differences(linear))
    return v


def release_differences(linear: dict[str, object]) -> dict[str, dict[str, object]]:
    """One variant per 0.19 -> 0.20/0.21 difference (docs/axolotl-releases.md), with near misses both accept."""
    qwen_moe = "Qwen/Qwen3-30B-A3B"
    fsdp2 = {"fsdp_version": 2, "offload_params": True}
    return {
        "release-fsdp-list": base(**linear, fsdp=["full_shard"], fsdp_config=fsdp2),
        "release-fsdp-version-1": base(**linear, fsdp_config={"fsdp_version": 1}),
        "release-fsdp-prefixed-sharding": base(**linear, fsdp_config={**fsdp2, "fsdp_sharding_strategy": "FULL_SHARD"}),
        "release-fsdp-forward-prefetch": base(**linear, fsdp_config={**fsdp2, "forward_prefetch": True}),
        "release-fsdp2-accepted": base(**linear, fsdp_config=fsdp2),
        "release-fsdp2-ignored-key": base(**linear, fsdp_config={**fsdp2, "use_orig_params": True}),
        "release-fsdp2-deepspeed": base(**linear, deepspeed="zero2.json", fsdp_config=fsdp2),
        "release-target-parameters-olora": base(
            qwen_moe,
            lora_target_modules=["q_proj"],
            lora_dropout=0.0,
            lora_target_parameters=["mlp.experts.gate_up_proj"],
            peft_init_lora_weights="olora",
        ),
        "release-target-parameters-gaussian": base(
            qwen_moe,
            lora_target_modules=["q_proj"],
            lora_dropout=0.0,
            lora_target_parameters=["mlp.experts.gate_up_proj"],
            peft_init_lora_weights="gaussian",
        ),
        "release-target-parameters-loftq": base(
            qwen_moe,
            lora_target_modules=["q_proj"],
            lora_dropout=0.0,
            lora_target_parameters=["mlp.experts.gate_up_proj"],
            peft={"loftq_config": {"loftq_bits": 4}},
        ),
        "release-staged-nf4-modules-to-save": base(
            **linear,
            adapter="qlora",
            load_in_4bit=True,
            lora_modules_to_save=["embed_tokens", "lm_head"],
            fsdp_config={"fsdp_version": 2, "cpu_ram_efficient_loading": True},
        ),
        "release-staged-nf4-unsharded": base(
            **linear,
            adapter="qlora",
            load_in_4bit=True,
            qlora_sharded_model_loading=False,
            fsdp_config={"fsdp_version": 2, "cpu_ram_efficient_loading": True},
        ),
        "release-bnb-blocksize": base(
            **linear, adapter="qlora", load_in_4bit=True, bnb_config_kwargs={"blocksize": 128}
        ),
        "release-mixlora-linear": base(
            **linear, adapter="mixlora", plugins=["axolotl.integrations.mixlora.MixLoraPlugin"]
        ),
        "release-mixlora-ffn-target": base(
            adapter="mixlora",
            lora_target_modules=["q_proj", "up_proj"],
            plugins=["axolotl.integrations.mixlora.MixLoraPlugin"],
        ),
        "release-pythia-linear-r16": base("EleutherAI/pythia-1.4b", **linear, lora_r=16),
        "release-tied-embedding-lora": base(
            lora_target_modules=["q_proj", "embed_tokens", "lm_head"], peft_ensure_weight_tying=True
        ),
        "release-tied-embedding-lora-untied-flag": base(lora_target_modules=["q_proj", "embed_tokens", "lm_head"]),
        "release-new-keys": base(**linear, nf4_backend="bitsandbytes", lora_fp32_gradients=True),
        "release-expert-parallel-unlisted": base(qwen_moe, lora_target_modules=["q_proj"], expert_parallel_size=8),
        "release-expert-parallel-full-state": base(
            qwen_moe,
            lora_target_modules=["q_proj"],
            expert_parallel_size=8,
            plugins=["axolotl.integrations.expert_parallel.ExpertParallelPlugin"],
            fsdp_config={**fsdp2, "state_dict_type": "FULL_STATE_DICT"},
        ),
        "release-key-type-warmup": base(**linear, warmup_steps=0.1),
        "release-key-type-output-dir": base(**linear, output_dir=None),
    }


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    written = variants()
    for old in out.glob("*.yml"):
        if old.stem not in written:
            old.unlink()
    for name, cfg in sorted(written.items()):
        (out / f"{name}.yml").write_text(
            yaml.safe_dump({**cfg, **{k: v for k, v in TRAINING.items() if k not in cfg}}, sort_keys=False),
            encoding="utf-8",
        )
    print(f"{len(written)} variants -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "tests" / "axolotl_variants")
