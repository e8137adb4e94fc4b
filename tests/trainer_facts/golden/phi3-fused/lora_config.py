# PEFT LoraConfig: exported by lora-compiler 0.1.0 from phi3-fused.yml
# checked: trains the same 64 LoRA layer(s) as Axolotl would on microsoft/Phi-3-mini-4k-instruct

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=8,
    target_modules=['o_proj', 'qkv_proj'],
    lora_alpha=16,
    lora_dropout=0.0,
)
