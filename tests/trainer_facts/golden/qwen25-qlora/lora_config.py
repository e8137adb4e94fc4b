# PEFT LoraConfig: exported by lora-compiler 0.1.0 from qwen25-qlora.yml
# checked: trains the same 196 LoRA layer(s) as Axolotl would on Qwen/Qwen2.5-7B

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=32,
    target_modules=['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'],
    lora_alpha=16,
    lora_dropout=0.05,
)
