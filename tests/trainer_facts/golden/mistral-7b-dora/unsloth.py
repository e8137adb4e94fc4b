# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from mistral-7b-dora.yml
# checked: trains the same 64 LoRA layer(s) as Axolotl would on mistralai/Mistral-7B-v0.1

from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name='mistralai/Mistral-7B-v0.1',
    load_in_4bit=False,
    dtype=None,
)

model = FastLanguageModel.get_peft_model(
    model=model,
    r=8,
    target_modules='(.*\\.)?(q_proj|v_proj)',
    lora_alpha=16,
    lora_dropout=0.0,
    bias='none',
    use_rslora=False,
    use_dora=True,
)
