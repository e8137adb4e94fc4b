# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from gemma-3-4b-multimodal.yml
# checked: trains the same 400 LoRA layer(s) as Axolotl would on google/gemma-3-4b-it

from unsloth import FastVisionModel

model, tokenizer = FastVisionModel.from_pretrained(
    model_name='google/gemma-3-4b-it',
    load_in_4bit=False,
    dtype=None,
)

model = FastVisionModel.get_peft_model(
    model=model,
    r=16,
    target_modules='(.*\\.)?(down_proj|fc1|fc2|gate_proj|k_proj|o_proj|out_proj|q_proj|up_proj|v_proj)',
    lora_alpha=32,
    lora_dropout=0.0,
    bias='none',
    use_rslora=False,
)
