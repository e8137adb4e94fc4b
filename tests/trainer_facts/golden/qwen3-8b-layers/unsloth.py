# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from qwen3-8b-layers.yml
# checked: trains the same 16 LoRA layer(s) as Axolotl would on Qwen/Qwen3-8B

from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name='Qwen/Qwen3-8B',
    load_in_4bit=False,
    dtype=None,
)

model = FastLanguageModel.get_peft_model(
    model=model,
    r=16,
    target_modules='(model\\.layers\\.0\\.self_attn\\.k_proj|model\\.layers\\.0\\.self_attn\\.o_proj|model\\.layers\\.0\\.self_attn\\.q_proj|model\\.layers\\.0\\.self_attn\\.v_proj|model\\.layers\\.1\\.self_attn\\.k_proj|model\\.layers\\.1\\.self_attn\\.o_proj|model\\.layers\\.1\\.self_attn\\.q_proj|model\\.layers\\.1\\.self_attn\\.v_proj|model\\.layers\\.2\\.self_attn\\.k_proj|model\\.layers\\.2\\.self_attn\\.o_proj|model\\.layers\\.2\\.self_attn\\.q_proj|model\\.layers\\.2\\.self_attn\\.v_proj|model\\.layers\\.3\\.self_attn\\.k_proj|model\\.layers\\.3\\.self_attn\\.o_proj|model\\.layers\\.3\\.self_attn\\.q_proj|model\\.layers\\.3\\.self_attn\\.v_proj)',
    lora_alpha=32,
    lora_dropout=0.0,
    bias='none',
    use_rslora=False,
)
