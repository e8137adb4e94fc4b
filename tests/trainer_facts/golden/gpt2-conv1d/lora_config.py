# PEFT LoraConfig: exported by lora-compiler 0.1.0 from gpt2-conv1d.yml
# checked: trains the same 36 LoRA layer(s) as Axolotl would on openai-community/gpt2

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=8,
    target_modules=['c_attn', 'c_proj'],
    lora_alpha=16,
    lora_dropout=0.0,
)
