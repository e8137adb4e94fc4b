# PEFT LoraConfig: exported by lora-compiler 0.1.0 from qwen2.5-7b-loftq.yml
# checked: trains the same 196 LoRA layer(s) as Axolotl would on Qwen/Qwen2.5-7B

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=16,
    target_modules=['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'],
    lora_alpha=32,
    lora_dropout=0.0,
    init_lora_weights='loftq',
    loftq_config={'loftq_bits': 4, 'loftq_iter': 1},
)
