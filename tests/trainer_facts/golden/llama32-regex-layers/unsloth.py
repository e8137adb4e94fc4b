# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from llama32-regex-layers.yml
# checked: trains the same 30 LoRA layer(s) as Axolotl would on meta-llama/Llama-3.2-1B

from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name='meta-llama/Llama-3.2-1B',
    load_in_4bit=False,
    dtype=None,
)

model = FastLanguageModel.get_peft_model(
    model=model,
    r=8,
    target_modules='(model\\.layers\\.1\\.self_attn\\.q_proj|model\\.layers\\.1\\.self_attn\\.v_proj|model\\.layers\\.10\\.self_attn\\.q_proj|model\\.layers\\.10\\.self_attn\\.v_proj|model\\.layers\\.11\\.self_attn\\.q_proj|model\\.layers\\.11\\.self_attn\\.v_proj|model\\.layers\\.12\\.self_attn\\.q_proj|model\\.layers\\.12\\.self_attn\\.v_proj|model\\.layers\\.13\\.self_attn\\.q_proj|model\\.layers\\.13\\.self_attn\\.v_proj|model\\.layers\\.14\\.self_attn\\.q_proj|model\\.layers\\.14\\.self_attn\\.v_proj|model\\.layers\\.15\\.self_attn\\.q_proj|model\\.layers\\.15\\.self_attn\\.v_proj|model\\.layers\\.2\\.self_attn\\.q_proj|model\\.layers\\.2\\.self_attn\\.v_proj|model\\.layers\\.3\\.self_attn\\.q_proj|model\\.layers\\.3\\.self_attn\\.v_proj|model\\.layers\\.4\\.self_attn\\.q_proj|model\\.layers\\.4\\.self_attn\\.v_proj|model\\.layers\\.5\\.self_attn\\.q_proj|model\\.layers\\.5\\.self_attn\\.v_proj|model\\.layers\\.6\\.self_attn\\.q_proj|model\\.layers\\.6\\.self_attn\\.v_proj|model\\.layers\\.7\\.self_attn\\.q_proj|model\\.layers\\.7\\.self_attn\\.v_proj|model\\.layers\\.8\\.self_attn\\.q_proj|model\\.layers\\.8\\.self_attn\\.v_proj|model\\.layers\\.9\\.self_attn\\.q_proj|model\\.layers\\.9\\.self_attn\\.v_proj)',
    lora_alpha=16,
    lora_dropout=0.0,
    bias='none',
    use_rslora=False,
)
