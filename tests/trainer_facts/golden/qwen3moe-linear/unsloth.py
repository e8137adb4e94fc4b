# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from qwen3moe-linear.yml
# checked: trains the same 192 LoRA layer(s) as Axolotl would on Qwen/Qwen3-30B-A3B

from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name='Qwen/Qwen3-30B-A3B',
    load_in_4bit=False,
    dtype=None,
)

model = FastLanguageModel.get_peft_model(
    model=model,
    r=8,
    target_modules='(.*\\.)?(k_proj|o_proj|q_proj|v_proj)',
    lora_alpha=16,
    lora_dropout=0.0,
    bias='none',
    use_rslora=False,
)
