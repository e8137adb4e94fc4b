# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from llama-3.2-1b-lora.yml
# checked: trains the same 112 LoRA layer(s) as Axolotl would on meta-llama/Llama-3.2-1B

from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name='meta-llama/Llama-3.2-1B',
    load_in_4bit=False,
    dtype=None,
)

model = FastLanguageModel.get_peft_model(
    model=model,
    r=16,
    target_modules='(.*\\.)?(down_proj|gate_proj|k_proj|o_proj|q_proj|up_proj|v_proj)',
    lora_alpha=32,
    lora_dropout=0.05,
    bias='none',
    use_rslora=False,
)
