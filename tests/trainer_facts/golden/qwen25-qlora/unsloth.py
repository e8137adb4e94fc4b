# Unsloth 2026.10.9 (get_peft_model): exported by lora-compiler 0.1.0 from qwen25-qlora.yml
# checked: trains the same 196 LoRA layer(s) as Axolotl would on Qwen/Qwen2.5-7B

import torch
from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name='Qwen/Qwen2.5-7B',
    load_in_4bit=True,
    dtype=torch.bfloat16,
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
