# PEFT LoraConfig: exported by lora-compiler 0.1.0 from qwen3-8b-layers.yml
# checked: trains the same 16 LoRA layer(s) as Axolotl would on Qwen/Qwen3-8B

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=16,
    target_modules=['k_proj', 'o_proj', 'q_proj', 'v_proj'],
    lora_alpha=32,
    lora_dropout=0.0,
    layers_to_transform=[0, 1, 2, 3],
    layers_pattern=['layers'],
)
