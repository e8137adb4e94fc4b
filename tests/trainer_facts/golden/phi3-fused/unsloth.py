# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from phi3-fused.yml
# checked: trains the same 64 LoRA layer(s) as Axolotl would on microsoft/Phi-3-mini-4k-instruct

from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name='microsoft/Phi-3-mini-4k-instruct',
    load_in_4bit=False,
    dtype=None,
)

model = FastLanguageModel.get_peft_model(
    model=model,
    r=8,
    target_modules='(.*\\.)?(o_proj|qkv_proj)',
    lora_alpha=16,
    lora_dropout=0.0,
    bias='none',
    use_rslora=False,
)
