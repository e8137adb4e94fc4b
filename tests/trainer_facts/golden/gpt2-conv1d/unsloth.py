# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from gpt2-conv1d.yml
# checked: trains the same 36 LoRA layer(s) as Axolotl would on openai-community/gpt2

from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name='openai-community/gpt2',
    load_in_4bit=False,
    dtype=None,
)

model = FastLanguageModel.get_peft_model(
    model=model,
    r=8,
    target_modules='(.*\\.)?(c_attn|c_proj)',
    lora_alpha=16,
    lora_dropout=0.0,
    bias='none',
    use_rslora=False,
)
