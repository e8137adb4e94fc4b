# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from llama32-mlp-partial.yml
# checked: trains the same 64 LoRA layer(s) as Axolotl would on meta-llama/Llama-3.2-1B

from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name='meta-llama/Llama-3.2-1B',
    load_in_4bit=False,
    dtype=None,
)

model = FastLanguageModel.get_peft_model(
    model=model,
    r=8,
    target_modules='(.*\\.)?(gate_proj|q_proj|up_proj|v_proj)',
    lora_alpha=16,
    lora_dropout=0.0,
    bias='none',
    use_rslora=False,
)
