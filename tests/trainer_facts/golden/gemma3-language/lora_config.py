# PEFT LoraConfig: exported by lora-compiler 0.1.0 from gemma3-language.yml
# checked: trains the same 68 LoRA layer(s) as Axolotl would on google/gemma-3-4b-it

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=8,
    target_modules='model\\.language_model\\.layers\\.\\d+\\.self_attn\\.(q_proj|v_proj)',
    lora_alpha=16,
    lora_dropout=0.0,
)
