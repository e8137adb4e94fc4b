# PEFT LoraConfig: exported by lora-compiler 0.1.0 from gemma2-linear.yml
# checked: trains the same 294 LoRA layer(s) as Axolotl would on google/gemma-2-9b

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=16,
    target_modules=['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'],
    lora_alpha=32,
    lora_dropout=0.0,
)
