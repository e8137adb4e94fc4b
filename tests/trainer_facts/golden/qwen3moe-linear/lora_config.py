# PEFT LoraConfig: exported by lora-compiler 0.1.0 from qwen3moe-linear.yml
# checked: trains the same 192 LoRA layer(s) as Axolotl would on Qwen/Qwen3-30B-A3B

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=8,
    target_modules=['k_proj', 'o_proj', 'q_proj', 'v_proj'],
    lora_alpha=16,
    lora_dropout=0.0,
)
