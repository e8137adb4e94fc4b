# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from mixtral-experts.yml
# checked: trains the same 128 LoRA layer(s) as Axolotl would on mistralai/Mixtral-8x7B-v0.1

from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name='mistralai/Mixtral-8x7B-v0.1',
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
    target_parameters=['mlp.experts.gate_up_proj', 'mlp.experts.down_proj'],
)
