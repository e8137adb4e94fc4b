# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from qwen2.5-7b-loftq.yml
# checked: trains the same 196 LoRA layer(s) as Axolotl would on Qwen/Qwen2.5-7B

from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name='Qwen/Qwen2.5-7B',
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
    init_lora_weights='loftq',
    loftq_config={'loftq_bits': 4, 'loftq_iter': 1},
)
