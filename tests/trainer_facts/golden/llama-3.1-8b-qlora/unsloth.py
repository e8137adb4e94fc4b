# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from llama-3.1-8b-qlora.yml
# checked: trains the same 224 LoRA layer(s) as Axolotl would on meta-llama/Llama-3.1-8B

from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name='meta-llama/Llama-3.1-8B',
    load_in_4bit=True,
    dtype=None,
)

model = FastLanguageModel.get_peft_model(
    model=model,
    r=32,
    target_modules='(.*\\.)?(down_proj|gate_proj|k_proj|o_proj|q_proj|up_proj|v_proj)',
    lora_alpha=16,
    lora_dropout=0.05,
    bias='none',
    use_rslora=False,
)
