# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from gemma2-linear.yml
# checked: trains the same 294 LoRA layer(s) as Axolotl would on google/gemma-2-9b

from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name='google/gemma-2-9b',
    load_in_4bit=False,
    dtype=None,
)

model = FastLanguageModel.get_peft_model(
    model=model,
    r=16,
    target_modules='(.*\\.)?(down_proj|gate_proj|k_proj|o_proj|q_proj|up_proj|v_proj)',
    lora_alpha=32,
    lora_dropout=0.0,
    bias='none',
    use_rslora=False,
)
