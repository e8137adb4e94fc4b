# PEFT LoraConfig: exported by lora-compiler 0.1.0 from llama-3.1-8b-regex.yml
# checked: trains the same 40 LoRA layer(s) as Axolotl would on meta-llama/Llama-3.1-8B

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=8,
    target_modules='model\\.layers\\.1?\\d\\.self_attn\\.(q|v)_proj',
    lora_alpha=16,
    lora_dropout=0.0,
)
