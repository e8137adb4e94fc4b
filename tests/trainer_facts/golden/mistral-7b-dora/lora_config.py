# PEFT LoraConfig: exported by lora-compiler 0.1.0 from mistral-7b-dora.yml
# checked: trains the same 64 LoRA layer(s) as Axolotl would on mistralai/Mistral-7B-v0.1

from peft import LoraConfig

lora_config = LoraConfig(
    task_type='CAUSAL_LM',
    r=8,
    target_modules=['q_proj', 'v_proj'],
    lora_alpha=16,
    lora_dropout=0.0,
    use_dora=True,
)
